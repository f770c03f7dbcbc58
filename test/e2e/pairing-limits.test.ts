// Pairing under a flood, over real sockets: requests beyond the pending list or an address's share are
// refused (never filed over a genuine one), silent pairings are rate-limited per address, and paired
// devices are capped. A healthy client keeps being served throughout.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import type { GatewayOptions } from '../../src/config/options.js';
import { connectClient, connectParams, TestClient, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
  gw = undefined;
});

type ErrorFrame = { code: string; message: string; retryable?: boolean; retryAfterMs?: number; details?: Record<string, unknown> };
const errorOf = (frame: Frame) => frame.error as ErrorFrame;

async function start(options: GatewayOptions): Promise<TestGateway> {
  gw = await startTestGateway(options);
  return gw;
}

/** Connects as an operator device; the connect response, and how the socket was closed if it was refused. */
async function connectDevice(device: TestDevice = createDevice()) {
  const client = await TestClient.open(gw!.url);
  clients.push(client);
  const nonce = await client.challengeNonce();
  const params: ConnectParams = connectParams({
    auth: { token: gw!.token },
    scopes: ['operator.read'],
    client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  const response = await client.request('connect', params);
  return { client, response, closed: response.ok ? undefined : await client.closed };
}

async function operator(scopes = ['operator.admin']) {
  const { client } = await connectClient(gw!.url, gw!.token, { scopes });
  clients.push(client);
  return client;
}

/** Runs `count` fresh-identity connects, `concurrency` at a time; the refusals' detail codes, counted. */
async function flood(count: number, concurrency = 16): Promise<Map<string, number>> {
  const codes = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const { client, response } = await connectDevice();
      const code = String(errorOf(response)?.details?.code ?? 'ok');
      codes.set(code, (codes.get(code) ?? 0) + 1);
      client.ws.terminate();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return codes;
}

/** A healthy client meanwhile: a handshake and a `health` round trip, over and over, each must succeed. */
function healthyClient() {
  let stop = false;
  let rounds = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (!stop) {
      try {
        const { client } = await connectClient(gw!.url, gw!.token);
        const health = await client.request('health');
        if (!health.ok) failures.push(JSON.stringify(health.error));
        client.ws.terminate();
        rounds++;
      } catch (error) {
        failures.push(String(error));
      }
    }
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { rounds, failures };
    },
  };
}

describe('pairing requests under a flood (manual pairing)', () => {
  it('refuses requests beyond the pending list; the genuine one stays, is approved, and its resolution is announced', async () => {
    await start({ pairing: 'manual', pairingMaxPending: 40, pairingMaxPendingPerAddress: 1_000 });
    const admin = await operator();
    const genuine = createDevice();
    const asked = await connectDevice(genuine);
    const requestId = errorOf(asked.response).details!.requestId as string;
    expect(errorOf(asked.response).details).toMatchObject({ code: 'PAIRING_REQUIRED', deviceId: genuine.id });

    const healthy = healthyClient();
    const codes = await flood(120);
    const served = await healthy.finish();
    // 39 more fit beside the genuine request; every other fresh identity was refused, none filed over another.
    expect(codes.get('PAIRING_REQUIRED')).toBe(39);
    expect(codes.get('PAIRING_REQUESTS_LIMITED')).toBe(81);
    expect(served.failures).toEqual([]);
    expect(served.rounds).toBeGreaterThan(0);

    const listed = (await admin.request('device.pair.list')).payload as { pending: { requestId: string }[] };
    expect(listed.pending).toHaveLength(40);
    expect(listed.pending.map((request) => request.requestId)).toContain(requestId);

    const resolved = admin.next((frame) => frame.type === 'event' && frame.event === 'device.pair.resolved' && (frame.payload as { requestId: string }).requestId === requestId);
    const approved = await admin.request('device.pair.approve', { requestId });
    expect(approved.ok).toBe(true);
    expect((await resolved).payload).toMatchObject({ requestId, deviceId: genuine.id, decision: 'approved' });
    expect((await connectDevice(genuine)).response.ok).toBe(true);
    // Operators were told of each filed request only: 40, not one per flooding connect.
    const requested = admin.frames.filter((frame) => frame.type === 'event' && frame.event === 'device.pair.requested');
    expect(requested).toHaveLength(40);
  });

  it('refuses a flooding address beyond its share, with a retryable error and close 1008, and leaves room for others', async () => {
    await start({ pairing: 'manual', pairingMaxPendingPerAddress: 5 });
    const codes = await flood(12, 4);
    expect(codes.get('PAIRING_REQUIRED')).toBe(5);
    expect(codes.get('PAIRING_REQUESTS_LIMITED')).toBe(7);

    const refused = await connectDevice();
    expect(errorOf(refused.response)).toMatchObject({
      code: 'INVALID_REQUEST',
      retryable: true,
      retryAfterMs: 60_000,
      details: { code: 'PAIRING_REQUESTS_LIMITED', reason: 'address-full' },
    });
    expect(refused.closed).toEqual({ code: 1008, reason: 'too many pairing requests' });
    const log = await gw!.logs.waitFor((line) => line.detail === 'PAIRING_REQUESTS_LIMITED');
    expect(log).toMatchObject({ msg: 'handshake rejected', code: 1008 });
  });
});

describe('silent pairing and the paired cap (auto-local)', () => {
  it('rate-limits silent pairings per address; devices already paired still come in', async () => {
    await start({ pairing: 'auto-local', pairingSilentMax: 3, pairingSilentWindowMs: 600_000 });
    const first = createDevice();
    expect((await connectDevice(first)).response.ok).toBe(true);
    expect((await connectDevice()).response.ok).toBe(true);
    expect((await connectDevice()).response.ok).toBe(true);
    const refused = await connectDevice();
    expect(errorOf(refused.response)).toMatchObject({ code: 'INVALID_REQUEST', retryable: true, details: { code: 'PAIRING_RATE_LIMITED' } });
    expect(errorOf(refused.response).retryAfterMs).toBeGreaterThan(0);
    expect(refused.closed).toEqual({ code: 1008, reason: 'too many pairings' });
    expect((await connectDevice(first)).response.ok).toBe(true);
    const admin = await operator();
    const listed = (await admin.request('device.pair.list')).payload as { paired: unknown[] };
    expect(listed.paired).toHaveLength(3);
  });

  it('pairs no device past the cap, silently or by approval, until one is removed', async () => {
    await start({ pairing: 'auto-local', pairingMaxDevices: 2 });
    const kept = createDevice();
    const removed = createDevice();
    expect((await connectDevice(kept)).response.ok).toBe(true);
    expect((await connectDevice(removed)).response.ok).toBe(true);
    const refused = await connectDevice();
    expect(errorOf(refused.response)).toMatchObject({ code: 'INVALID_REQUEST', details: { code: 'PAIRING_LIMIT_REACHED' } });
    expect(refused.closed).toEqual({ code: 1008, reason: 'pairing limit reached' });
    expect((await connectDevice(kept)).response.ok).toBe(true);

    const admin = await operator();
    expect((await admin.request('device.pair.remove', { deviceId: removed.id })).ok).toBe(true);
    expect((await connectDevice()).response.ok).toBe(true);
  });
});
