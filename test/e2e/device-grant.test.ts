// Device tokens carry their grant, over real sockets: a token opens no role and no scope beyond what was
// approved for its device (AUTH_SCOPE_MISMATCH, never a wider session), a wider request made with the
// shared secret is an upgrade an operator approves (PAIRING_REQUIRED, reason scope-upgrade), and the
// reference's authentication order and recovery hints hold (shared secret, bootstrap token, explicit
// device token, the `auth.token` fallback).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
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

type Payload = Record<string, any>;
const payloadOf = (frame: Frame) => frame.payload as Payload;
const errorOf = (frame: Frame) => frame.error as { code: string; message: string; details: Payload };

interface Attempt {
  auth?: ConnectParams['auth'];
  scopes?: string[];
  role?: 'operator' | 'node';
  commands?: string[];
}

/** One connect of a device; resolves with its response and the client (whose close can be awaited). */
async function connectDevice(url: string, device: TestDevice, attempt: Attempt): Promise<{ client: TestClient; response: Frame }> {
  const client = await TestClient.open(url);
  clients.push(client);
  const nonce = await client.challengeNonce();
  const role = attempt.role ?? 'operator';
  const params = connectParams({
    ...(attempt.auth ? { auth: attempt.auth } : {}),
    role,
    scopes: attempt.scopes ?? ['operator.read'],
    ...(attempt.commands ? { commands: attempt.commands } : {}),
    client: role === 'node'
      ? { id: 'node-host', version: '1.0.0', platform: 'linux', mode: 'node', instanceId: randomUUID() }
      : { id: 'cli', version: '1.0.0', platform: 'linux', mode: 'cli', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  return { client, response: await client.request('connect', params) };
}

async function admin(url: string, token: string) {
  const { client } = await connectClient(url, token, { scopes: ['operator.admin'] });
  clients.push(client);
  return client;
}

/** Pairs a device for operator.read through an operator's approval; resolves with its device token. */
async function pairReadOnly(gateway: TestGateway, operator: TestClient, device: TestDevice): Promise<string> {
  const asked = await connectDevice(gateway.url, device, { auth: { token: gateway.token } });
  const requestId = errorOf(asked.response).details.requestId as string;
  expect((await operator.request('device.pair.approve', { requestId })).ok).toBe(true);
  const admitted = await connectDevice(gateway.url, device, { auth: { token: gateway.token } });
  expect(payloadOf(admitted.response).auth).toMatchObject({ role: 'operator', scopes: ['operator.read'] });
  admitted.client.ws.terminate();
  return payloadOf(admitted.response).auth.deviceToken as string;
}

describe('a device token opens only its grant', () => {
  it('refuses a read-only token asking for admin (AUTH_SCOPE_MISMATCH, close 1008), and lets it in as what it was approved for', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const deviceToken = await pairReadOnly(gw, operator, device);

    for (const scopes of [['operator.admin'], ['operator.read', 'operator.write'], ['operator.pairing']]) {
      const wider = await connectDevice(gw.url, device, { auth: { deviceToken }, scopes });
      expect(wider.response.ok, scopes.join()).toBe(false);
      expect(errorOf(wider.response)).toMatchObject({
        code: 'INVALID_REQUEST',
        message: 'unauthorized: device token scope mismatch (re-pair or approve scope upgrade)',
        details: { code: 'AUTH_SCOPE_MISMATCH', authReason: 'scope_mismatch', recommendedNextStep: 'review_auth_configuration' },
      });
      expect((await wider.client.closed).code).toBe(1008);
    }
    // No request was filed for it: a token cannot ask for an upgrade on its own.
    expect(payloadOf(await operator.request('device.pair.list')).pending).toEqual([]);

    const granted = await connectDevice(gw.url, device, { auth: { deviceToken }, scopes: ['operator.read'] });
    expect(payloadOf(granted.response).auth).toMatchObject({ role: 'operator', scopes: ['operator.read'] });
    // And the session holds only that: a write method is refused for its scope.
    const write = await granted.client.request('node.invoke', { nodeId: 'n', command: 'system.which', idempotencyKey: 'k' });
    expect(errorOf(write)).toMatchObject({ code: 'FORBIDDEN', details: { code: 'MISSING_SCOPE', missingScope: 'operator.write' } });
    const log = await gw.logs.waitFor((line) => line.detail === 'AUTH_SCOPE_MISMATCH');
    expect(log).toMatchObject({ msg: 'handshake rejected', code: 1008 });
  });

  it('admits every subset of the operator scopes a write grant covers, and no other (all 16 asked for)', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const device = createDevice();
    const paired = await connectDevice(gw.url, device, { auth: { token: gw.token }, scopes: ['operator.write'] });
    const deviceToken = payloadOf(paired.response).auth.deviceToken as string;
    const all = ['operator.read', 'operator.write', 'operator.pairing', 'operator.admin'];
    for (let mask = 0; mask < 16; mask++) {
      const scopes = all.filter((_, bit) => mask & (1 << bit));
      const covered = scopes.every((scope) => scope === 'operator.read' || scope === 'operator.write');
      const attempt = await connectDevice(gw.url, device, { auth: { deviceToken }, scopes });
      expect(attempt.response.ok, scopes.join() || '(none)').toBe(covered);
      if (covered) expect(payloadOf(attempt.response).auth.scopes).toEqual(scopes);
      else expect(errorOf(attempt.response).details.code).toBe('AUTH_SCOPE_MISMATCH');
      attempt.client.ws.terminate();
    }
  });

  it('does not let an operator device token in as a node, on loopback in auto-local mode either', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const paired = await connectDevice(gw.url, device, { auth: { token: gw.token } });
    const deviceToken = payloadOf(paired.response).auth.deviceToken as string;
    expect(deviceToken).toEqual(expect.any(String));

    for (const auth of [{ deviceToken }, { token: deviceToken }]) {
      const asNode = await connectDevice(gw.url, device, { auth, role: 'node', scopes: [], commands: ['system.run'] });
      expect(asNode.response.ok).toBe(false);
      const expected = 'deviceToken' in auth ? 'AUTH_DEVICE_TOKEN_MISMATCH' : 'AUTH_TOKEN_MISMATCH';
      expect(errorOf(asNode.response).details).toMatchObject({ code: expected });
      expect((await asNode.client.closed).code).toBe(1008);
    }
    const nodes = payloadOf(await operator.request('node.list')).nodes as Payload[];
    expect(nodes.filter((node) => node.nodeId === device.id)).toEqual([]);
    expect(payloadOf(await operator.request('node.pair.list'))).toMatchObject({ pending: [], paired: [] });
  });

  it('takes a device token presented in auth.token (the fallback), within the grant only', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const deviceToken = await pairReadOnly(gw, operator, device);

    const fallback = await connectDevice(gw.url, device, { auth: { token: deviceToken } });
    expect(payloadOf(fallback.response).auth).toMatchObject({ role: 'operator', scopes: ['operator.read'] });
    const wider = await connectDevice(gw.url, device, { auth: { token: deviceToken }, scopes: ['operator.admin'] });
    expect(errorOf(wider.response).details).toMatchObject({ code: 'AUTH_SCOPE_MISMATCH' });
    // Another device cannot use it, whichever field carries it.
    const stranger = createDevice();
    const explicit = await connectDevice(gw.url, stranger, { auth: { deviceToken } });
    expect(errorOf(explicit.response).details).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    const implicit = await connectDevice(gw.url, stranger, { auth: { token: deviceToken } });
    expect(errorOf(implicit.response).details).toMatchObject({ code: 'AUTH_TOKEN_MISMATCH' });
  });
});

describe('a wider request with the shared secret is an upgrade', () => {
  it('files a scope-upgrade request (PAIRING_REQUIRED with the reason and recovery hints); once approved the device holds both', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const deviceToken = await pairReadOnly(gw, operator, device);

    const upgrade = await connectDevice(gw.url, device, { auth: { token: gw.token }, scopes: ['operator.admin'] });
    expect(upgrade.response.ok).toBe(false);
    const error = errorOf(upgrade.response);
    expect(error).toMatchObject({
      code: 'NOT_PAIRED',
      message: 'pairing required: device is asking for more scopes than currently approved',
      details: {
        code: 'PAIRING_REQUIRED',
        reason: 'scope-upgrade',
        requestId: expect.any(String),
        recommendedNextStep: 'wait_then_retry',
        retryable: true,
        pauseReconnect: false,
        deviceId: device.id,
        requestedRole: 'operator',
        requestedScopes: ['operator.admin'],
        approvedRoles: ['operator'],
        approvedScopes: ['operator.read'],
      },
    });
    expect(await upgrade.client.closed).toEqual({ code: 1008, reason: 'pairing required' });
    const { requestId } = error.details;
    const audit = await gw.logs.waitFor((line) => line.event === 'device.upgrade_requested');
    expect(audit).toMatchObject({
      msg: 'security audit: device access upgrade requested',
      deviceId: device.id,
      requestId,
      scopesFrom: ['operator.read'],
      scopesTo: ['operator.admin'],
    });
    const pending = payloadOf(await operator.request('device.pair.list')).pending as Payload[];
    expect(pending).toEqual([expect.objectContaining({ requestId, deviceId: device.id, scopes: ['operator.read', 'operator.admin'] })]);
    // Until it is approved the device keeps what it had, and only that.
    const meanwhile = await connectDevice(gw.url, device, { auth: { deviceToken } });
    expect(payloadOf(meanwhile.response).auth.scopes).toEqual(['operator.read']);

    expect((await operator.request('device.pair.approve', { requestId })).ok).toBe(true);
    const upgraded = await connectDevice(gw.url, device, { auth: { token: gw.token }, scopes: ['operator.admin'] });
    expect(payloadOf(upgraded.response).auth).toMatchObject({ scopes: ['operator.admin'] });
    const newToken = payloadOf(upgraded.response).auth.deviceToken as string;
    const byToken = await connectDevice(gw.url, device, { auth: { deviceToken: newToken }, scopes: ['operator.admin'] });
    expect(byToken.response.ok).toBe(true);
  });

  it('upgrades a local client silently in auto-local mode, but never through its device token alone', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const device = createDevice();
    const paired = await connectDevice(gw.url, device, { auth: { token: gw.token } });
    const deviceToken = payloadOf(paired.response).auth.deviceToken as string;
    const byToken = await connectDevice(gw.url, device, { auth: { deviceToken }, scopes: ['operator.write'] });
    expect(errorOf(byToken.response).details).toMatchObject({ code: 'AUTH_SCOPE_MISMATCH' });

    const bySecret = await connectDevice(gw.url, device, { auth: { token: gw.token }, scopes: ['operator.write'] });
    // Upgraded; its live token is not sent again (only its hash is kept), and now opens the wider grant.
    expect(payloadOf(bySecret.response).auth).toMatchObject({ scopes: ['operator.write'] });
    expect(payloadOf(bySecret.response).auth.deviceToken).toBeUndefined();
    const now = await connectDevice(gw.url, device, { auth: { deviceToken }, scopes: ['operator.write'] });
    expect(now.response.ok).toBe(true);
  });
});

describe('the reference authentication order and its recovery hints', () => {
  it('answers each refused credential with its code, authReason and next step', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin(gw.url, gw.token);
    const device = createDevice();
    const deviceToken = await pairReadOnly(gw, operator, device);

    const cases: [Attempt['auth'], Payload, string][] = [
      [undefined, { code: 'AUTH_TOKEN_MISSING', authReason: 'token_missing', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_configuration' }, 'unauthorized: gateway token missing'],
      // A wrong auth.token from a client with a device identity: try the device token instead.
      [{ token: 'wrong' }, { code: 'AUTH_TOKEN_MISMATCH', authReason: 'token_mismatch', canRetryWithDeviceToken: true, recommendedNextStep: 'retry_with_device_token' }, 'unauthorized: gateway token mismatch'],
      [{ token: 'wrong', deviceToken: 'also-wrong' }, { code: 'AUTH_DEVICE_TOKEN_MISMATCH', authReason: 'device_token_mismatch', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_credentials' }, 'unauthorized: device token mismatch (rotate/reissue device token)'],
      [{ bootstrapToken: 'setup-code' }, { code: 'AUTH_BOOTSTRAP_TOKEN_INVALID', authReason: 'bootstrap_token_invalid', recommendedNextStep: 'review_auth_configuration' }, 'unauthorized: setup code invalid'],
    ];
    for (const [auth, details, message] of cases) {
      const refused = await connectDevice(gw.url, device, auth ? { auth } : {});
      expect(refused.response.ok, JSON.stringify(auth)).toBe(false);
      expect(errorOf(refused.response).details, JSON.stringify(auth)).toMatchObject(details);
      expect(errorOf(refused.response).message.startsWith(message), errorOf(refused.response).message).toBe(true);
      expect((await refused.client.closed).code).toBe(1008);
    }
    // The shared secret comes first: a stale device token beside it does not matter.
    const secretFirst = await connectDevice(gw.url, device, { auth: { token: gw.token, deviceToken: 'stale' } });
    expect(secretFirst.response.ok).toBe(true);
    // A failed bootstrap token does not spoil the device token that follows it.
    const thenDevice = await connectDevice(gw.url, device, { auth: { bootstrapToken: 'setup-code', deviceToken } });
    expect(thenDevice.response.ok).toBe(true);
  });

  it('in password mode takes the device token from auth.token too, and keeps the password failure when it is not one', async () => {
    gw = await startTestGateway({ auth: 'password', password: 'hunter2', pairing: 'auto-local' });
    const device = createDevice();
    const paired = await connectDevice(gw.url, device, { auth: { password: 'hunter2' } });
    const deviceToken = payloadOf(paired.response).auth.deviceToken as string;
    const fallback = await connectDevice(gw.url, device, { auth: { token: deviceToken } });
    expect(payloadOf(fallback.response).auth).toMatchObject({ role: 'operator', scopes: ['operator.read'] });
    const wrong = await connectDevice(gw.url, device, { auth: { token: 'not-a-device-token' } });
    expect(errorOf(wrong.response).details).toMatchObject({ code: 'AUTH_PASSWORD_MISSING', recommendedNextStep: 'update_auth_configuration' });
    const badPassword = await connectDevice(gw.url, device, { auth: { password: 'hunter3', deviceToken } });
    expect(badPassword.response.ok).toBe(true);
  });

  it('tells a client that is not paired yet to wait and retry while its request is open', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const device = createDevice();
    const first = await connectDevice(gw.url, device, { auth: { token: gw.token } });
    expect(errorOf(first.response)).toMatchObject({
      code: 'NOT_PAIRED',
      message: 'pairing required: device is not approved yet',
      details: {
        code: 'PAIRING_REQUIRED',
        reason: 'not-paired',
        requestId: expect.any(String),
        recommendedNextStep: 'wait_then_retry',
        retryable: true,
        pauseReconnect: false,
        remediationHint: 'Approve this device from the pending pairing requests.',
        deviceId: device.id,
        requestedRole: 'operator',
        requestedScopes: ['operator.read'],
      },
    });
    expect(errorOf(first.response).details.approvedScopes).toBeUndefined();
  });
});
