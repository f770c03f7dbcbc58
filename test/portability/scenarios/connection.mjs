// The connection machine's paths, with effects recorded and time simulated; joins and leaves go to a
// real supervisor actor.
export const group = 'connection';

export async function define({ scenario, assert, machinesBase }) {
  const { createActor, SimulatedClock } = await import('xstate');
  const { connectionMachine } = await import(`${machinesBase}/connection.js`);
  const { supervisorMachine } = await import(`${machinesBase}/supervisor.js`);

  const OPENED_AT = 1_700_000_000_000;
  const TIMEOUT_MS = 10_000;

  function start(input = {}, delays = undefined) {
    const clock = new SimulatedClock();
    const supervisor = createActor(supervisorMachine, {
      clock,
      input: { self: { reason: 'self', ts: 0 }, tickIntervalMs: 3_600_000 },
    });
    const broadcasts = [];
    supervisor.on('*', (event) => broadcasts.push(event));
    supervisor.start();

    const effects = [];
    const record = (kind) => (_, params) => void effects.push({ kind, params });
    const machine = connectionMachine.provide({
      actions: {
        sendFrame: record('send'),
        closeSocket: record('close'),
        terminateSocket: record('terminate'),
        log: record('log'),
        checkCredentials: record('check'),
        sendHelloOk: record('hello'),
        dispatchRequest: record('dispatch'),
        releaseConnection: record('release'),
        awaitPairingSaved: record('awaitSave'),
      },
      ...(delays ? { delays } : {}),
    });
    const actor = createActor(machine, {
      clock,
      input: {
        connId: 'c1',
        remoteAddr: '203.0.113.7',
        isLoopback: false,
        challengeNonce: 'nonce-1',
        openedAt: OPENED_AT,
        handshakeTimeoutMs: TIMEOUT_MS,
        capabilities: ['model-catalog-snapshot'],
        supervisor,
        ...input,
      },
    }).start();
    return {
      actor,
      clock,
      supervisor,
      broadcasts,
      effects,
      of: (kind) => effects.filter((effect) => effect.kind === kind).map((effect) => effect.params),
      value: () => actor.getSnapshot().value,
      cause: () => actor.getSnapshot().context.closeCause,
      errorIds: () => effects.filter((e) => e.kind === 'send' && e.params.ok === false).map((e) => e.params.id),
    };
  }

  const client = { id: 'test', version: '1', platform: 'linux', mode: 'ui', instanceId: 'inst-1' };
  const connect = (id = 'r1', params = {}) => ({
    type: 'frame.connect',
    id,
    params: { minProtocol: 3, maxProtocol: 4, client, ...params },
  });
  const session = { protocol: 4, role: 'operator', scopes: [], client, caps: [], commands: [], connectedAt: OPENED_AT + 20 };

  function expectClosed(c, cause, close) {
    assert.equal(c.value(), 'closed', 'state');
    assert.equal(c.actor.getSnapshot().status, 'done', 'a closed connection is final');
    assert.match(c.cause(), cause, 'close cause');
    assert.equal(c.of('close'), close ? [close] : [], 'socket closes');
    assert.equal(c.of('release').length, 1, 'released once');
  }

  scenario('sends connect.challenge on open', () => {
    const c = start();
    assert.equal(c.value(), { handshaking: 'awaitingConnect' }, 'state');
    assert.equal(c.of('send'), [
      { type: 'event', event: 'connect.challenge', payload: { nonce: 'nonce-1', ts: OPENED_AT, capabilities: ['model-catalog-snapshot'] } },
    ]);
  });

  scenario('connect -> authenticating -> auth.passed -> ready, join reported to the supervisor', () => {
    const c = start();
    c.actor.send(connect());
    assert.equal(c.value(), { handshaking: 'authenticating' }, 'state after connect');
    assert.equal(c.of('check'), [{ requestId: 'r1', params: connect().params, protocol: 4 }], 'credentials checked');
    c.actor.send({ type: 'auth.passed', session });
    assert.equal(c.value(), 'ready', 'state after auth');
    assert.equal(c.of('hello').length, 1, 'hello-ok sent');
    assert.contains(c.of('log'), { level: 'info', msg: 'handshake complete', fields: { clientMode: 'ui', protocol: 4 } });
    const supervised = c.supervisor.getSnapshot().context;
    assert.match(supervised.connections.get('c1'), { role: 'operator', clientMode: 'ui' });
    assert.equal(supervised.presenceKeys.get('c1'), 'instance:inst-1', 'holds its presence entry');
    assert.equal(c.broadcasts.map((event) => event.type), ['presence.changed'], 'presence broadcast');
    assert.match(c.broadcasts[0], { stateVersion: { presence: 2 } }, 'presence version');
    assert.match(c.broadcasts[0].presence[0], { ip: '203.0.113.7', instanceId: 'inst-1', reason: 'connect' }, 'presence entry');
    c.clock.increment(TIMEOUT_MS * 2);
    assert.equal(c.value(), 'ready', 'handshake timer cancelled once ready');
  });

  scenario('a peer close of a ready connection reports the leave', () => {
    const c = start();
    c.actor.send(connect());
    c.actor.send({ type: 'auth.passed', session });
    c.actor.send({ type: 'socket.closed', code: 1000, reason: 'bye' });
    expectClosed(c, { kind: 'peer-closed', code: 1000, by: 'peer' }, null);
    const supervised = c.supervisor.getSnapshot().context;
    assert.equal(supervised.connections.size, 0, 'connection unregistered');
    assert.equal(supervised.presence.size, 0, 'presence entry removed');
    assert.equal(supervised.stateVersion.presence, 3, 'presence version');
  });

  scenario('handshake timeout at the handshakeTimeout delay, authentication included', () => {
    const c = start();
    c.clock.increment(5_000);
    c.actor.send(connect());
    c.clock.increment(TIMEOUT_MS - 5_000 - 1);
    assert.equal(c.value(), { handshaking: 'authenticating' }, 'one ms before the timeout');
    c.clock.increment(1);
    expectClosed(c, { kind: 'handshake-timeout', code: 1008, by: 'gateway' }, { code: 1008, reason: 'handshake timeout' });
    assert.contains(c.of('log'), { level: 'warn', msg: 'handshake timeout conn=c1', fields: { cause: 'handshake-timeout' } });
  });

  scenario('the handshakeTimeout delay is a named delay the runtime can provide', () => {
    const c = start({}, { handshakeTimeout: 250 });
    c.clock.increment(249);
    assert.equal(c.value(), { handshaking: 'awaitingConnect' }, 'before the provided delay');
    c.clock.increment(1);
    expectClosed(c, { kind: 'handshake-timeout' }, { code: 1008, reason: 'handshake timeout' });
  });

  scenario('closed before connect', () => {
    const c = start();
    c.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    expectClosed(c, { kind: 'closed-before-connect', code: 1006, by: 'peer' }, null);
    assert.contains(c.of('log'), { level: 'warn', msg: 'closed before connect' });
  });

  scenario('SwiftPM test helper closing from loopback logs at info, with an event of its own', () => {
    const helper = { userAgent: 'SwiftPM-Testing-Helper/6.0', isLoopback: true, remoteAddr: '127.0.0.1' };
    const c = start(helper);
    c.actor.send({ type: 'socket.closed', code: 1000, reason: '' });
    expectClosed(c, { kind: 'helper-closed-before-connect', by: 'peer' }, null);
    assert.contains(c.of('log'), { level: 'info', fields: { event: 'connection.helper_closed', cause: 'helper-closed-before-connect' } });

    const remote = start({ ...helper, isLoopback: false, remoteAddr: '203.0.113.7' });
    remote.actor.send({ type: 'socket.closed', code: 1000, reason: '' });
    assert.match(remote.cause(), { kind: 'closed-before-connect' }, 'the same agent from elsewhere is not excused');
  });

  scenario('socket error terminates the socket', () => {
    const c = start();
    c.actor.send({ type: 'socket.error', message: 'ECONNRESET' });
    expectClosed(c, { kind: 'socket-error', code: 1011, by: 'socket', detail: 'ECONNRESET' }, null);
    assert.equal(c.of('terminate').length, 1, 'terminated');
    assert.contains(c.of('log'), { level: 'warn', msg: 'socket error', fields: { detail: 'ECONNRESET' } });

    // With the close the peer saw (a reset: 1006; a protocol error the WebSocket layer failed the socket with).
    const reset = start();
    reset.actor.send({ type: 'socket.error', message: 'read ECONNRESET', code: 1006, reason: '' });
    expectClosed(reset, { kind: 'socket-error', code: 1006, reason: '', by: 'socket', detail: 'read ECONNRESET' }, null);
  });

  scenario('malformed frame before connect: error answered, closed 1002', () => {
    const c = start();
    c.actor.send({ type: 'frame.malformed', id: 'r1', message: 'invalid JSON' });
    assert.contains(c.of('send'), { type: 'res', id: 'r1', ok: false, error: { code: 'INVALID_REQUEST', message: 'invalid JSON' } });
    expectClosed(c, { kind: 'malformed-frame', detail: 'invalid JSON' }, { code: 1002, reason: 'malformed frame' });
    assert.contains(c.of('log'), { level: 'warn', msg: 'handshake rejected' });
  });

  scenario('protocol mismatch: error with the expected range, closed 1002', () => {
    const c = start();
    c.actor.send(connect('r1', { minProtocol: 5, maxProtocol: 6 }));
    assert.contains(c.of('send'), {
      id: 'r1',
      ok: false,
      error: { message: 'protocol mismatch', details: { expectedProtocol: { min: 3, max: 4 } } },
    });
    assert.equal(c.of('check'), [], 'credentials never checked');
    expectClosed(c, { kind: 'protocol-mismatch' }, { code: 1002, reason: 'protocol mismatch' });
  });

  scenario('a first request other than connect: closed 1008 connect required', () => {
    const c = start();
    c.actor.send({ type: 'frame.request', id: 'r1', method: 'health' });
    assert.contains(c.of('send'), { id: 'r1', ok: false, error: { message: 'first request must be connect' } });
    expectClosed(c, { kind: 'connect-required', detail: 'health' }, { code: 1008, reason: 'connect required' });
  });

  scenario('auth.failed: the connect request answered with the rejection, closed with its code', () => {
    const c = start();
    c.actor.send(connect());
    const error = { code: 'INVALID_REQUEST', message: 'unauthorized: gateway token mismatch', details: { code: 'AUTH_TOKEN_MISMATCH' } };
    c.actor.send({ type: 'auth.failed', rejection: { error, closeCode: 1008, closeReason: 'unauthorized: gateway token mismatch' } });
    assert.contains(c.of('send'), { type: 'res', id: 'r1', ok: false, error });
    expectClosed(c, { kind: 'auth-rejected', detail: 'AUTH_TOKEN_MISMATCH' }, { code: 1008, reason: 'unauthorized: gateway token mismatch' });
    assert.contains(c.of('log'), { level: 'warn', msg: 'handshake rejected', fields: { detail: 'AUTH_TOKEN_MISMATCH' } });
    assert.equal(c.supervisor.getSnapshot().context.connections.size, 0, 'never joined');
  });

  scenario('a second frame while authenticating is answered and does not restart the handshake', () => {
    const c = start();
    c.actor.send(connect('r1'));
    c.actor.send(connect('r2'));
    c.actor.send({ type: 'frame.request', id: 'r3', method: 'health' });
    assert.equal(c.value(), { handshaking: 'authenticating' }, 'still authenticating');
    assert.equal(c.of('check').map((request) => request.requestId), ['r1'], 'one credential check');
    assert.equal(c.errorIds(), ['r2', 'r3'], 'both answered with an error');
    assert.contains(c.of('send'), { id: 'r2', error: { message: 'handshake in progress' } });
    c.actor.send({ type: 'auth.passed', session });
    assert.equal(c.value(), 'ready', 'the first connect completes');
  });

  scenario('shutdown: a ready client is told before the 1012 close, a handshaking one is only closed', () => {
    const ready = start();
    ready.actor.send(connect());
    ready.actor.send({ type: 'auth.passed', session });
    ready.actor.send({ type: 'gateway.shutdown', reason: 'restart', restartExpectedMs: 1_000 });
    const kinds = ready.effects.map((effect) => effect.kind);
    const shutdownAt = ready.effects.findIndex((effect) => effect.params?.event === 'shutdown');
    assert.ok(shutdownAt >= 0 && shutdownAt < kinds.indexOf('close'), 'shutdown event sent before the close');
    assert.match(ready.effects[shutdownAt].params, { payload: { reason: 'restart', restartExpectedMs: 1_000 } });
    expectClosed(ready, { kind: 'shutdown' }, { code: 1012, reason: 'gateway shutting down' });
    assert.equal(ready.supervisor.getSnapshot().context.connections.size, 0, 'leave reported');

    const early = start();
    early.actor.send({ type: 'gateway.shutdown', reason: 'restart' });
    assert.notContains(early.of('send'), { event: 'shutdown' }, 'no shutdown event before the handshake');
    expectClosed(early, { kind: 'shutdown' }, { code: 1012, reason: 'gateway shutting down' });
  });

  scenario('a new device token waits for the pairing save: hello-ok only after pairing.persisted', () => {
    const c = start();
    c.actor.send(connect());
    c.actor.send({ type: 'auth.passed', session: { ...session, deviceId: 'd1', deviceToken: 'tok' }, awaitPairingRevision: 3 });
    assert.equal(c.value(), { handshaking: 'persisting' }, 'persisting');
    assert.equal(c.of('awaitSave'), [3], 'asked the runtime for revision 3');
    assert.equal(c.of('hello').length, 0, 'no hello-ok yet');
    c.actor.send({ type: 'pairing.persisted', revision: 3 });
    assert.equal(c.value(), 'ready', 'ready once saved');
    assert.equal(c.of('hello').length, 1, 'hello-ok sent');

    const failed = start();
    failed.actor.send(connect());
    failed.actor.send({ type: 'auth.passed', session: { ...session, deviceId: 'd1', deviceToken: 'tok' }, awaitPairingRevision: 1 });
    failed.actor.send({ type: 'pairing.persistFailed', message: 'EIO' });
    assert.contains(failed.of('send'), { id: 'r1', ok: false, error: { code: 'UNAVAILABLE', retryable: true } });
    expectClosed(failed, { kind: 'pairing-not-saved' }, { code: 1011, reason: 'pairing not saved' });
  });

  scenario('a peer that misses its pong is terminated; refused calls past the limit close 1008', () => {
    const deaf = start();
    deaf.actor.send(connect());
    deaf.actor.send({ type: 'auth.passed', session });
    deaf.actor.send({ type: 'socket.pongTimeout', intervalMs: 30_000 });
    expectClosed(deaf, { kind: 'pong-timeout', code: 1006 }, undefined);
    assert.equal(deaf.of('terminate').length, 1, 'terminated');
    assert.contains(deaf.of('log'), { level: 'warn', msg: 'pong timeout conn=c1' });
    assert.equal(deaf.supervisor.getSnapshot().context.connections.size, 0, 'leave reported');

    const prying = start({ unauthorizedCallLimit: 2, unauthorizedCallWindowMs: 1_000 });
    prying.actor.send(connect());
    prying.actor.send({ type: 'auth.passed', session });
    for (const at of [0, 10]) prying.actor.send({ type: 'request.unauthorized', method: 'node.list', code: 'MISSING_SCOPE', at });
    assert.equal(prying.value(), 'ready', 'at the limit: still open');
    prying.actor.send({ type: 'request.unauthorized', method: 'node.list', code: 'MISSING_SCOPE', at: 20 });
    expectClosed(prying, { kind: 'unauthorized-calls' }, { code: 1008, reason: 'too many unauthorized calls' });
  });
}
