// The supervisor's nodes, pairing and invokes, with real invoke actors run beside it as the runtime runs them
// (the supervisor emits invoke.start and invoke.signal; a host passes their invoke.settled back); time
// simulated, ids counted, emitted events collected.
export const group = 'supervisor nodes and pairing';

export async function define({ scenario, assert, machinesBase }) {
  const { createActor, fromTransition, SimulatedClock } = await import('xstate');
  const { supervisorMachine } = await import(`${machinesBase}/supervisor.js`);
  const { invokeMachine } = await import(`${machinesBase}/invoke.js`);

  /** Runs the invoke actors the supervisor asks for, on its clock, and reports what they settle; what they tell nodes is kept. */
  function runInvokes(supervisor, clock) {
    const invokes = new Map();
    const cancels = [];
    const host = createActor(
      fromTransition((state, event) => {
        if (event.type === 'invoke.settled') {
          invokes.delete(event.invokeId);
          supervisor.send(event);
        }
        return state;
      }, null),
      { clock },
    ).start();
    const machine = invokeMachine.provide({ actions: { tellNodeToCancel: (_, params) => void cancels.push(params) } });
    supervisor.on('invoke.start', ({ input }) => {
      const actor = createActor(machine, { id: input.invokeId, input, parent: host });
      invokes.set(input.invokeId, actor);
      actor.start();
    });
    supervisor.on('invoke.signal', ({ invokeId, event }) => invokes.get(invokeId)?.send(event));
    return { invokes, cancels };
  }
  const isInvokeTraffic = (event) => event.type === 'invoke.start' || event.type === 'invoke.signal';

  const T0 = 1_700_000_000_000;
  const TTL_MS = 60_000;
  const OPERATOR = { connId: 'op', requestId: 'op-req' };

  function start(input = {}) {
    const clock = new SimulatedClock();
    let lastId = 0;
    const actor = createActor(supervisorMachine, {
      clock,
      input: {
        self: { reason: 'self', ts: 0 },
        tickIntervalMs: 24 * 3_600_000,
        pairingRequestTtlMs: TTL_MS,
        now: () => T0 + clock.now(),
        createId: () => `id-${++lastId}`,
        ...input,
      },
    });
    const emitted = [];
    actor.on('*', (event) => emitted.push(event));
    // The runtime reports each pairing change saved; what waits for it (answers, announcements) follows.
    actor.on('pairing.changed', ({ revision }) => actor.send({ type: 'pairing.persisted', revision }));
    const runner = runInvokes(actor, clock);
    actor.start();
    return {
      actor,
      runner,
      clock,
      context: () => actor.getSnapshot().context,
      send: (event) => actor.send(event),
      /** Emitted since the last call, presence broadcasts left out. */
      take: () => emitted.splice(0).filter((event) => event.type !== 'presence.changed' && !isInvokeTraffic(event)),
    };
  }

  function nodeSession(nodeId = 'node-1') {
    return {
      protocol: 4,
      role: 'node',
      scopes: [],
      client: { id: 'node-host', version: '2.0.0', platform: 'linux', mode: 'node' },
      deviceId: nodeId,
      caps: ['system'],
      commands: ['system.run'],
      connectedAt: T0,
    };
  }

  const joinNode = (s, connId) => s.send({ type: 'connection.joined', connId, remoteAddr: '203.0.113.9', session: nodeSession(), isLocalClient: false });

  /** Manual pairing, node-1 joined as `node-a` and approved. */
  function withApprovedNode() {
    const s = start({ pairingMode: 'manual' });
    joinNode(s, 'node-a');
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    s.take();
    return s;
  }

  scenario('manual pairing: a joining node opens a request, an operator approves it', () => {
    const s = start({ pairingMode: 'manual' });
    joinNode(s, 'node-a');
    const [requested, ...rest] = s.take();
    assert.equal(rest, [], 'one event');
    assert.match(requested, { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.requested', payload: { requestId: 'id-1', nodeId: 'node-1', commands: ['system.run'], ts: T0 } });
    assert.ok(s.context().pendingNodePairs.has('id-1'), 'pending');

    s.send({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', timeoutMs: 5_000, ...OPERATOR });
    assert.match(s.take()[0], { type: 'reply', ok: false, error: { code: 'NOT_PAIRED' } }, 'not approved yet');

    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    const resolved = { requestId: 'id-1', nodeId: 'node-1', decision: 'approved', ts: T0 };
    const events = s.take();
    assert.equal(events.map((event) => event.type), ['pairing.changed', 'reply', 'broadcast', 'deliver']);
    const nodes = [...s.context().pairedNodes.values()];
    assert.equal(nodes.length, 1, 'one paired node');
    assert.match(nodes[0], { nodeId: 'node-1', silent: false, commands: ['system.run'], approvedAtMs: T0 });
    assert.match(events[1], { ...OPERATOR, ok: true, payload: { requestId: 'id-1', node: { nodeId: 'node-1' } } });
    assert.equal(events[2], { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved });
    assert.equal(events[3], { type: 'deliver', connId: 'node-a', event: 'node.pair.resolved', payload: resolved });
    s.clock.increment(TTL_MS);
    assert.equal(s.take(), [], 'the expiry was cancelled');
  });

  scenario('an invoke is delivered to the node and its answer reaches the caller through invoke.settled', () => {
    const s = withApprovedNode();
    s.send({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', paramsJSON: '{"command":["uname"]}', timeoutMs: 5_000, ...OPERATOR });
    assert.equal(s.take(), [
      {
        type: 'deliver',
        connId: 'node-a',
        event: 'node.invoke.request',
        payload: { id: 'id-2', nodeId: 'node-1', command: 'system.run', paramsJSON: '{"command":["uname"]}', timeoutMs: 5_000 },
      },
    ]);
    assert.ok(s.runner.invokes.get('id-2'), 'an invoke actor per invoke');
    s.send({ type: 'node.invoke.result', connId: 'node-a', requestId: 'node-req', invokeId: 'id-2', nodeId: 'node-1', ok: true, payloadJSON: '{"stdout":"Linux"}' });
    assert.equal(s.take(), [
      { type: 'reply', connId: 'node-a', requestId: 'node-req', ok: true, payload: { ok: true } },
      {
        type: 'reply',
        ...OPERATOR,
        ok: true,
        payload: { ok: true, nodeId: 'node-1', command: 'system.run', payload: { stdout: 'Linux' }, payloadJSON: '{"stdout":"Linux"}' },
      },
    ]);
    assert.equal(s.context().invokes.size, 0, 'forgotten');
    assert.equal([...s.runner.invokes.keys()], [], 'its actor is done');
  });

  scenario("a node reconnecting before its old connection closes stays registered", () => {
    const s = withApprovedNode();
    joinNode(s, 'node-b');
    s.send({ type: 'connection.left', connId: 'node-a' });
    assert.equal(s.context().nodeConnById.get('node-1'), 'node-b', 'the new connection speaks for the node');
    assert.equal([...s.context().nodes.keys()], ['node-b'], 'one live session');
    s.send({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', timeoutMs: 5_000, ...OPERATOR });
    assert.match(s.take()[0], { type: 'deliver', connId: 'node-b', event: 'node.invoke.request' }, 'invokes go to the new connection');
    s.send({ type: 'connection.left', connId: 'node-b' });
    assert.equal(s.context().nodeConnById.has('node-1'), false, 'gone with its owner');
    assert.match(s.take()[0], { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', message: 'DISCONNECTED: node disconnected (system.run)' } }, 'in-flight invoke failed at once');
  });

  scenario('device pairing: request, approve, then remove revokes the live connections', () => {
    const s = start({ pairingMode: 'manual' });
    const identity = { deviceId: 'device-1', role: 'operator', scopes: ['operator.admin'], clientId: 'control-ui', clientMode: 'ui', platform: 'web' };
    s.send({ type: 'device.pair.requested', request: identity });
    assert.match(s.take()[0], { type: 'broadcast', event: 'device.pair.requested', payload: { requestId: 'id-1', deviceId: 'device-1' } });
    s.send({ type: 'device.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    const approved = s.take();
    assert.equal(approved.map((event) => event.type), ['pairing.changed', 'reply', 'broadcast']);
    const devices = [...s.context().pairedDevices.values()];
    assert.equal(devices.length, 1, 'one paired device');
    assert.match(devices[0], { deviceId: 'device-1', silent: false });
    assert.equal(devices[0].tokenHash, undefined, 'no token until the device connects and is handed one');
    assert.equal(approved[1].payload.device.tokenHash, undefined, 'the reply never carries a token or its hash');

    const session = { protocol: 4, role: 'operator', scopes: ['operator.admin'], client: { id: 'control-ui', version: '1', platform: 'web', mode: 'ui' }, deviceId: 'device-1', caps: [], commands: [], connectedAt: T0 };
    s.send({ type: 'connection.joined', connId: 'ui-1', remoteAddr: '127.0.0.1', session });
    s.send({ type: 'connection.joined', connId: 'ui-2', remoteAddr: '127.0.0.1', session: { ...session, deviceId: 'device-2' } });
    s.take();
    s.send({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
    assert.equal(s.take(), [
      { type: 'pairing.changed', revision: 2 },
      { type: 'credentials.revoked', connIds: ['ui-1'], reason: 'device removed' },
      { type: 'reply', ...OPERATOR, ok: true, payload: { deviceId: 'device-1', removed: true, revokedConnections: 1 } },
    ]);
  });
  scenario('an approve is answered once its pairing revision is saved; shutdown answers invokes UNAVAILABLE', () => {
    const s = start({ pairingMode: 'manual' });
    // This supervisor's saves are reported by hand.
    const manual = createActor(supervisorMachine, {
      clock: new SimulatedClock(),
      input: { self: { reason: 'self', ts: 0 }, tickIntervalMs: 3_600_000, pairingMode: 'manual', now: () => T0, createId: () => 'id-1' },
    });
    const emitted = [];
    manual.on('*', (event) => emitted.push(event));
    manual.start();
    manual.send({ type: 'connection.joined', connId: 'node-a', remoteAddr: '203.0.113.9', session: nodeSession(), isLocalClient: false });
    emitted.splice(0);
    manual.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    assert.equal(emitted.splice(0).map((event) => event.type), ['pairing.changed'], 'only the save is asked for');
    manual.send({ type: 'pairing.persisted', revision: 1 });
    assert.equal(emitted.splice(0).filter((event) => !isInvokeTraffic(event)).map((event) => event.type), ['reply', 'broadcast', 'deliver'], 'then the answer and the news');

    joinNode(s, 'node-a');
    s.send({ type: 'node.pair.approve', pairRequestId: 'id-1', ...OPERATOR });
    s.send({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', timeoutMs: 5_000, ...OPERATOR });
    s.take();
    s.send({ type: 'gateway.shutdown', reason: 'restart' });
    assert.match(s.take()[0], { type: 'reply', ...OPERATOR, ok: false, error: { code: 'UNAVAILABLE', message: 'gateway shutting down' } });
    assert.equal(s.runner.invokes.size, 0, 'no invoke left');
    assert.equal(s.runner.cancels.length, 1, 'the node was told to cancel the invoke it may still be running');
  });
}
