// Presence, ticks and shutdown as connected clients see them.
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, type Frame } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const presenceOf = (frame: Frame) => (frame.payload as { presence: { instanceId?: string; reason?: string }[] }).presence;
const versionOf = (frame: Frame) => (frame.stateVersion as { presence: number }).presence;

describe('presence', () => {
  it('shows client A a presence event when client B connects and when it leaves, with rising stateVersion', async () => {
    gw = await startTestGateway();
    const { client: a, hello } = await connectClient(gw.url, gw.token);
    const startVersion = (hello.snapshot as any).stateVersion.presence as number;
    await a.event('presence'); // A's own join

    const { client: b, params: paramsB } = await connectClient(gw.url, gw.token);
    const joined = await a.event('presence', 1);
    const bInstance = paramsB.client.instanceId;
    expect(presenceOf(joined).map((entry) => entry.instanceId)).toContain(bInstance);
    expect(presenceOf(joined)[0]!.instanceId).toBe(bInstance);
    expect(presenceOf(joined).at(-1)!.reason).toBe('self');
    expect(versionOf(joined)).toBeGreaterThan(startVersion);
    expect(typeof joined.seq).toBe('number');

    await b.close();
    const left = await a.event('presence', 2);
    expect(presenceOf(left).map((entry) => entry.instanceId)).not.toContain(bInstance);
    expect(versionOf(left)).toBeGreaterThan(versionOf(joined));
    expect(left.seq as number).toBeGreaterThan(joined.seq as number);
    await a.close();
  });

  it('sends a lone join to the others at once, not at the end of the presence window', async () => {
    // A window far longer than a handshake on a loaded machine: a join held for the window's end would come
    // 10 s late, one sent at once well within half of it. The observer is CLI-mode, so its own join changes
    // nothing in presence and opens no window: B's join is the first change, a lone one.
    const WINDOW_MS = 10_000;
    gw = await startTestGateway({ presenceWindowMs: WINDOW_MS });
    const { client: observer } = await connectClient(gw.url, gw.token, { client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli' } });
    const { client: b, params: paramsB } = await connectClient(gw.url, gw.token);
    const joined = await observer.next(
      (frame) => frame.event === 'presence' && presenceOf(frame).some((entry) => entry.instanceId === paramsB.client.instanceId),
      WINDOW_MS / 2,
    );
    expect(observer.frames.filter((frame) => frame.event === 'presence')).toEqual([joined]);
    await b.close();
    await observer.close();
  });

  it('does not track CLI-mode clients', async () => {
    gw = await startTestGateway();
    const { client: a } = await connectClient(gw.url, gw.token);
    const ownJoin = await a.event('presence');
    const { client: cli, hello: helloCli } = await connectClient(gw.url, gw.token, { client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli' } });
    const listed = await a.request('system-presence');
    expect((listed.payload as any[]).some((entry) => entry.mode === 'cli')).toBe(false);
    await cli.close();
    const cliConnId = (helloCli.server as { connId: string }).connId;
    await gw.logs.waitFor((line) => line.event === 'connection.closed' && line.connId === cliConnId);
    // A barrier: a tracked client joins after the CLI client came and went. Its join is the next presence change
    // (one more stateVersion), and A's presence frames up to it are A's own join and this one: none for the CLI.
    const { client: c, params: paramsC } = await connectClient(gw.url, gw.token);
    const joinedC = await a.next((frame) => frame.event === 'presence' && presenceOf(frame).some((entry) => entry.instanceId === paramsC.client.instanceId));
    expect(versionOf(joinedC)).toBe(versionOf(ownJoin) + 1);
    expect(a.frames.filter((frame) => frame.event === 'presence')).toEqual([ownJoin, joinedC]);
    await c.close();
    await a.close();
  });

  it('lists presence newest first with the gateway last', async () => {
    gw = await startTestGateway();
    const { client: a, params: paramsA } = await connectClient(gw.url, gw.token);
    const { client: b, params: paramsB } = await connectClient(gw.url, gw.token);
    // Both joins may land in one presence window, and so in one frame.
    await a.next((frame) => frame.event === 'presence' && presenceOf(frame).some((entry) => entry.instanceId === paramsB.client.instanceId));
    const list = (await a.request('system-presence')).payload as any[];
    expect(list.map((entry) => entry.instanceId ?? entry.reason)).toEqual([paramsB.client.instanceId, paramsA.client.instanceId, 'self']);
    await a.close();
    await b.close();
  });
});

describe('tick and shutdown', () => {
  it('sends tick every tickIntervalMs', async () => {
    gw = await startTestGateway({ tickIntervalMs: 100 });
    const { client } = await connectClient(gw.url, gw.token);
    const first = await client.event('tick');
    const second = await client.event('tick', 1);
    const gap = (second.payload as any).ts - (first.payload as any).ts;
    expect(gap).toBeGreaterThanOrEqual(80);
    expect(gap).toBeLessThan(1_000);
    await client.close();
  });

  it('sends shutdown, then closes 1012, and refuses new upgrades while stopping', async () => {
    const local = await startTestGateway();
    const { client } = await connectClient(local.url, local.token);
    const stopping = local.close();
    const shutdown = await client.event('shutdown');
    expect((shutdown.payload as any).reason).toBe('test finished');
    expect(await client.closed).toEqual({ code: 1012, reason: 'gateway shutting down' });
    await stopping;
    expect(local.gateway.connectionCount()).toBe(0);
  });
});
