// The machines' rules, stepped directly: no sockets, effects recorded, time simulated.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import type { Session } from '../../machines/protocol.js';
import { listPresence, supervisorMachine } from '../../machines/supervisor.js';

function session(overrides: Partial<Session> & { instanceId?: string; mode?: Session['client']['mode'] } = {}): Session {
  const { instanceId, mode, ...rest } = overrides;
  return {
    protocol: 4,
    role: 'operator',
    scopes: [],
    client: { id: 'test', version: '1', platform: 'linux', mode: mode ?? 'test', ...(instanceId ? { instanceId } : {}) },
    caps: [],
    commands: [],
    connectedAt: 1,
    ...rest,
  };
}

function startSupervisor(options: { maxPresenceEntries?: number; clock?: SimulatedClock } = {}) {
  const actor = createActor(supervisorMachine, {
    input: { self: { reason: 'self', ts: 0 }, tickIntervalMs: 1_000, ...(options.maxPresenceEntries ? { maxPresenceEntries: options.maxPresenceEntries } : {}) },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const emitted: string[] = [];
  actor.on('*', (event) => emitted.push(event.type));
  actor.start();
  return { actor, emitted };
}

function startConnection(clock = new SimulatedClock(), extra: { unauthorizedCallLimit?: number; unauthorizedCallWindowMs?: number } = {}) {
  const { actor: supervisor } = startSupervisor();
  const effects: [string, unknown][] = [];
  const machine = connectionMachine.provide({
    actions: {
      sendFrame: (_, frame) => void effects.push(['send', frame]),
      closeSocket: (_, close) => void effects.push(['close', close]),
      terminateSocket: () => void effects.push(['terminate', null]),
      log: (_, record) => void effects.push(['log', record]),
      checkCredentials: (_, request) => void effects.push(['check', request.requestId]),
      sendHelloOk: () => void effects.push(['hello', null]),
      awaitPairingSaved: (_, revision) => void effects.push(['awaitSave', revision]),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      connId: 'c1',
      remoteAddr: '127.0.0.1',
      isLoopback: true,
      challengeNonce: 'nonce-1',
      openedAt: 0,
      handshakeTimeoutMs: 10_000,
      supervisor,
      ...extra,
    },
  }).start();
  return { actor, effects, clock, supervisor };
}

const connect = {
  type: 'frame.connect' as const,
  id: 'r1',
  params: { minProtocol: 3, maxProtocol: 4, client: { id: 'test', version: '1', platform: 'linux', mode: 'test' as const } },
};

describe('connection machine', () => {
  it('answers a second frame while authenticating with an error and never re-enters the handshake', () => {
    const { actor, effects } = startConnection();
    actor.send(connect);
    expect(actor.getSnapshot().value).toEqual({ handshaking: 'authenticating' });
    actor.send({ ...connect, id: 'r2' });
    actor.send({ type: 'frame.request', id: 'r3', method: 'health' });
    expect(actor.getSnapshot().value).toEqual({ handshaking: 'authenticating' });
    expect(effects.filter(([kind]) => kind === 'check')).toEqual([['check', 'r1']]);
    const errors = effects.filter(([kind, frame]) => kind === 'send' && (frame as { ok?: boolean }).ok === false);
    expect(errors.map(([, frame]) => (frame as { id: string }).id)).toEqual(['r2', 'r3']);
    actor.send({ type: 'auth.passed', session: session() });
    expect(actor.getSnapshot().value).toBe('ready');
  });

  it('times out the whole handshake, authentication included, at the named delay', () => {
    const { actor, effects, clock } = startConnection();
    clock.increment(5_000);
    actor.send(connect);
    clock.increment(4_999);
    expect(actor.getSnapshot().value).toEqual({ handshaking: 'authenticating' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('closed');
    expect(actor.getSnapshot().context.closeCause).toMatchObject({ kind: 'handshake-timeout', code: 1008 });
    expect(effects).toContainEqual(['close', { code: 1008, reason: 'handshake timeout' }]);
    expect(effects).toContainEqual(['log', expect.objectContaining({ level: 'warn', msg: 'handshake timeout conn=c1' })]);
  });

  it('cancels the handshake timer once ready', () => {
    const { actor, clock } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session() });
    clock.increment(60_000);
    expect(actor.getSnapshot().value).toBe('ready');
  });

  it('reports join on ready and leave on close to the supervisor, exactly once', () => {
    const { actor, supervisor } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session({ instanceId: 'i1' }) });
    expect(supervisor.getSnapshot().context.connections.has('c1')).toBe(true);
    actor.send({ type: 'socket.closed', code: 1000, reason: '' });
    actor.send({ type: 'socket.closed', code: 1000, reason: '' });
    expect(supervisor.getSnapshot().context.connections.has('c1')).toBe(false);
    expect(supervisor.getSnapshot().context.stateVersion.presence).toBe(3);
  });

  it('sends shutdown to a ready client before closing 1012, but only closes a handshaking one', () => {
    const ready = startConnection();
    ready.actor.send(connect);
    ready.actor.send({ type: 'auth.passed', session: session() });
    ready.actor.send({ type: 'gateway.shutdown', reason: 'bye' });
    expect(ready.effects).toContainEqual(['send', expect.objectContaining({ event: 'shutdown' })]);
    expect(ready.effects.at(-2)?.[0]).toBe('close');

    const early = startConnection();
    early.actor.send({ type: 'gateway.shutdown', reason: 'bye' });
    expect(early.effects.some(([, frame]) => (frame as { event?: string })?.event === 'shutdown')).toBe(false);
    expect(early.effects).toContainEqual(['close', { code: 1012, reason: 'gateway shutting down' }]);
  });

  it('terminates rather than closes a socket that errored', () => {
    const { actor, effects } = startConnection();
    actor.send({ type: 'socket.error', message: 'ECONNRESET' });
    expect(effects.map(([kind]) => kind)).toContain('terminate');
    expect(effects.map(([kind]) => kind)).not.toContain('close');
  });
});

describe('connection machine: hardening', () => {
  const closeOf = (effects: [string, unknown][]) => effects.filter(([kind]) => kind === 'close' || kind === 'terminate');
  const logOf = (effects: [string, unknown][]) => effects.filter(([kind]) => kind === 'log').map(([, record]) => record as { msg: string; fields?: Record<string, unknown> });

  it('terminates a peer that missed its pong, logging pong timeout, and leaves the supervisor', () => {
    const { actor, effects, supervisor } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session({ instanceId: 'i-1' }) });
    expect(supervisor.getSnapshot().context.presence.size).toBe(1);
    actor.send({ type: 'socket.pongTimeout', intervalMs: 30_000 });
    expect(actor.getSnapshot().status).toBe('done');
    expect(closeOf(effects)).toEqual([['terminate', null]]);
    expect(logOf(effects).at(-1)).toMatchObject({ msg: 'pong timeout conn=c1', fields: { cause: 'pong-timeout', code: 1006, detail: 'no pong within 30000 ms' } });
    expect(supervisor.getSnapshot().context.presence.size).toBe(0);
  });

  it('closes 1008 once more calls than the limit are refused within the window, not before', () => {
    const { actor, effects } = startConnection(new SimulatedClock(), { unauthorizedCallLimit: 3, unauthorizedCallWindowMs: 1_000 });
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session() });
    const refused = (at: number) => actor.send({ type: 'request.unauthorized', method: 'device.pair.approve', code: 'MISSING_SCOPE', at });
    refused(0);
    refused(100);
    refused(200);
    // The first one leaves the window: still three within it.
    refused(1_050);
    expect(actor.getSnapshot().value).toBe('ready');
    expect(actor.getSnapshot().context.unauthorizedCalls).toEqual([100, 200, 1_050]);
    refused(1_060);
    expect(actor.getSnapshot().status).toBe('done');
    expect(closeOf(effects)).toEqual([['close', { code: 1008, reason: 'too many unauthorized calls' }]]);
    expect(logOf(effects).at(-1)).toMatchObject({
      msg: 'too many unauthorized calls',
      fields: { cause: 'unauthorized-calls', detail: '4 refused within 1000 ms, last device.pair.approve (MISSING_SCOPE)' },
    });
  });

  it('never closes for refused calls with a limit of 0', () => {
    const { actor } = startConnection(new SimulatedClock(), { unauthorizedCallLimit: 0 });
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session() });
    for (let at = 0; at < 100; at++) actor.send({ type: 'request.unauthorized', method: 'node.list', code: 'ROLE_NOT_ALLOWED', at });
    expect(actor.getSnapshot().value).toBe('ready');
    expect(actor.getSnapshot().context.unauthorizedCalls).toHaveLength(1);
  });

  it('sends hello-ok with a fresh device token only once the pairing state is saved', () => {
    const { actor, effects } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session({ deviceId: 'd1', deviceToken: 'tok' }), awaitPairingRevision: 7 });
    expect(actor.getSnapshot().value).toEqual({ handshaking: 'persisting' });
    expect(effects.filter(([kind]) => kind === 'awaitSave')).toEqual([['awaitSave', 7]]);
    actor.send({ type: 'frame.request', id: 'early', method: 'health' });
    expect(effects.filter(([kind]) => kind === 'hello')).toEqual([]);
    actor.send({ type: 'pairing.persisted', revision: 7 });
    expect(actor.getSnapshot().value).toBe('ready');
    expect(effects.filter(([kind]) => kind === 'hello')).toHaveLength(1);
  });

  it('answers UNAVAILABLE and closes 1011 when the pairing state could not be saved', () => {
    const { actor, effects } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session({ deviceId: 'd1', deviceToken: 'tok' }), awaitPairingRevision: 1 });
    actor.send({ type: 'pairing.persistFailed', message: 'ENOSPC' });
    expect(effects.filter(([kind]) => kind === 'hello')).toEqual([]);
    expect(effects).toContainEqual(['send', { type: 'res', id: 'r1', ok: false, error: { code: 'UNAVAILABLE', message: 'could not save the pairing state; try again', retryable: true } }]);
    expect(closeOf(effects)).toEqual([['close', { code: 1011, reason: 'pairing not saved' }]]);
  });

  it('still times out the handshake while waiting for the save', () => {
    const { actor, effects, clock } = startConnection();
    actor.send(connect);
    actor.send({ type: 'auth.passed', session: session({ deviceId: 'd1', deviceToken: 'tok' }), awaitPairingRevision: 1 });
    clock.increment(10_000);
    expect(closeOf(effects)).toEqual([['close', { code: 1008, reason: 'handshake timeout' }]]);
  });
});

describe('supervisor machine', () => {
  it('keeps a reconnected device in presence when the old connection closes late', () => {
    const { actor } = startSupervisor();
    const device = session({ deviceId: 'dev-1' });
    actor.send({ type: 'connection.joined', connId: 'old', remoteAddr: '127.0.0.1', session: device });
    actor.send({ type: 'connection.joined', connId: 'new', remoteAddr: '127.0.0.1', session: device });
    actor.send({ type: 'connection.left', connId: 'old' });
    const context = actor.getSnapshot().context;
    expect(context.presence.get('device:dev-1')?.connId).toBe('new');
    expect(context.connections.has('old')).toBe(false);
    actor.send({ type: 'connection.left', connId: 'new' });
    expect(actor.getSnapshot().context.presence.has('device:dev-1')).toBe(false);
  });

  it('keeps a device in presence while any of its connections is open: the newer closing files the older again', () => {
    const { actor, emitted } = startSupervisor();
    actor.send({ type: 'connection.joined', connId: 'old', remoteAddr: '10.0.0.1', session: session({ deviceId: 'dev-1', connectedAt: 1 }) });
    actor.send({ type: 'connection.joined', connId: 'new', remoteAddr: '10.0.0.2', session: session({ deviceId: 'dev-1', connectedAt: 2 }) });
    const shown = () => listPresence(actor.getSnapshot().context).filter((entry) => entry.reason !== 'self');
    expect(shown()).toMatchObject([{ deviceId: 'dev-1', ip: '10.0.0.2', ts: 2 }]);
    emitted.splice(0);
    actor.send({ type: 'connection.left', connId: 'new' });
    expect(shown()).toMatchObject([{ deviceId: 'dev-1', ip: '10.0.0.1', ts: 1 }]);
    expect(actor.getSnapshot().context.presence.get('device:dev-1')?.connId).toBe('old');
    expect(emitted).toEqual(['presence.changed']);
    actor.send({ type: 'connection.left', connId: 'old' });
    expect(shown()).toEqual([]);
  });

  it('changes nothing anyone sees when a connection whose entry a newer one shows closes', () => {
    const { actor, emitted } = startSupervisor();
    for (const connId of ['a', 'b', 'c']) actor.send({ type: 'connection.joined', connId, remoteAddr: '10.0.0.1', session: session({ instanceId: 'tab' }) });
    const version = actor.getSnapshot().context.stateVersion.presence;
    emitted.splice(0);
    actor.send({ type: 'connection.left', connId: 'b' });
    expect(emitted).toEqual([]);
    expect(actor.getSnapshot().context.stateVersion.presence).toBe(version);
    actor.send({ type: 'connection.left', connId: 'c' });
    expect(actor.getSnapshot().context.presence.get('instance:tab')?.connId).toBe('a');
    actor.send({ type: 'connection.left', connId: 'a' });
    expect(actor.getSnapshot().context.presence.size).toBe(0);
    expect(actor.getSnapshot().context.presenceKeys.size).toBe(0);
  });

  it("never lets a client's instance id take another client's device entry", () => {
    const { actor } = startSupervisor();
    actor.send({ type: 'connection.joined', connId: 'device', remoteAddr: '10.0.0.1', session: session({ deviceId: 'abc' }) });
    actor.send({ type: 'connection.joined', connId: 'squatter', remoteAddr: '10.0.0.9', session: session({ instanceId: 'abc' }) });
    const shown = listPresence(actor.getSnapshot().context).filter((entry) => entry.reason !== 'self');
    expect(shown).toMatchObject([
      { instanceId: 'abc', ip: '10.0.0.9' },
      { deviceId: 'abc', ip: '10.0.0.1' },
    ]);
    actor.send({ type: 'connection.left', connId: 'squatter' });
    expect(listPresence(actor.getSnapshot().context).filter((entry) => entry.reason !== 'self')).toMatchObject([{ deviceId: 'abc' }]);
  });

  it('keeps the entry through every round of a reconnect storm (a new socket opens, then the previous one closes)', () => {
    const { actor } = startSupervisor();
    actor.send({ type: 'connection.joined', connId: 'c0', remoteAddr: '10.0.0.1', session: session({ deviceId: 'dev-1' }) });
    for (let round = 1; round <= 50; round++) {
      actor.send({ type: 'connection.joined', connId: `c${round}`, remoteAddr: '10.0.0.1', session: session({ deviceId: 'dev-1' }) });
      // The previous socket's close comes late, or the new one fails first: either way one stays open.
      actor.send({ type: 'connection.left', connId: round % 2 === 0 ? `c${round - 1}` : `c${round}` });
      const context = actor.getSnapshot().context;
      expect(context.presence.has('device:dev-1'), `round ${round}`).toBe(true);
      expect(context.connections.has(context.presence.get('device:dev-1')!.connId), `round ${round}`).toBe(true);
    }
  });

  it('evicts a whole key at the cap: its connections leave later without touching presence', () => {
    const { actor, emitted } = startSupervisor({ maxPresenceEntries: 1 });
    actor.send({ type: 'connection.joined', connId: 'a1', remoteAddr: '10.0.0.1', session: session({ instanceId: 'a' }) });
    actor.send({ type: 'connection.joined', connId: 'a2', remoteAddr: '10.0.0.1', session: session({ instanceId: 'a' }) });
    actor.send({ type: 'connection.joined', connId: 'b1', remoteAddr: '10.0.0.1', session: session({ instanceId: 'b' }) });
    expect([...actor.getSnapshot().context.presenceKeys.keys()]).toEqual(['b1']);
    emitted.splice(0);
    actor.send({ type: 'connection.left', connId: 'a2' });
    actor.send({ type: 'connection.left', connId: 'a1' });
    expect(emitted).toEqual([]);
    expect(listPresence(actor.getSnapshot().context).map((entry) => entry.instanceId ?? entry.reason)).toEqual(['b', 'self']);
  });

  it('broadcasts presence only for tracked clients, with a rising state version', () => {
    const { actor, emitted } = startSupervisor();
    actor.send({ type: 'connection.joined', connId: 'cli', remoteAddr: '127.0.0.1', session: session({ mode: 'cli' }) });
    actor.send({ type: 'connection.left', connId: 'cli' });
    expect(emitted).toEqual([]);
    actor.send({ type: 'connection.joined', connId: 'ui', remoteAddr: '127.0.0.1', session: session({ instanceId: 'u' }) });
    expect(emitted).toEqual(['presence.changed']);
    expect(actor.getSnapshot().context.stateVersion.presence).toBe(2);
  });

  it('caps presence, evicting the oldest entry', () => {
    const { actor } = startSupervisor({ maxPresenceEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) {
      actor.send({ type: 'connection.joined', connId: id, remoteAddr: '127.0.0.1', session: session({ instanceId: id }) });
    }
    const listed = listPresence(actor.getSnapshot().context).map((entry) => entry.instanceId ?? entry.reason);
    expect(listed).toEqual(['d', 'c', 'b', 'self']);
    actor.send({ type: 'connection.left', connId: 'a' });
    expect(listPresence(actor.getSnapshot().context)).toHaveLength(4);
  });

  it('emits a tick every tick interval', () => {
    const clock = new SimulatedClock();
    const { emitted } = startSupervisor({ clock });
    clock.increment(999);
    expect(emitted).toEqual([]);
    clock.increment(1);
    clock.increment(1_000);
    expect(emitted).toEqual(['tick', 'tick']);
  });
});
