// The runtime's invoke runner (src/supervisor/invokes.ts): invoke actors beside the supervisor, their
// settlements passed on, their cancels carried out, a failing one answered instead of left hanging.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { SupervisorEvent } from '../../machines/supervisor.js';
import { InvokeRunner } from '../../src/supervisor/invokes.js';

const input = (invokeId: string, timeoutMs = 1_000) => ({ invokeId, nodeId: 'node-1', nodeConnId: 'node-conn', command: 'system.run', timeoutMs });

function runner(tellNodeToCancel: (nodeConnId: string, cancel: unknown) => void = () => {}) {
  const clock = new SimulatedClock();
  const reported: SupervisorEvent[] = [];
  const failures: string[] = [];
  const invokes = new InvokeRunner({
    report: (event) => void reported.push(event),
    tellNodeToCancel,
    onActorError: (invokeId) => void failures.push(invokeId),
    clock,
  });
  return { clock, reported, failures, invokes };
}

describe('invoke runner', () => {
  it('passes a settlement on once and forgets the actor; signals to an ended invoke go nowhere', () => {
    const { reported, invokes } = runner();
    invokes.start(input('a'));
    invokes.signal('a', { type: 'invoke.delivered' });
    expect(invokes.size).toBe(1);
    invokes.signal('a', { type: 'invoke.result', ok: true, payloadJSON: '{}' });
    invokes.signal('a', { type: 'node.disconnected' });
    expect(reported).toEqual([{ type: 'invoke.settled', invokeId: 'a', outcome: { ok: true, payloadJSON: '{}' } }]);
    expect(invokes.size).toBe(0);
  });

  it('carries out the cancel of an invoke that times out, before its settlement', () => {
    const order: string[] = [];
    const { clock, reported, invokes } = runner((nodeConnId, cancel) => void order.push(`cancel ${nodeConnId} ${JSON.stringify(cancel)}`));
    invokes.start(input('a'));
    clock.increment(1_000);
    order.push(...reported.map((event) => event.type));
    expect(order).toEqual(['cancel node-conn {"invokeId":"a","nodeId":"node-1"}', 'invoke.settled']);
  });

  it('answers UNAVAILABLE for an invoke actor that fails, and logs it', () => {
    const { clock, reported, failures, invokes } = runner(() => {
      throw new Error('socket gone wrong');
    });
    invokes.start(input('a'));
    invokes.start(input('b', 5_000));
    clock.increment(1_000);
    expect(failures).toEqual(['a']);
    expect(reported).toEqual([{ type: 'invoke.settled', invokeId: 'a', outcome: { ok: false, error: { code: 'UNAVAILABLE', message: 'internal error' } } }]);
    // The others run on.
    invokes.signal('b', { type: 'invoke.delivered' });
    invokes.signal('b', { type: 'invoke.result', ok: true });
    expect(reported.at(-1)).toMatchObject({ type: 'invoke.settled', invokeId: 'b', outcome: { ok: true } });
    expect(invokes.size).toBe(0);
  });

  it('drops what still runs when stopped: no timer fires any more', () => {
    const { clock, reported, invokes } = runner();
    invokes.start(input('a'));
    invokes.stop();
    clock.increment(10_000);
    expect(reported).toEqual([]);
    expect(invokes.size).toBe(0);
  });
});
