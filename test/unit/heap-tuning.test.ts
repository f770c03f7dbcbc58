// The V8 setting `actorgate start` serves with (src/gateway/heap-tuning.ts): which flags, and that the start
// command applies them before the gateway is built. Their effect is measured in bench/ (request p99).
import { describe, expect, it, vi } from 'vitest';

const calls: string[] = [];
vi.mock('node:v8', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:v8')>();
  return { ...original, setFlagsFromString: (flags: string) => void calls.push(`v8 ${flags}`) };
});
vi.mock('../../src/gateway/create-gateway.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/gateway/create-gateway.js')>();
  return {
    ...original,
    createGateway: () => {
      calls.push('createGateway');
      throw new Error('not serving in this test');
    },
  };
});

const { HEAP_TUNING_FLAGS, tuneHeapForGateway } = await import('../../src/gateway/heap-tuning.js');
const { runStart } = await import('../../src/cli/start.js');
const { parseStartConfig } = await import('../../src/cli/config.js');

describe('heap tuning', () => {
  it('turns off allocation-site pretenuring, and only that', () => {
    const applied: string[] = [];
    tuneHeapForGateway((flags) => applied.push(flags));
    expect(applied).toEqual(['--no-allocation-site-pretenuring']);
    expect([...HEAP_TUNING_FLAGS]).toEqual(applied);
  });

  it('actorgate start applies it before it builds the gateway', async () => {
    calls.length = 0;
    const config = parseStartConfig(['--token', 'heap-tuning-test', '--log-level', 'silent'], {});
    await expect(runStart(config)).rejects.toThrow('not serving in this test');
    expect(calls).toEqual(['v8 --no-allocation-site-pretenuring', 'createGateway']);
  });
});
