// Liveness over real sockets: one timer pings every socket; a peer that stops answering is terminated
// through its connection actor, so its presence and node entries go with it; peers that answer stay.
import { afterEach, describe, expect, it } from 'vitest';
import { connectParams, type TestClient } from '../helpers/client.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { cleanUp, openWith, startHardened, track, until } from '../helpers/hardened.js';
import { connectClient } from '../helpers/client.js';

afterEach(cleanUp);

// A peer answering pings is terminated only if its pong misses a whole interval. Gateway and clients share this
// process, and the pinger runs in the timers phase before the poll phase reads a pong already waiting: a GC or a
// deschedule as long as the interval would end a healthy peer. A second is far beyond either on a loaded machine.
const PING_MS = 1_000;

/** Counts the pings a client receives: each one after the first means its pong to the one before was in time. */
function countPings(client: TestClient): () => number {
  let pings = 0;
  client.ws.on('ping', () => pings++);
  return () => pings;
}

async function handshake(client: TestClient, overrides = {}) {
  await client.challenge();
  const response = await client.request('connect', connectParams({ auth: { token: TEST_TOKEN }, ...overrides }));
  expect(response.ok).toBe(true);
  return response;
}

describe('server pings', () => {
  it('terminates a peer that stops answering pings, and cleans its presence and node entries', async () => {
    const { gateway, url, logs } = await startHardened({ pingIntervalMs: PING_MS });
    const watcher = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.read'] })).client);
    // A node host and a tracked operator that stop answering pings once ready (their sockets stay open).
    const deafNode = await openWith(url);
    await handshake(deafNode, {
      role: 'node',
      scopes: [],
      client: { id: 'deaf-node', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.run'],
    });
    const deafUi = await openWith(url);
    await handshake(deafUi, { client: { id: 'deaf-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: 'deaf-ui-1' } });
    expect(gateway.stats()).toMatchObject({ ready: 3, nodesConnected: 1 });
    const listed = (await watcher.request('system-presence')).payload as { instanceId?: string }[];
    expect(listed.some((entry) => entry.instanceId === 'deaf-ui-1')).toBe(true);
    for (const deaf of [deafNode, deafUi]) (deaf.ws as unknown as { _autoPong: boolean })._autoPong = false;

    // Within two intervals of their last pong both are gone; the watcher answers its pings and stays.
    const [nodeClosed, uiClosed] = await Promise.all([deafNode.closed, deafUi.closed]);
    expect(nodeClosed.code).toBe(1006);
    expect(uiClosed.code).toBe(1006);
    const lines = logs.lines.filter((line) => line.cause === 'pong-timeout');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatchObject({ level: 40, code: 1006, reason: 'pong timeout', detail: `no pong within ${PING_MS} ms` });
      expect(line.msg).toBe(`pong timeout conn=${String(line.connId)}`);
    }
    await until(() => gateway.stats().nodesConnected === 0 && gateway.stats().sockets === 1, 5_000, 'cleanup');
    // The watcher's own entry is what is left in presence.
    expect(gateway.stats()).toMatchObject({ ready: 1, presenceEntries: 1, nodesConnected: 0, liveConnectionActors: 1 });
    const after = (await watcher.request('system-presence')).payload as { instanceId?: string }[];
    expect(after.some((entry) => entry.instanceId === 'deaf-ui-1')).toBe(false);
    const nodes = (await watcher.request('node.list')).payload as { nodes: { nodeId: string; connected: boolean }[] };
    expect(nodes.nodes.filter((node) => node.connected)).toEqual([]);
  });

  it('keeps peers that answer, across many intervals, with no timer per connection', async () => {
    const { gateway, url, logs } = await startHardened({ pingIntervalMs: PING_MS });
    const clients = await Promise.all(Array.from({ length: 5 }, () => connectClient(url, TEST_TOKEN)));
    for (const { client } of clients) track(client);
    const timersWithFive = gateway.stats().pendingTimers;
    // A barrier rather than a wait: each client receives four more pings. The gateway sends a round's ping only
    // to a peer whose pong to the round before came back: a peer judged to have missed one is terminated instead.
    const pings = clients.map(({ client }) => countPings(client));
    await until(() => pings.every((count) => count() >= 4), PING_MS * 10, 'four pings each');
    for (const { client } of clients) expect((await client.request('health')).ok).toBe(true);
    expect(logs.lines.filter((line) => line.cause === 'pong-timeout')).toEqual([]);
    // Pings run on one interval of the gateway's own: the actors' clock holds no timer per socket for them.
    const more = await Promise.all(Array.from({ length: 5 }, () => connectClient(url, TEST_TOKEN)));
    for (const { client } of more) track(client);
    expect(gateway.stats().pendingTimers).toBe(timersWithFive);
  });

  it('terminates a peer that goes silent during its handshake too', async () => {
    const { gateway, url, logs } = await startHardened({ pingIntervalMs: PING_MS, handshakeTimeoutMs: 10_000 });
    const silent = await openWith(url, { autoPong: false });
    await silent.challenge();
    expect((await silent.closed).code).toBe(1006);
    expect(logs.find((line) => line.cause === 'pong-timeout')).toMatchObject({ code: 1006 });
    await until(() => gateway.stats().sockets === 0 && gateway.unauthenticatedCount('127.0.0.1') === 0, 5_000, 'cleanup');
  });
});
