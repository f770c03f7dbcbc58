// The client machine on a simulated clock: the close-code decisions, the backoff's bounds, the tick
// watchdog, the handshake deadline and in-flight requests.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor } from 'xstate';
import {
  backoffCeiling,
  backoffDelay,
  classifyPolicyClose,
  clientMachine,
  type ClientEmitted,
  type ClientInput,
} from '../../machines/client.js';
import type { ErrorShape } from '../../machines/protocol.js';

type Effect = { type: string; params?: unknown };

function start(input: ClientInput = {}) {
  const clock = new SimulatedClock();
  const effects: Effect[] = [];
  const emitted: ClientEmitted[] = [];
  const record = (type: string) => (_: unknown, params?: unknown) => void effects.push({ type, params });
  const machine = clientMachine.provide({
    actions: {
      openSocket: record('openSocket'),
      closeSocket: record('closeSocket'),
      sendConnect: record('sendConnect'),
      sendRequest: record('sendRequest'),
      settleRequest: record('settleRequest'),
      failRequests: record('failRequests'),
      useDeviceToken: record('useDeviceToken'),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { backoff: { baseMs: 100, factor: 2, capMs: 1_000 }, handshakeTimeoutMs: 5_000, random: () => 0.5, ...input },
  });
  actor.on('*', (event) => void emitted.push(event));
  actor.start();
  const of = (type: string) => effects.filter((effect) => effect.type === type).map((effect) => effect.params);
  const handshake = (hello: { protocol: number; tickIntervalMs?: number; deviceToken?: boolean } = { protocol: 4, tickIntervalMs: 30_000 }) => {
    actor.send({ type: 'socket.open' });
    actor.send({ type: 'frame.challenge', nonce: 'nonce-1' });
    actor.send({ type: 'frame.helloOk', hello });
  };
  const value = () => actor.getSnapshot().value;
  const context = () => actor.getSnapshot().context;
  const decisions = () => emitted.flatMap((event) => (event.type === 'disconnected' ? [event] : []));
  return { actor, clock, effects, emitted, of, handshake, value, context, decisions };
}

const rejection = (code: string, extra: Partial<ErrorShape> = {}): ErrorShape => ({
  code: 'INVALID_REQUEST',
  message: code,
  details: { code },
  ...extra,
});

describe('client machine: a connection', () => {
  it('dials, answers the challenge with connect, and is connected at hello-ok', () => {
    const s = start();
    expect(s.of('openSocket')).toEqual([{ attempt: 1 }]);
    expect(s.value()).toEqual({ online: { handshake: 'connecting' } });
    s.actor.send({ type: 'socket.open' });
    expect(s.value()).toEqual({ online: { handshake: 'awaitingChallenge' } });
    s.actor.send({ type: 'frame.challenge', nonce: 'n-1' });
    expect(s.of('sendConnect')).toEqual([{ attempt: 1, nonce: 'n-1' }]);
    expect(s.value()).toEqual({ online: { handshake: 'handshaking' } });
    s.actor.send({ type: 'frame.helloOk', hello: { protocol: 4, tickIntervalMs: 1_000, connId: 'c-1' } });
    expect(s.value()).toEqual({ online: { connected: 'watching' } });
    expect(s.context()).toMatchObject({ protocol: 4, tickIntervalMs: 1_000, connId: 'c-1', retries: 0 });
    expect(s.emitted.map((event) => event.type)).toEqual(['attempt', 'open', 'challenge', 'connected']);
  });
});

describe('client machine: what a close decides', () => {
  // [code, reason, connect error before the close, decision, state after]
  const table: Array<[number, string, ErrorShape | undefined, string, 'backingOff' | 'stopped' | 'awaitingCredentials']> = [
    [1000, '', undefined, 'reconnect', 'backingOff'],
    [1001, 'going away', undefined, 'reconnect', 'backingOff'],
    [1012, 'gateway shutting down', undefined, 'reconnect', 'backingOff'],
    [1011, 'internal error', undefined, 'back-off', 'backingOff'],
    [1006, '', undefined, 'back-off', 'backingOff'],
    [1009, 'frame too large', undefined, 'back-off', 'backingOff'],
    [1008, 'unauthorized: gateway token mismatch', rejection('AUTH_TOKEN_MISMATCH'), 'auth-rejected', 'stopped'],
    [1008, 'unauthorized: gateway token mismatch', undefined, 'auth-rejected', 'stopped'],
    [1008, 'device signature invalid', rejection('DEVICE_AUTH_SIGNATURE_INVALID'), 'auth-rejected', 'stopped'],
    [1008, 'device nonce mismatch', undefined, 'auth-rejected', 'stopped'],
    [1008, 'pairing required', rejection('PAIRING_REQUIRED'), 'pairing-required', 'stopped'],
    [1008, 'pairing required', undefined, 'pairing-required', 'stopped'],
    // The reference's hint that the request is open and the client should keep dialling until it is approved.
    [1008, 'pairing required', rejection('PAIRING_REQUIRED', { details: { code: 'PAIRING_REQUIRED', requestId: 'r-1', pauseReconnect: false } }), 'awaiting-approval', 'backingOff'],
    [1008, 'pairing required', rejection('PAIRING_REQUIRED', { details: { code: 'PAIRING_REQUIRED', recommendedNextStep: 'wait_then_retry' } }), 'awaiting-approval', 'backingOff'],
    // The hint to try a device token, without one at hand: nothing to retry with.
    [1008, 'unauthorized: gateway token mismatch', rejection('AUTH_TOKEN_MISMATCH', { details: { code: 'AUTH_TOKEN_MISMATCH', canRetryWithDeviceToken: true } }), 'auth-rejected', 'stopped'],
    [1008, 'too many failed attempts', rejection('AUTH_RATE_LIMITED', { retryable: true, retryAfterMs: 7_000 }), 'rate-limited', 'backingOff'],
    [1008, 'handshake timeout', undefined, 'back-off', 'backingOff'],
    [1008, 'slow consumer', undefined, 'back-off', 'backingOff'],
    [1008, 'connect required', undefined, 'back-off', 'backingOff'],
    [1002, 'protocol mismatch', rejection('PROTOCOL'), 'protocol-error', 'stopped'],
    [1002, 'malformed frame', undefined, 'protocol-error', 'stopped'],
    [4001, 'device removed', undefined, 'credentials-revoked', 'awaitingCredentials'],
  ];

  it.each(table)('%i "%s" (connect error %j) during the handshake: %s', (code, reason, error, decision, state) => {
    const s = start();
    s.actor.send({ type: 'socket.open' });
    s.actor.send({ type: 'frame.challenge', nonce: 'n-1' });
    if (error) s.actor.send({ type: 'frame.connectError', error });
    s.actor.send({ type: 'socket.closed', code, reason });
    expect(s.value()).toBe(state);
    expect(s.decisions()).toEqual([expect.objectContaining({ code, reason, by: 'server', decision })]);
    if (state === 'stopped') {
      expect(s.actor.getSnapshot().status).toBe('done');
      expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: decision, code, closeReason: reason });
      s.clock.increment(60_000);
      expect(s.of('openSocket')).toHaveLength(1);
    } else if (state === 'awaitingCredentials') {
      expect(s.emitted.at(-1)).toEqual({ type: 'credentials.required', code, reason });
      s.clock.increment(60_000);
      expect(s.of('openSocket')).toHaveLength(1);
    } else {
      const delay = s.context().nextDelayMs!;
      s.clock.increment(delay);
      expect(s.of('openSocket')).toEqual([{ attempt: 1 }, { attempt: 2 }]);
    }
  });

  it.each([
    [1000, 'reconnect'],
    [1012, 'reconnect'],
    [1006, 'back-off'],
    [4001, 'credentials-revoked'],
    [1002, 'protocol-error'],
  ] as const)('%i after hello-ok: %s', (code, decision) => {
    const s = start();
    s.handshake();
    s.actor.send({ type: 'socket.closed', code, reason: '' });
    expect(s.decisions()).toEqual([expect.objectContaining({ code, decision })]);
  });

  it('waits at least retryAfterMs when rate limited, though the jitter draws less', () => {
    const s = start({ random: () => 0 });
    s.actor.send({ type: 'socket.open' });
    s.actor.send({ type: 'frame.challenge', nonce: 'n-1' });
    s.actor.send({ type: 'frame.connectError', error: rejection('AUTH_RATE_LIMITED', { retryAfterMs: 7_000 }) });
    s.actor.send({ type: 'socket.closed', code: 1008, reason: 'too many failed attempts' });
    expect(s.decisions()[0]).toMatchObject({ decision: 'rate-limited', delayMs: 7_000 });
    s.clock.increment(6_999);
    expect(s.of('openSocket')).toHaveLength(1);
    s.clock.increment(1);
    expect(s.of('openSocket')).toHaveLength(2);
  });

  it('forgets the previous attempt\'s connect error: a later plain 1008 backs off', () => {
    const s = start();
    s.actor.send({ type: 'socket.open' });
    s.actor.send({ type: 'frame.challenge', nonce: 'n-1' });
    s.actor.send({ type: 'frame.connectError', error: rejection('AUTH_RATE_LIMITED', { retryAfterMs: 50 }) });
    s.actor.send({ type: 'socket.closed', code: 1008, reason: 'too many failed attempts' });
    s.clock.increment(s.context().nextDelayMs!);
    expect(s.context().rejection).toBeUndefined();
    s.actor.send({ type: 'socket.closed', code: 1008, reason: 'handshake timeout' });
    expect(s.decisions().map((event) => event.decision)).toEqual(['rate-limited', 'back-off']);
  });

  it('classifies 1008 reasons without a connect error, case and spacing aside', () => {
    expect(classifyPolicyClose(' Unauthorized: gateway password missing ')).toBe('auth-rejected');
    expect(classifyPolicyClose('Pairing required')).toBe('pairing-required');
    expect(classifyPolicyClose('too many failed attempts')).toBe('rate-limited');
    expect(classifyPolicyClose('slow consumer')).toBe('other');
    expect(classifyPolicyClose('whatever', rejection('DEVICE_IDENTITY_REQUIRED'))).toBe('auth-rejected');
  });
});

describe('client machine: revoked credentials', () => {
  it('waits without dialling until new credentials come, then dials at once with a fresh backoff', () => {
    const s = start();
    s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    s.clock.increment(s.context().nextDelayMs!);
    s.handshake();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    s.actor.send({ type: 'socket.closed', code: 4001, reason: 'device removed' });
    expect(s.of('failRequests')).toEqual([{ ids: ['r1'], code: 'DISCONNECTED', message: 'connection to the gateway lost' }]);
    expect(s.value()).toBe('awaitingCredentials');
    s.actor.send({ type: 'request.send', id: 'r2', method: 'health' });
    expect(s.of('failRequests').at(-1)).toMatchObject({ ids: ['r2'], code: 'NOT_CONNECTED' });
    s.clock.increment(600_000);
    expect(s.of('openSocket')).toHaveLength(2);
    s.actor.send({ type: 'credentials.updated' });
    expect(s.of('openSocket')).toEqual([{ attempt: 1 }, { attempt: 2 }, { attempt: 3 }]);
    expect(s.context().retries).toBe(0);
  });

  it('stops when asked to while waiting, keeping the 4001 as the last close', () => {
    const s = start();
    s.handshake();
    s.actor.send({ type: 'socket.closed', code: 4001, reason: 'device removed' });
    s.actor.send({ type: 'stop' });
    expect(s.of('closeSocket')).toEqual([]);
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'closed-by-user', code: 4001, closeReason: 'device removed' });
  });

  it('ignores new credentials while it is not waiting for them', () => {
    const s = start();
    s.actor.send({ type: 'credentials.updated' });
    expect(s.value()).toEqual({ online: { handshake: 'connecting' } });
    expect(s.of('openSocket')).toHaveLength(1);
  });
});

describe('client machine: backoff', () => {
  const policy = { baseMs: 100, factor: 2, capMs: 1_000 };

  it('draws full jitter within [0, min(cap, base * factor^n)], never above the cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (baseMs, factor, capMs, retry, draw) => {
          const bounds = { baseMs, factor, capMs };
          const delay = backoffDelay(bounds, retry, () => draw);
          const ceiling = Math.min(capMs, baseMs * factor ** retry);
          expect(backoffCeiling(bounds, retry)).toBe(ceiling);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeLessThanOrEqual(capMs);
        },
      ),
    );
  });

  it('spans the whole interval: a draw of 0 waits 0, a draw near 1 the ceiling', () => {
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
    expect(backoffDelay(policy, 3, () => 0.999_999)).toBe(800);
    expect(backoffDelay(policy, 30, () => 0.999_999)).toBe(1_000);
    // A bad random source cannot push it out of bounds.
    expect(backoffDelay(policy, 2, () => 7)).toBe(400);
    expect(backoffDelay(policy, 2, () => -1)).toBe(0);
  });

  it('grows the ceiling with each failed dial up to the cap, and starts over after hello-ok', () => {
    const s = start({ random: () => 0.999_999 });
    for (let failure = 0; failure < 6; failure++) {
      s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
      s.clock.increment(s.context().nextDelayMs!);
    }
    expect(s.decisions().map((event) => event.delayMs)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    s.handshake();
    s.actor.send({ type: 'socket.closed', code: 1012, reason: 'gateway shutting down' });
    expect(s.decisions().at(-1)).toMatchObject({ decision: 'reconnect', delayMs: 100 });
  });

  it('reconnects exactly after the drawn delay, not before', () => {
    const s = start({ random: () => 0.25 });
    s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    const delay = s.context().nextDelayMs!;
    expect(delay).toBe(25);
    s.clock.increment(delay - 1);
    expect(s.value()).toBe('backingOff');
    s.clock.increment(1);
    expect(s.value()).toEqual({ online: { handshake: 'connecting' } });
  });

  it('gives up after maxAttempts dials without a hello-ok', () => {
    const s = start({ maxAttempts: 3 });
    for (let dial = 0; dial < 3; dial++) {
      s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
      if (dial < 2) s.clock.increment(s.context().nextDelayMs!);
    }
    expect(s.value()).toBe('stopped');
    expect(s.of('openSocket')).toHaveLength(3);
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'attempts-exhausted', code: 1006 });
  });
});

describe('client machine: deadlines', () => {
  it('drops a handshake that has not reached hello-ok within handshakeTimeoutMs, then backs off', () => {
    const s = start({ handshakeTimeoutMs: 3_000 });
    s.actor.send({ type: 'socket.open' });
    s.clock.increment(2_999);
    expect(s.of('closeSocket')).toEqual([]);
    s.clock.increment(1);
    expect(s.of('closeSocket')).toEqual([{ code: 4000, reason: 'handshake timeout' }]);
    expect(s.decisions()).toEqual([expect.objectContaining({ code: 4000, reason: 'handshake timeout', by: 'client', decision: 'back-off' })]);
    expect(s.value()).toBe('backingOff');
  });

  it('in single-attempt mode a handshake timeout stops it', () => {
    const s = start({ handshakeTimeoutMs: 3_000, maxAttempts: 1 });
    s.clock.increment(3_000);
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'attempts-exhausted', code: 4000, closeReason: 'handshake timeout' });
  });

  it('closes with 4000 "tick timeout" after 2x tickIntervalMs without a tick, and reconnects', () => {
    const s = start();
    s.handshake({ protocol: 4, tickIntervalMs: 1_000 });
    s.clock.increment(1_500);
    s.actor.send({ type: 'frame.tick' });
    s.clock.increment(1_999);
    expect(s.of('closeSocket')).toEqual([]);
    s.clock.increment(1);
    expect(s.of('closeSocket')).toEqual([{ code: 4000, reason: 'tick timeout' }]);
    expect(s.decisions()).toEqual([expect.objectContaining({ code: 4000, reason: 'tick timeout', by: 'client', decision: 'back-off' })]);
    s.clock.increment(s.context().nextDelayMs!);
    expect(s.of('openSocket')).toHaveLength(2);
  });

  it('watches for ticks every 2x 30 s when hello-ok has no tickIntervalMs', () => {
    const s = start();
    s.handshake({ protocol: 4 });
    s.clock.increment(59_999);
    expect(s.of('closeSocket')).toEqual([]);
    s.clock.increment(1);
    expect(s.of('closeSocket')).toEqual([{ code: 4000, reason: 'tick timeout' }]);
  });

  it('uses defaultTickIntervalMs from the input when given', () => {
    const s = start({ defaultTickIntervalMs: 500 });
    s.handshake({ protocol: 4 });
    s.clock.increment(1_000);
    expect(s.of('closeSocket')).toEqual([{ code: 4000, reason: 'tick timeout' }]);
  });
});

describe('client machine: requests', () => {
  it('sends requests while connected and settles each answer once', () => {
    const s = start();
    s.handshake();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    expect(s.of('sendRequest')).toEqual([{ id: 'r1', method: 'health' }]);
    expect(s.context().inFlight).toEqual(['r1']);
    s.actor.send({ type: 'frame.response', id: 'r1', ok: true, payload: { ok: true } });
    s.actor.send({ type: 'frame.response', id: 'r1', ok: true, payload: { ok: true } });
    expect(s.of('settleRequest')).toEqual([{ id: 'r1', ok: true, payload: { ok: true } }]);
    expect(s.context().inFlight).toEqual([]);
  });

  it('fails requests in flight the moment the connection ends, not at some timeout', () => {
    const s = start();
    s.handshake();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    s.actor.send({ type: 'request.send', id: 'r2', method: 'node.list' });
    s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    expect(s.of('failRequests')).toEqual([{ ids: ['r1', 'r2'], code: 'DISCONNECTED', message: 'connection to the gateway lost' }]);
    expect(s.context().inFlight).toEqual([]);
  });

  it('fails requests in flight when the tick watchdog drops the connection', () => {
    const s = start();
    s.handshake({ protocol: 4, tickIntervalMs: 100 });
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    s.clock.increment(200);
    expect(s.of('failRequests')).toEqual([{ ids: ['r1'], code: 'DISCONNECTED', message: 'connection to the gateway lost' }]);
  });

  it('refuses a request at once while not connected', () => {
    const s = start();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    expect(s.of('sendRequest')).toEqual([]);
    expect(s.of('failRequests')).toEqual([{ ids: ['r1'], code: 'NOT_CONNECTED', message: 'not connected to the gateway' }]);
  });
});

describe('client machine: stop', () => {
  it('closes with 1000 and stops for good', () => {
    const s = start();
    s.handshake();
    s.actor.send({ type: 'request.send', id: 'r1', method: 'health' });
    s.actor.send({ type: 'stop' });
    expect(s.of('closeSocket')).toEqual([{ code: 1000, reason: 'client closing' }]);
    expect(s.of('failRequests')).toEqual([{ ids: ['r1'], code: 'DISCONNECTED', message: 'connection to the gateway lost' }]);
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'closed-by-user' });
    expect(s.decisions()).toEqual([]);
  });

  it('cancels a scheduled reconnect', () => {
    const s = start();
    s.actor.send({ type: 'socket.closed', code: 1006, reason: '' });
    s.actor.send({ type: 'stop' });
    s.clock.increment(60_000);
    expect(s.of('openSocket')).toHaveLength(1);
    expect(s.actor.getSnapshot().status).toBe('done');
  });
});

describe('client machine: the gateway\'s recovery hints', () => {
  const waitHint = rejection('PAIRING_REQUIRED', {
    details: { code: 'PAIRING_REQUIRED', requestId: 'r-1', recommendedNextStep: 'wait_then_retry', pauseReconnect: false },
  });
  const refuse = (s: ReturnType<typeof start>, error: ErrorShape, reason: string) => {
    s.actor.send({ type: 'socket.open' });
    s.actor.send({ type: 'frame.challenge', nonce: 'n' });
    s.actor.send({ type: 'frame.connectError', error });
    s.actor.send({ type: 'socket.closed', code: 1008, reason });
  };

  it('keeps dialling, backing off, while its pairing request waits, and is connected once approved', () => {
    const s = start();
    for (let attempt = 1; attempt <= 4; attempt++) {
      refuse(s, waitHint, 'pairing required');
      expect(s.value()).toBe('backingOff');
      s.clock.increment(s.context().nextDelayMs!);
    }
    expect(s.decisions().map((decision) => decision.decision)).toEqual(Array(4).fill('awaiting-approval'));
    // The delays grow as the backoff says: nobody is flooded while an operator decides.
    s.handshake();
    expect(s.value()).toEqual({ online: { connected: 'watching' } });
    expect(s.of('openSocket')).toHaveLength(5);
  });

  it('stops with pairing-required when it has no dials left to wait with', () => {
    const s = start({ maxAttempts: 1 });
    refuse(s, waitHint, 'pairing required');
    expect(s.value()).toBe('stopped');
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'pairing-required' });
  });

  it('tries its device token once after a refused gateway token, when the gateway hints so', () => {
    const s = start();
    s.handshake({ protocol: 4, tickIntervalMs: 30_000, deviceToken: true });
    s.actor.send({ type: 'socket.closed', code: 1012, reason: 'gateway restarting' });
    s.clock.increment(s.context().nextDelayMs!);
    const hinted = rejection('AUTH_TOKEN_MISMATCH', { details: { code: 'AUTH_TOKEN_MISMATCH', canRetryWithDeviceToken: true, recommendedNextStep: 'retry_with_device_token' } });
    refuse(s, hinted, 'unauthorized: gateway token mismatch');
    expect(s.of('useDeviceToken')).toHaveLength(1);
    expect(s.decisions().at(-1)).toMatchObject({ decision: 'retry-with-device-token' });
    s.clock.increment(s.context().nextDelayMs!);
    // The retry failed too: no second one; the client stops and reports.
    refuse(s, hinted, 'unauthorized: gateway token mismatch');
    expect(s.value()).toBe('stopped');
    expect(s.of('useDeviceToken')).toHaveLength(1);
    expect(s.emitted.at(-1)).toMatchObject({ type: 'stopped', reason: 'auth-rejected' });
  });

  it('classifies PAIRING_REQUIRED by its hints', () => {
    expect(classifyPolicyClose('pairing required', waitHint)).toBe('awaiting-approval');
    expect(classifyPolicyClose('pairing required', rejection('PAIRING_REQUIRED'))).toBe('pairing-required');
  });
});
