// The invoke machine, run as the child of a tiny parent machine that collects what it reports
// (`invoke.settled`, by sendParent); time simulated.
export const group = 'invoke';

export async function define({ scenario, assert, machinesBase }) {
  const { createActor, setup, SimulatedClock } = await import('xstate');
  const { invokeMachine } = await import(`${machinesBase}/invoke.js`);

  const INPUT = { invokeId: 'inv-1', nodeId: 'node-1', nodeConnId: 'node-conn-1', command: 'system.run', timeoutMs: 5_000 };

  function start() {
    const clock = new SimulatedClock();
    const settled = [];
    const parent = setup({ actors: { invoke: invokeMachine } }).createMachine({
      id: 'parent',
      invoke: { id: 'inv-1', src: 'invoke', input: INPUT },
      on: { 'invoke.settled': { actions: ({ event }) => void settled.push(event) } },
    });
    const actor = createActor(parent, { clock }).start();
    const child = actor.getSnapshot().children['inv-1'];
    return {
      clock,
      settled,
      send: (event) => child.send(event),
      value: () => child.getSnapshot().value,
      status: () => child.getSnapshot().status,
    };
  }

  scenario('delivered, then answered: settles once with the payload', () => {
    const s = start();
    assert.equal(s.value(), { pending: 'requested' }, 'starts requested');
    s.send({ type: 'invoke.result', ok: true, payloadJSON: '{"early":true}' });
    assert.equal(s.value(), { pending: 'requested' }, 'a result before delivery is ignored');
    s.send({ type: 'invoke.delivered' });
    assert.equal(s.value(), { pending: 'sentToNode' }, 'delivered');
    s.send({ type: 'invoke.result', ok: true, payloadJSON: '{"stdout":"Linux"}' });
    assert.equal(s.status(), 'done', 'final');
    assert.equal(s.settled, [{ type: 'invoke.settled', invokeId: 'inv-1', outcome: { ok: true, payloadJSON: '{"stdout":"Linux"}' } }]);
    s.send({ type: 'node.disconnected' });
    s.clock.increment(10_000);
    assert.equal(s.settled.length, 1, 'settles exactly once');
  });

  scenario('a failure from the node settles as UNAVAILABLE with the node error', () => {
    const s = start();
    s.send({ type: 'invoke.delivered' });
    s.send({ type: 'invoke.result', ok: false, error: { code: 'EXEC_FAILED', message: 'exit code 1' } });
    assert.equal(s.value(), 'failed');
    assert.equal(s.settled[0].outcome, {
      ok: false,
      error: {
        code: 'UNAVAILABLE',
        message: 'EXEC_FAILED: exit code 1',
        details: { nodeError: { code: 'EXEC_FAILED', message: 'exit code 1' }, nodeCommandDispatched: true },
      },
    });
  });

  scenario('no answer: UNAVAILABLE "TIMEOUT: node invoke timed out" at timeoutMs, not before', () => {
    const s = start();
    s.send({ type: 'invoke.delivered' });
    s.clock.increment(4_999);
    assert.equal(s.settled, [], 'nothing before the timeout');
    s.clock.increment(1);
    assert.equal(s.value(), 'timedOut');
    assert.equal(s.settled, [
      {
        type: 'invoke.settled',
        invokeId: 'inv-1',
        outcome: {
          ok: false,
          error: {
            code: 'UNAVAILABLE',
            message: 'TIMEOUT: node invoke timed out',
            details: { nodeError: { code: 'TIMEOUT', message: 'node invoke timed out' }, nodeCommandDispatched: true },
          },
        },
      },
    ]);
    s.send({ type: 'invoke.result', ok: true });
    assert.equal(s.settled.length, 1, 'a late result changes nothing');
  });

  scenario('node gone: UNAVAILABLE at once, retryable, and the timer is dropped', () => {
    const s = start();
    s.send({ type: 'invoke.delivered' });
    s.send({ type: 'node.disconnected' });
    assert.equal(s.value(), 'failed');
    assert.equal(s.settled, [
      {
        type: 'invoke.settled',
        invokeId: 'inv-1',
        outcome: {
          ok: false,
          error: {
            code: 'UNAVAILABLE',
            message: 'DISCONNECTED: node disconnected (system.run)',
            details: { nodeError: { code: 'DISCONNECTED', message: 'node disconnected (system.run)' }, nodeCommandDispatched: true },
            retryable: true,
          },
        },
      },
    ]);
    s.clock.increment(5_000);
    assert.equal(s.settled.length, 1, 'no timeout after settling');
  });
}
