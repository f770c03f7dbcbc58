// The client machine over a fake socket: the scenario plays the gateway (open, challenge, hello-ok,
// ticks, closes) and a minimal runtime wires the machine's effects to the socket; time simulated,
// jitter from a fixed draw.
export const group = 'client';

export async function define({ scenario, assert, machinesBase }) {
  const { createActor, SimulatedClock } = await import('xstate');
  const { clientMachine, backoffDelay } = await import(`${machinesBase}/client.js`);

  const BACKOFF = { baseMs: 100, factor: 2, capMs: 1_000 };

  /** A socket as the runtime sees it: what was written to it, and how it was closed. */
  class FakeSocket {
    sent = [];
    closed = null;
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) {
      this.closed = { code, reason };
    }
  }

  function start(input = {}) {
    const clock = new SimulatedClock();
    const sockets = [];
    const failed = [];
    const settled = [];
    const emitted = [];
    const current = () => sockets.at(-1);
    const machine = clientMachine.provide({
      actions: {
        openSocket: () => void sockets.push(new FakeSocket()),
        closeSocket: (_, { code, reason }) => current().close(code, reason),
        sendConnect: (_, { attempt, nonce }) =>
          current().send(JSON.stringify({ type: 'req', id: `connect-${attempt}`, method: 'connect', params: { nonce } })),
        sendRequest: (_, request) => current().send(JSON.stringify({ type: 'req', ...request })),
        settleRequest: (_, response) => void settled.push(response),
        failRequests: (_, failure) => void failed.push(failure),
      },
    });
    const actor = createActor(machine, { clock, input: { backoff: BACKOFF, handshakeTimeoutMs: 5_000, random: () => 0.5, ...input } });
    actor.on('*', (event) => void emitted.push(event));
    actor.start();
    const gateway = {
      open: () => actor.send({ type: 'socket.open' }),
      challenge: (nonce) => actor.send({ type: 'frame.challenge', nonce }),
      hello: (tickIntervalMs) => actor.send({ type: 'frame.helloOk', hello: { protocol: 4, tickIntervalMs } }),
      tick: () => actor.send({ type: 'frame.tick' }),
      close: (code, reason = '') => actor.send({ type: 'socket.closed', code, reason }),
      handshake(tickIntervalMs = 30_000) {
        this.open();
        this.challenge('nonce-1');
        this.hello(tickIntervalMs);
      },
    };
    const decisions = () => emitted.filter((event) => event.type === 'disconnected').map((event) => event.decision);
    return { actor, clock, sockets, failed, settled, emitted, gateway, decisions, value: () => actor.getSnapshot().value };
  }

  scenario('dials, answers the challenge with its nonce, and is connected at hello-ok', () => {
    const s = start();
    assert.equal(s.sockets.length, 1, 'one socket dialled');
    s.gateway.open();
    s.gateway.challenge('nonce-42');
    assert.equal(s.sockets[0].sent, [{ type: 'req', id: 'connect-1', method: 'connect', params: { nonce: 'nonce-42' } }]);
    s.gateway.hello(30_000);
    assert.equal(s.value(), { online: { connected: 'watching' } });
    assert.equal(s.emitted.map((event) => event.type), ['attempt', 'open', 'challenge', 'connected']);
  });

  scenario('1012 reconnects after the jittered delay; 1006 backs off with a growing ceiling', () => {
    const s = start();
    s.gateway.handshake();
    s.gateway.close(1012, 'gateway shutting down');
    assert.equal(s.decisions(), ['reconnect']);
    s.clock.increment(49);
    assert.equal(s.sockets.length, 1, 'not before the delay (0.5 x 100 ms)');
    s.clock.increment(1);
    assert.equal(s.sockets.length, 2, 'dialled again');
    s.gateway.close(1006);
    assert.equal(s.emitted.at(-1), { type: 'disconnected', code: 1006, reason: '', by: 'server', decision: 'back-off', delayMs: 100 });
  });

  scenario('1008 auth, 1008 pairing and 1002 stop for good', () => {
    for (const [code, reason, stop] of [
      [1008, 'unauthorized: gateway token mismatch', 'auth-rejected'],
      [1008, 'pairing required', 'pairing-required'],
      [1002, 'protocol mismatch', 'protocol-error'],
    ]) {
      const s = start();
      s.gateway.open();
      s.gateway.close(code, reason);
      assert.equal(s.actor.getSnapshot().status, 'done', `${code} ${reason}`);
      assert.match(s.emitted.at(-1), { type: 'stopped', reason: stop, code, closeReason: reason });
      s.clock.increment(60_000);
      assert.equal(s.sockets.length, 1, `${code}: never dialled again`);
    }
  });

  scenario('4001 waits for new credentials, then dials again', () => {
    const s = start();
    s.gateway.handshake();
    s.gateway.close(4001, 'device removed');
    assert.equal(s.emitted.at(-1), { type: 'credentials.required', code: 4001, reason: 'device removed' });
    s.clock.increment(600_000);
    assert.equal(s.sockets.length, 1, 'no dial without new credentials');
    s.actor.send({ type: 'credentials.updated' });
    assert.equal(s.sockets.length, 2, 'dialled at once with them');
  });

  scenario('rate limited: waits retryAfterMs though the jitter draws less', () => {
    const s = start({ random: () => 0 });
    s.gateway.open();
    s.gateway.challenge('n');
    s.actor.send({ type: 'frame.connectError', error: { code: 'INVALID_REQUEST', message: 'x', details: { code: 'AUTH_RATE_LIMITED' }, retryAfterMs: 3_000 } });
    s.gateway.close(1008, 'too many failed attempts');
    s.clock.increment(2_999);
    assert.equal(s.sockets.length, 1);
    s.clock.increment(1);
    assert.equal(s.sockets.length, 2);
  });

  scenario('tick watchdog: no tick for 2x tickIntervalMs closes the socket with 4000 and redials', () => {
    const s = start();
    s.gateway.handshake(1_000);
    s.clock.increment(1_900);
    s.gateway.tick();
    s.clock.increment(1_999);
    assert.equal(s.sockets[0].closed, null, 'a tick resets the watchdog');
    s.clock.increment(1);
    assert.equal(s.sockets[0].closed, { code: 4000, reason: 'tick timeout' });
    s.clock.increment(50);
    assert.equal(s.sockets.length, 2, 'redialled');
  });

  scenario('requests in flight fail the moment the socket closes; none is sent while disconnected', () => {
    const s = start();
    s.actor.send({ type: 'request.send', id: 'early', method: 'health' });
    assert.equal(s.failed, [{ ids: ['early'], code: 'NOT_CONNECTED', message: 'not connected to the gateway' }]);
    s.gateway.handshake();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    s.actor.send({ type: 'request.send', id: 'r2', method: 'health' });
    s.actor.send({ type: 'frame.response', id: 'r1', ok: true, payload: { ok: true } });
    assert.equal(s.settled, [{ id: 'r1', ok: true, payload: { ok: true } }]);
    s.gateway.close(1006);
    assert.equal(s.failed.at(-1), { ids: ['r2'], code: 'DISCONNECTED', message: 'connection to the gateway lost' });
  });

  scenario('backoff draws stay within [0, min(cap, base * factor^n)]', () => {
    for (let retry = 0; retry < 12; retry++) {
      const ceiling = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** retry);
      for (const draw of [0, 0.3, 0.999999]) {
        const delay = backoffDelay(BACKOFF, retry, () => draw);
        assert.ok(delay >= 0 && delay <= ceiling, `retry ${retry}, draw ${draw}: ${delay} within [0, ${ceiling}]`);
      }
      assert.equal(backoffDelay(BACKOFF, retry, () => 0.999999), ceiling, `retry ${retry} reaches its ceiling`);
    }
  });
}
