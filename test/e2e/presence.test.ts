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

  it('sends a lone join to the others promptly: within the presence window (50 ms), with room for a loaded machine', async () => {
    gw = await startTestGateway();
    const { client: a } = await connectClient(gw.url, gw.token);
    await a.event('presence'); // A's own join
    const { client: b, params: paramsB } = await connectClient(gw.url, gw.token);
    const joinedAt = Date.now();
    await a.next((frame) => frame.event === 'presence' && presenceOf(frame).some((entry) => entry.instanceId === paramsB.client.instanceId), 2_000);
    expect(Date.now() - joinedAt).toBeLessThan(500);
    await b.close();
    await a.close();
  });

  it('does not track CLI-mode clients', async () => {
    gw = await startTestGateway();
    const { client: a } = await connectClient(gw.url, gw.token);
    const { client: cli } = await connectClient(gw.url, gw.token, { client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli' } });
    const listed = await a.request('system-presence');
    expect((listed.payload as any[]).some((entry) => entry.mode === 'cli')).toBe(false);
    await cli.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A's own join is the only presence change.
    expect(a.frames.filter((frame) => frame.event === 'presence')).toHaveLength(1);
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
