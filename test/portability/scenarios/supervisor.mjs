// The supervisor machine: presence, its version and cap, and the tick.
export const group = 'supervisor';

export async function define({ scenario, assert, machinesBase }) {
  const { createActor, SimulatedClock } = await import('xstate');
  const { supervisorMachine, listPresence } = await import(`${machinesBase}/supervisor.js`);

  const SELF = { host: 'gateway', reason: 'self', ts: 0 };

  function start(input = {}) {
    const clock = new SimulatedClock();
    const actor = createActor(supervisorMachine, { clock, input: { self: SELF, tickIntervalMs: 1_000, ...input } });
    const emitted = [];
    actor.on('*', (event) => emitted.push(event));
    actor.start();
    const context = () => actor.getSnapshot().context;
    return {
      actor,
      clock,
      emitted,
      context,
      types: () => emitted.map((event) => event.type),
      listed: () => listPresence(context()).map((entry) => entry.instanceId ?? entry.deviceId ?? entry.reason),
      join: (connId, client = {}, extra = {}) =>
        actor.send({ type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session: session(client, extra) }),
      leave: (connId) => actor.send({ type: 'connection.left', connId }),
    };
  }

  function session(client, extra) {
    return {
      protocol: 4,
      role: 'operator',
      scopes: ['operator.read'],
      client: { id: 'test', version: '1', platform: 'linux', mode: 'ui', ...client },
      caps: [],
      commands: [],
      connectedAt: 42,
      ...extra,
    };
  }

  scenario('presence join and leave, each with a new stateVersion', () => {
    const s = start();
    assert.equal(s.context().stateVersion, { presence: 1, health: 1 }, 'initial version');
    s.join('c1', { instanceId: 'i1', displayName: 'laptop' });
    assert.equal(s.types(), ['presence.changed'], 'join broadcast');
    assert.match(s.emitted[0], { stateVersion: { presence: 2 } });
    assert.equal(s.emitted[0].presence, [
      {
        host: 'laptop',
        ip: '127.0.0.1',
        version: '1',
        platform: 'linux',
        mode: 'ui',
        reason: 'connect',
        ts: 42,
        roles: ['operator'],
        scopes: ['operator.read'],
        instanceId: 'i1',
      },
      SELF,
    ]);
    s.leave('c1');
    assert.equal(s.types(), ['presence.changed', 'presence.changed'], 'leave broadcast');
    assert.equal(s.emitted[1], { type: 'presence.changed', presence: [SELF], stateVersion: { presence: 3, health: 1 } });
    assert.equal(s.context().connections.size, 0, 'unregistered');
  });

  scenario('CLI clients are registered but not tracked in presence', () => {
    const s = start();
    s.join('cli', { mode: 'cli' });
    assert.ok(s.context().connections.has('cli'), 'registered');
    assert.equal(s.listed(), ['self'], 'not listed');
    s.leave('cli');
    assert.equal(s.emitted, [], 'nothing broadcast');
    assert.equal(s.context().stateVersion.presence, 1, 'version unchanged');
    assert.equal(s.context().connections.size, 0, 'unregistered');
  });

  scenario("a reconnected device is not removed by the old connection's late leave", () => {
    const s = start();
    s.join('old', {}, { deviceId: 'dev-1' });
    s.join('new', {}, { deviceId: 'dev-1' });
    assert.equal(s.listed(), ['dev-1', 'self'], 'one entry per device');
    s.leave('old');
    assert.equal(s.context().presence.get('device:dev-1')?.connId, 'new', 'the new connection owns the entry');
    assert.equal(s.listed(), ['dev-1', 'self'], 'still listed');
    assert.equal(s.context().stateVersion.presence, 3, 'the late leave changes nothing');
    s.leave('new');
    assert.equal(s.listed(), ['self'], 'removed by its owner');
    assert.equal(s.context().stateVersion.presence, 4, 'version after the real leave');
  });

  scenario('presence is capped (200 by default), evicting the oldest entry', () => {
    assert.equal(start().context().maxPresenceEntries, 200, 'default cap');
    const s = start({ maxPresenceEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) s.join(id, { instanceId: id });
    assert.equal(s.listed(), ['d', 'c', 'b', 'self'], 'newest first, oldest evicted');
    const broadcasts = s.emitted.length;
    s.leave('a');
    assert.equal(s.listed(), ['d', 'c', 'b', 'self'], "the evicted connection's leave removes nothing");
    assert.equal(s.emitted.length, broadcasts, 'and broadcasts nothing');
    s.join('b2', { instanceId: 'b' });
    assert.equal(s.listed(), ['b', 'd', 'c', 'self'], 'a refreshed key moves to the newest position');
  });

  scenario('tick at the tick interval', () => {
    const s = start({ tickIntervalMs: 1_000 });
    s.clock.increment(999);
    assert.equal(s.types(), [], 'no tick before the interval');
    s.clock.increment(1);
    assert.equal(s.types(), ['tick'], 'first tick');
    s.clock.increment(1_000);
    s.clock.increment(1_000);
    assert.equal(s.types(), ['tick', 'tick', 'tick'], 'one tick per interval');
  });
}
