// A paired device's token over its life, end to end: rotated by an operator or by the device itself, revoked,
// and the device and node labels operators give. After a rotation or a revocation the old token is refused and
// the device's live sockets are closed 4001; a new token reaches only the device it belongs to, and what is
// kept of it (in memory and in pairing.json) is its hash.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import { hashDeviceToken } from '../../src/auth/device-token.js';
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

/** Connects as an operator device (the loopback test gateway pairs it silently the first time). */
async function connectDevice(url: string, device: TestDevice, auth: ConnectParams['auth'], scopes = ['operator.read']) {
  const client = await TestClient.open(url);
  clients.push(client);
  const nonce = await client.challengeNonce();
  const params = connectParams({
    auth,
    scopes,
    client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  return { client, response: await client.request('connect', params) };
}

/** Pairs a new device (silently: loopback, auto-local) and returns it with its token and its live socket. */
async function pairedDevice(url: string, token: string, scopes = ['operator.read']) {
  const device = createDevice();
  const first = await connectDevice(url, device, { token }, scopes);
  expect(first.response.ok).toBe(true);
  return { device, token: payloadOf(first.response).auth.deviceToken as string, live: first.client };
}

async function operator(url: string, token: string, scopes = ['operator.admin']) {
  const { client } = await connectClient(url, token, { scopes });
  clients.push(client);
  return client;
}

function tempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'actorgate-device-tokens-'));
  dirs.push(dir);
  return dir;
}

describe('device.token.rotate', () => {
  it('by an operator: the old token is refused, live sockets get 4001, and the new token goes only to the device on its next connect', async () => {
    const stateDir = tempStateDir();
    gw = await startTestGateway({ pairing: 'auto-local', stateDir });
    const admin = await operator(gw.url, gw.token);
    const { device, token: oldToken, live } = await pairedDevice(gw.url, gw.token);
    const byToken = await connectDevice(gw.url, device, { deviceToken: oldToken });
    expect(byToken.response.ok).toBe(true);

    const rotated = await admin.request('device.token.rotate', { deviceId: device.id, role: 'operator' });
    expect(payloadOf(rotated)).toEqual({
      deviceId: device.id,
      role: 'operator',
      scopes: ['operator.read'],
      rotatedAtMs: expect.any(Number),
      tokenDelivery: 'withheld-cross-device',
    });
    expect(await live.closed).toEqual({ code: 4001, reason: 'device token rotated' });
    expect(await byToken.client.closed).toEqual({ code: 4001, reason: 'device token rotated' });
    expect(errorOf(await connectDevice(gw.url, device, { deviceToken: oldToken }).then((r) => r.response)).details).toMatchObject({
      code: 'AUTH_DEVICE_TOKEN_MISMATCH',
    });

    // The device itself, with the shared secret, is handed its new token; it alone lets it in from then on.
    const back = await connectDevice(gw.url, device, { token: gw.token });
    const newToken = payloadOf(back.response).auth.deviceToken as string;
    expect(newToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken).not.toBe(oldToken);
    expect((await connectDevice(gw.url, device, { deviceToken: newToken })).response.ok).toBe(true);
    // The operator's own socket is untouched, and saw neither token.
    expect((await admin.request('health')).ok).toBe(true);
    expect(JSON.stringify(admin.frames)).not.toContain(newToken);

    const listed = payloadOf(await admin.request('device.pair.list')).paired[0];
    expect(listed).toMatchObject({ deviceId: device.id, roles: ['operator'], tokens: [{ role: 'operator', scopes: ['operator.read'], rotatedAtMs: expect.any(Number) }] });
    expect(JSON.stringify(listed)).not.toMatch(/tokenHash|sha256/);
    const onDisk = readFileSync(join(stateDir, 'pairing.json'), 'utf8');
    expect(onDisk).toContain(hashDeviceToken(newToken));
    expect(onDisk).not.toContain(newToken);
  });

  it('by the device itself: the new token comes in its answer, then its sockets get 4001; nobody else sees it', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const admin = await operator(gw.url, gw.token);
    const { device, token: oldToken, live } = await pairedDevice(gw.url, gw.token, ['operator.pairing']);
    const self = await connectDevice(gw.url, device, { deviceToken: oldToken }, ['operator.pairing']);
    expect(self.response.ok).toBe(true);

    const rotated = await self.client.request('device.token.rotate', { deviceId: device.id, role: 'operator' });
    const newToken = payloadOf(rotated).token as string;
    expect(payloadOf(rotated)).toMatchObject({ deviceId: device.id, role: 'operator', scopes: ['operator.pairing'], tokenDelivery: 'in-band' });
    expect(newToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await self.client.closed).toEqual({ code: 4001, reason: 'device token rotated' });
    expect(await live.closed).toEqual({ code: 4001, reason: 'device token rotated' });

    expect(errorOf((await connectDevice(gw.url, device, { deviceToken: oldToken }, ['operator.pairing'])).response).details).toMatchObject({
      code: 'AUTH_DEVICE_TOKEN_MISMATCH',
    });
    expect((await connectDevice(gw.url, device, { deviceToken: newToken }, ['operator.pairing'])).response.ok).toBe(true);
    expect(JSON.stringify(admin.frames)).not.toContain(newToken);
    expect(JSON.stringify(gw.logs.lines)).not.toContain(newToken);
  });

  it('refuses what the caller may not do: another device, a role other than operator, scopes past the approval or the caller', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const { device, token } = await pairedDevice(gw.url, gw.token, ['operator.pairing']);
    const other = await pairedDevice(gw.url, gw.token);
    const self = await connectDevice(gw.url, device, { deviceToken: token }, ['operator.pairing']);
    const denied = async (client: TestClient, params: Record<string, unknown>, reason: string) => {
      const answer = await client.request('device.token.rotate', params);
      expect(errorOf(answer)).toMatchObject({ code: 'INVALID_REQUEST', message: 'device token rotation denied', details: { code: 'DEVICE_MANAGEMENT_DENIED', reason } });
    };
    await denied(self.client, { deviceId: other.device.id, role: 'operator' }, 'device-ownership-mismatch');
    await denied(self.client, { deviceId: device.id, role: 'node' }, 'role-management-requires-admin');
    await denied(self.client, { deviceId: device.id, role: 'operator', scopes: ['operator.admin'] }, 'scope-outside-approved-baseline');
    // Nor may it name another device or node.
    expect(errorOf(await self.client.request('device.pair.rename', { deviceId: other.device.id, label: 'mine now' }))).toMatchObject({
      message: 'device pairing rename denied',
      details: { code: 'DEVICE_MANAGEMENT_DENIED', reason: 'device-ownership-mismatch' },
    });
    expect(errorOf(await self.client.request('node.rename', { nodeId: 'some-node', displayName: 'x' })).message).toBe('node rename denied');
    const pairingOnly = await operator(gw.url, gw.token, ['operator.pairing']);
    await denied(pairingOnly, { deviceId: other.device.id, role: 'operator', scopes: ['operator.read', 'operator.write'] }, 'scope-outside-approved-baseline');
    const readOnly = await operator(gw.url, gw.token, ['operator.pairing']);
    const writer = await pairedDevice(gw.url, gw.token, ['operator.write']);
    await denied(readOnly, { deviceId: writer.device.id, role: 'operator' }, 'caller-missing-scope');
    const admin = await operator(gw.url, gw.token);
    expect(errorOf(await admin.request('device.token.rotate', { deviceId: 'no-such-device', role: 'operator' })).details).toMatchObject({ code: 'DEVICE_NOT_FOUND' });
    // None of these touched a token: both devices still get in with theirs.
    expect((await connectDevice(gw.url, other.device, { deviceToken: other.token })).response.ok).toBe(true);
    expect((await gw.logs.waitFor((line) => line.event === 'device.management_denied')).level).toBe(40);
  });
});

describe('device.token.revoke', () => {
  it('closes the device\'s live sockets 4001 and refuses its token; the shared secret hands it a new one', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const admin = await operator(gw.url, gw.token);
    const { device, token, live } = await pairedDevice(gw.url, gw.token);
    const bystander = await pairedDevice(gw.url, gw.token);

    const revoked = await admin.request('device.token.revoke', { deviceId: device.id, role: 'operator' });
    expect(payloadOf(revoked)).toEqual({ deviceId: device.id, role: 'operator', revokedAtMs: expect.any(Number) });
    expect(await live.closed).toEqual({ code: 4001, reason: 'device token revoked' });
    await gw.logs.waitFor((line) => line.msg === 'credentials revoked' && line.reason === 'device token revoked');
    expect(errorOf((await connectDevice(gw.url, device, { deviceToken: token })).response).details).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    expect(payloadOf(await admin.request('device.pair.list')).paired.find((d: { deviceId: string }) => d.deviceId === device.id).tokens).toEqual([
      expect.objectContaining({ role: 'operator', revokedAtMs: expect.any(Number) }),
    ]);
    // Another device's socket and token are untouched.
    expect((await bystander.live.request('health')).ok).toBe(true);

    const back = await connectDevice(gw.url, device, { token: gw.token });
    const fresh = payloadOf(back.response).auth.deviceToken as string;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(token);
    expect(payloadOf(await admin.request('device.pair.list')).paired.find((d: { deviceId: string }) => d.deviceId === device.id).tokens[0].revokedAtMs).toBeUndefined();
    expect(errorOf(await admin.request('device.token.revoke', { deviceId: device.id, role: 'node' })).details).toMatchObject({ reason: 'unknown-device-or-role' });
  });
});

describe('labels', () => {
  it('device.pair.rename and node.rename set the names operators see, announced, and kept across a restart', async () => {
    const stateDir = tempStateDir();
    gw = await startTestGateway({ pairing: 'auto-local', stateDir });
    const admin = await operator(gw.url, gw.token);
    const { device } = await pairedDevice(gw.url, gw.token);
    const { client: node } = await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: 'build-box', displayName: 'build box', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.run'],
    });
    clients.push(node);

    expect(payloadOf(await admin.request('device.pair.rename', { deviceId: device.id, label: '  Laptop  ' }))).toEqual({ deviceId: device.id, label: 'Laptop' });
    expect(payloadOf(await admin.event('device.pair.changed'))).toEqual({});
    expect(errorOf(await admin.request('device.pair.rename', { deviceId: device.id, label: '   ' })).message).toBe('label required');
    expect(errorOf(await admin.request('device.pair.rename', { deviceId: 'no-such-device', label: 'x' })).details).toMatchObject({ code: 'DEVICE_NOT_FOUND' });
    expect(payloadOf(await admin.request('node.rename', { nodeId: 'build-box', displayName: 'Kitchen iPad' }))).toEqual({ nodeId: 'build-box', displayName: 'Kitchen iPad' });
    expect(errorOf(await admin.request('node.rename', { nodeId: 'no-such-node', displayName: 'x' }))).toMatchObject({ message: 'unknown nodeId' });

    const check = async (client: TestClient) => {
      expect(payloadOf(await client.request('device.pair.list')).paired).toEqual([expect.objectContaining({ deviceId: device.id, operatorLabel: 'Laptop' })]);
      expect(payloadOf(await client.request('node.describe', { nodeId: 'build-box' }))).toMatchObject({ displayName: 'Kitchen iPad' });
    };
    await check(admin);
    await gw.close();
    gw = await startTestGateway({ pairing: 'auto-local', stateDir });
    await check(await operator(gw.url, gw.token));
  });
});
