// Device pairing end to end: pairing required, approval and the device token, expiry, revocation
// with 4001, silent local approval, and pairing that survives a restart of the gateway.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import { connectClient, connectParams, TestClient, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
const clients: TestClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
  gw = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const payloadOf = (frame: Frame) => frame.payload as Record<string, any>;
const errorOf = (frame: Frame) => frame.error as { code: string; message: string; details?: Record<string, any> };

/** Connects as an operator device; resolves with the connect response and the client. */
async function connectDevice(
  url: string,
  device: TestDevice,
  auth: ConnectParams['auth'],
  headers: Record<string, string> = {},
): Promise<{ client: TestClient; response: Frame }> {
  const client = await TestClient.open(url, headers);
  clients.push(client);
  const nonce = await client.challengeNonce();
  const params = connectParams({
    auth,
    scopes: ['operator.read'],
    client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  return { client, response: await client.request('connect', params) };
}

async function admin(url: string, token: string) {
  const { client } = await connectClient(url, token, { scopes: ['operator.admin'] });
  clients.push(client);
  return client;
}

function tempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'actorgate-pairing-'));
  dirs.push(dir);
  return dir;
}

describe('device pairing (manual)', () => {
  it('refuses an unpaired device with NOT_PAIRED and a request id, then admits it once approved', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();

    const first = await connectDevice(gw.url, device, { token: gw.token });
    expect(first.response.ok).toBe(false);
    const error = errorOf(first.response);
    expect(error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED', deviceId: device.id } });
    const requestId = error.details!.requestId as string;
    expect(requestId).toEqual(expect.any(String));
    expect(await first.client.closed).toEqual({ code: 1008, reason: 'pairing required' });
    const log = await gw.logs.waitFor((line) => line.detail === 'PAIRING_REQUIRED');
    expect(log).toMatchObject({ msg: 'handshake rejected', code: 1008 });

    expect(payloadOf(await operator.event('device.pair.requested'))).toMatchObject({ requestId, deviceId: device.id });
    // A second attempt while the request is open reuses it.
    const again = await connectDevice(gw.url, device, { token: gw.token });
    expect(errorOf(again.response).details!.requestId).toBe(requestId);
    const listed = payloadOf(await operator.request('device.pair.list'));
    expect(listed.pending).toEqual([expect.objectContaining({ requestId, deviceId: device.id, clientId: 'openclaw-control-ui' })]);

    const approved = await operator.request('device.pair.approve', { requestId });
    expect(payloadOf(approved).device).toMatchObject({ deviceId: device.id, silent: false });
    expect(payloadOf(approved).device.token).toBeUndefined();
    expect(payloadOf(await operator.event('device.pair.resolved'))).toMatchObject({ requestId, decision: 'approved' });

    const admitted = await connectDevice(gw.url, device, { token: gw.token });
    expect(admitted.response.ok).toBe(true);
    const deviceToken = payloadOf(admitted.response).auth.deviceToken as string;
    expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The device token alone now lets it in; someone else's guess does not.
    const byToken = await connectDevice(gw.url, device, { deviceToken });
    expect(byToken.response.ok).toBe(true);
    const wrong = await connectDevice(gw.url, device, { deviceToken: 'x'.repeat(43) });
    expect(errorOf(wrong.response).details).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    const stranger = await connectDevice(gw.url, createDevice(), { deviceToken });
    expect(errorOf(stranger.response).details).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
  });

  it('rejects requests, and answers an unknown one with "unknown requestId"', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const first = await connectDevice(gw.url, device, { token: gw.token });
    const requestId = errorOf(first.response).details!.requestId as string;
    const rejected = await operator.request('device.pair.reject', { requestId });
    expect(payloadOf(rejected)).toMatchObject({ requestId, decision: 'rejected' });
    expect(errorOf(await operator.request('device.pair.approve', { requestId })).message).toBe('unknown requestId');
    const again = await connectDevice(gw.url, device, { token: gw.token });
    expect(errorOf(again.response).details!.requestId).not.toBe(requestId);
  });

  it('expires a request nobody answers', async () => {
    // Nothing has to beat the expiry: every frame is kept, and the expiry is only waited for.
    gw = await startTestGateway({ pairing: 'manual', pairingTtlMs: 1_000 });
    const operator = await admin(gw.url, gw.token);
    const second = await connectDevice(gw.url, createDevice(), { token: gw.token });
    const secondId = errorOf(second.response).details!.requestId as string;
    const expired = await operator.next((f) => f.event === 'device.pair.resolved' && payloadOf(f).decision === 'expired');
    expect(payloadOf(expired).requestId).toBe(secondId);
    expect(payloadOf(await operator.request('device.pair.list')).pending).toEqual([]);
  });

  it('closes a removed device\'s live sockets with 4001 and refuses its token afterwards', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const live = await connectDevice(gw.url, device, { token: gw.token });
    const deviceToken = payloadOf(live.response).auth.deviceToken as string;
    expect(deviceToken).toEqual(expect.any(String));

    const removed = await operator.request('device.pair.remove', { deviceId: device.id });
    expect(payloadOf(removed)).toEqual({ deviceId: device.id, removed: true, revokedConnections: 1 });
    expect(await live.client.closed).toEqual({ code: 4001, reason: 'device removed' });
    await gw.logs.waitFor((line) => line.msg === 'credentials revoked' && line.code === 4001);

    const retry = await connectDevice(gw.url, device, { deviceToken });
    expect(errorOf(retry.response).details).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    expect(errorOf(await operator.request('device.pair.remove', { deviceId: device.id })).details).toMatchObject({
      code: 'DEVICE_NOT_FOUND',
    });
  });
});

describe('device pairing (auto-local)', () => {
  it('pairs a loopback client silently, but not one that sends a browser Origin', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const local = await connectDevice(gw.url, createDevice(), { token: gw.token });
    expect(local.response.ok).toBe(true);
    expect(payloadOf(local.response).auth.deviceToken).toEqual(expect.any(String));

    const browser = await connectDevice(gw.url, createDevice(), { token: gw.token }, { origin: 'http://localhost:5173' });
    expect(errorOf(browser.response)).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED' } });
  });

  it('does not ask clients without a device identity to pair', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const { hello } = await connectClient(gw.url, gw.token);
    expect((hello.auth as Record<string, unknown>).deviceToken).toBeUndefined();
  });
});

describe('pairing state on disk', () => {
  it('keeps approved devices and nodes across a restart, in a 0600 file', async () => {
    const stateDir = tempStateDir();
    gw = await startTestGateway({ pairing: 'manual', stateDir });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const refused = await connectDevice(gw.url, device, { token: gw.token });
    await operator.request('device.pair.approve', { requestId: errorOf(refused.response).details!.requestId });
    const admitted = await connectDevice(gw.url, device, { token: gw.token });
    const deviceToken = payloadOf(admitted.response).auth.deviceToken as string;

    const { client: nodeClient } = await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: 'persisted-node', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.which'],
    });
    clients.push(nodeClient);
    const nodeRequest = payloadOf(await operator.event('node.pair.requested'));
    expect((await operator.request('node.pair.approve', { requestId: nodeRequest.requestId })).ok).toBe(true);
    await gw.close();

    const file = join(stateDir, 'pairing.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([device.id]);
    expect(saved.nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['persisted-node']);

    gw = await startTestGateway({ pairing: 'manual', stateDir });
    const back = await connectDevice(gw.url, device, { deviceToken });
    expect(back.response.ok).toBe(true);
    const operatorAgain = await admin(gw.url, gw.token);
    const described = payloadOf(await operatorAgain.request('node.describe', { nodeId: 'persisted-node' }));
    expect(described).toMatchObject({ paired: true, connected: false, approvalState: 'approved', commands: ['system.which'] });
  });
});
