// What SIGINT/SIGTERM do to the process, with the gateway's close, the exit and the deadline faked.
import { describe, expect, it } from 'vitest';
import { signalHandler } from '../../src/cli/start.js';

function setup(close: (reason: string) => Promise<unknown>) {
  const exits: number[] = [];
  const lines: string[] = [];
  let deadline: { callback: () => void; ms: number } | undefined;
  const log = (level: string) => (_fields: unknown, msg: string) => void lines.push(`${level} ${msg}`);
  const handle = signalHandler({
    close,
    shutdownTimeoutMs: 5_000,
    logger: { info: log('info'), warn: log('warn'), error: log('error') } as never,
    exit: (code) => void exits.push(code),
    setDeadline: (callback, ms) => void (deadline = { callback, ms }),
  });
  return { handle, exits, lines, deadline: () => deadline };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('signals', () => {
  it('the first signal closes the gateway and exits 0 once it stopped', async () => {
    const reasons: string[] = [];
    const { handle, exits, deadline } = setup(async (reason) => void reasons.push(reason));
    handle('SIGTERM');
    expect(reasons).toEqual(['received SIGTERM']);
    expect(deadline()?.ms).toBe(5_000);
    await settle();
    expect(exits).toEqual([0]);
  });

  it('exits 1 at the deadline when the close hangs', async () => {
    const { handle, exits, lines, deadline } = setup(() => new Promise(() => {}));
    handle('SIGINT');
    await settle();
    expect(exits).toEqual([]);
    deadline()!.callback();
    expect(exits).toEqual([1]);
    expect(lines).toContain('error shutdown deadline passed: exiting');
  });

  it('exits 1 at once on a second signal, and 1 when the close fails', async () => {
    const hanging = setup(() => new Promise(() => {}));
    hanging.handle('SIGTERM');
    hanging.handle('SIGINT');
    expect(hanging.exits).toEqual([1]);

    const failing = setup(() => Promise.reject(new Error('boom')));
    failing.handle('SIGTERM');
    await settle();
    expect(failing.exits).toEqual([1]);
    expect(failing.lines).toContain('error shutdown failed');
  });
});
