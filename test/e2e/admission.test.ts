// Admission over real sockets: the global cap on connections (HTTP 503 before any actor), the limit on
// refused calls after the handshake, client addresses behind a trusted proxy, and sanitised header logs.
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { LEVEL, TEST_TOKEN } from '../helpers/gateway.js';
import { cleanUp, openWith, startHardened, track, until, upgradeStatus } from '../helpers/hardened.js';

afterEach(cleanUp);

describe('global cap on connections', () => {
  it('refuses upgrades past --max-connections with HTTP 503 before any actor exists, and admits again once one closes', async () => {
    const { gateway, url, logs } = await startHardened({ maxConnections: 3 });
    const ready = track((await connectClient(url, TEST_TOKEN)).client);
    const pending = [track(await TestClient.open(url)), track(await TestClient.open(url))];
    await until(() => gateway.connectionCount() === 3);
    const actorsBefore = gateway.stats().liveConnectionActors;
    expect(await upgradeStatus(url)).toBe(503);
    expect(await upgradeStatus(url)).toBe(503);
    expect(gateway.stats().liveConnectionActors).toBe(actorsBefore);
    const rejected = logs.lines.filter((line) => line.event === 'upgrade.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: LEVEL.warn, reason: 'too many connections', limit: 3, count: 3 });
    expect((await ready.request('health')).ok).toBe(true);

    await pending[0]!.close();
    await until(() => gateway.connectionCount() === 2);
    expect(await upgradeStatus(url)).toBe(101);
  });
});

describe('refused calls after the handshake', () => {
  it('answers each refusal, then closes 1008 "too many unauthorized calls" once more than the limit come within the window', async () => {
    const { gateway, url, logs } = await startHardened({ unauthorizedCallLimit: 3, unauthorizedCallWindowMs: 60_000 });
    const reader = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.read'] })).client);
    // Allowed calls and bad params do not count.
    expect((await reader.request('health')).ok).toBe(true);
    expect((await reader.request('node.describe', { nodeId: 42 })).ok).toBe(false);
    for (let i = 0; i < 3; i++) {
      const refused = await reader.request('device.pair.list');
      expect(refused.error).toMatchObject({ code: 'FORBIDDEN', details: { code: 'MISSING_SCOPE' } });
    }
    expect((await reader.request('health')).ok).toBe(true);
    const fourth = await reader.request('node.pair.approve', { requestId: 'x' });
    expect(fourth.error).toMatchObject({ details: { code: 'MISSING_SCOPE' } });
    expect(await reader.closed).toEqual({ code: 1008, reason: 'too many unauthorized calls' });
    const line = await logs.waitFor((entry) => entry.cause === 'unauthorized-calls');
    expect(line).toMatchObject({
      level: LEVEL.warn,
      msg: 'too many unauthorized calls',
      code: 1008,
      detail: '4 refused within 60000 ms, last node.pair.approve (MISSING_SCOPE)',
    });
    await until(() => gateway.stats().sockets === 0);

    // A node calling operator methods is refused for its role: the same limit.
    const node = track(
      (
        await connectClient(url, TEST_TOKEN, {
          role: 'node',
          scopes: [],
          client: { id: 'curious-node', version: '1.0.0', platform: 'linux', mode: 'node' },
        })
      ).client,
    );
    for (let i = 0; i < 4; i++) expect((await node.request('node.list')).error).toMatchObject({ details: { code: 'ROLE_NOT_ALLOWED' } });
    expect((await node.closed).code).toBe(1008);
  });
});

describe('behind a reverse proxy', () => {
  const local = { client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui' as const } };

  it('takes the client address from X-Forwarded-For only when the peer is a trusted proxy', async () => {
    const { gateway, url, logs } = await startHardened({
      trustedProxies: ['127.0.0.1'],
      maxPreauthPerAddress: 1,
    });
    const first = await openWith(url, { headers: { 'X-Forwarded-For': '198.51.100.9, 203.0.113.7' } });
    await first.challenge();
    // One pending socket per client address: another client behind the same proxy still gets in.
    expect(gateway.unauthenticatedCount('203.0.113.7')).toBe(1);
    expect(gateway.unauthenticatedCount('127.0.0.1')).toBe(0);
    expect(await upgradeStatus(url, { 'X-Forwarded-For': '203.0.113.7' })).toBe(503);
    const second = await openWith(url, { headers: { 'X-Forwarded-For': '203.0.113.8' } });
    await second.challenge();
    const opened = logs.lines.filter((line) => line.event === 'connection.opened');
    expect(opened.map((line) => line.remoteAddr)).toEqual(['203.0.113.7', '203.0.113.8']);
    expect(opened[0]).toMatchObject({ peerAddr: '127.0.0.1' });

    // A forwarded client is not local: its device is not paired silently.
    const device = createDevice();
    const nonce = await first.challengeNonce();
    const params = connectParams({ auth: { token: TEST_TOKEN }, scopes: ['operator.read'], ...local });
    params.device = signDevice(device, params, nonce);
    const response = await first.request('connect', params);
    expect(response.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED' } });
    expect(gateway.state.devicePairing().pending).toHaveLength(1);
    expect(gateway.state.devicePairing().pending[0]).toMatchObject({ remoteIp: '203.0.113.7' });
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const { gateway, url, logs } = await startHardened({ maxPreauthPerAddress: 1 });
    const spoofing = await openWith(url, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
    await spoofing.challenge();
    expect(gateway.unauthenticatedCount('127.0.0.1')).toBe(1);
    expect(await upgradeStatus(url, { 'X-Forwarded-For': '203.0.113.99' })).toBe(503);
    expect(logs.find((line) => line.event === 'connection.opened')).toMatchObject({ remoteAddr: '127.0.0.1' });
  });
});

describe('logged header values', () => {
  it('are logged without control characters and at most 256 characters long', async () => {
    const { url, logs } = await startHardened();
    const agent = `agent\x9b31m\x85end ${'x'.repeat(1_000)}`;
    const client = await openWith(url, { headers: { 'User-Agent': agent, Origin: 'http://example.test\x9b' } });
    await client.challenge();
    const line = await logs.waitFor((entry) => entry.event === 'connection.opened');
    expect(String(line.userAgent)).toMatch(/^agent31mend x+$/);
    expect(String(line.userAgent)).toHaveLength(256);
    expect(line.origin).toBe('http://example.test');
  });
});

describe('slow upgrade requests', () => {
  it('cuts off a connection that sends nothing, or never finishes its upgrade headers, after the handshake timeout', async () => {
    const { gateway } = await startHardened({ handshakeTimeoutMs: 1_000 });
    const { connect } = await import('node:net');
    // Timed on performance.now (Node's monotonic clock) from before the connect.
    const closedAfter = (send?: string) =>
      new Promise<number>((resolve) => {
        const started = performance.now();
        const socket = connect(gateway.port, '127.0.0.1', () => {
          if (send) socket.write(send);
        });
        socket.on('error', () => {});
        // Read what comes (a 408 for the unfinished request): a paused socket never sees the end, nor closes.
        socket.resume();
        socket.on('close', () => resolve(performance.now() - started));
      });
    const [idle, partial] = await Promise.all([
      closedAfter(),
      closedAfter('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'),
    ]);
    for (const elapsed of [idle, partial]) {
      // Not before the timeout: Node's server cuts a connection when its idle timer expires (armed on the accept
      // or the last read, in whole ms of a freshly read loop clock: up to 2 ms of rounding) or when its check, every
      // second here, finds headers unfinished for longer than the timeout on its monotonic clock. The same rule as
      // the dribbling sockets of slowloris.test.ts.
      expect(elapsed).toBeGreaterThanOrEqual(1_000 - 2);
      // At the latest at the first check after the timeout (a second later), with room for a loaded machine.
      expect(elapsed).toBeLessThan(3_500);
    }
  });
});
