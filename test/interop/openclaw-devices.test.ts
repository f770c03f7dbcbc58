// The real `openclaw devices` and `openclaw nodes rename` (2026.9.6) against actorgate in manual pairing mode:
// a device asks to be paired, `devices list` shows the request, `devices approve` approves it, the device gets its
// token; `devices rotate` stops that token (its live socket is closed 4001, the old token is refused) and the device
// is handed a new one on its next connect; `devices rename` labels it; `devices revoke` closes it again and refuses
// its token; `nodes rename` renames a paired node. Each command must exit 0 with the effect seen on the gateway.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import { connectClient, connectParams, TestClient, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ensureOpenclaw, openclaw, type CliResult } from './openclaw.js';

const NODE_ID = 'interop-rename-node';

let gw: TestGateway;
let admin: TestClient;
const device: TestDevice = createDevice();
const sockets: TestClient[] = [];
let requestId: string;
let deviceToken: string;

beforeAll(async () => {
  ensureOpenclaw();
  gw = await startTestGateway({ pairing: 'manual' });
  admin = (await connectClient(gw.url, gw.token, { scopes: ['operator.admin'] })).client;
});

afterAll(async () => {
  for (const socket of [admin, ...sockets]) socket?.ws.terminate();
  await gw?.close();
});

function cli(args: string[]): Promise<CliResult> {
  return openclaw([...args, '--url', gw.url, '--token', gw.token]);
}

async function run(args: string[]): Promise<CliResult> {
  const result = await cli(args);
  console.log(`openclaw ${args.join(' ')} -> exit ${result.code}\n${result.stdout}${result.code === 0 ? '' : result.stderr}`);
  return result;
}

function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** Connects as the operator device; resolves with the connect response and its socket. */
async function connectDevice(auth: ConnectParams['auth']): Promise<{ client: TestClient; response: Frame }> {
  const client = await TestClient.open(gw.url);
  sockets.push(client);
  const nonce = await client.challengeNonce();
  const params = connectParams({
    auth,
    scopes: ['operator.read'],
    client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  return { client, response: await client.request('connect', params) };
}

const detailsOf = (frame: Frame) => (frame.error as { details?: Record<string, unknown> } | undefined)?.details;
const pairedEntry = async () =>
  ((await admin.request('device.pair.list')).payload as { paired: Array<Record<string, any>> }).paired.find((entry) => entry.deviceId === device.id);

describe('openclaw devices', () => {
  it('devices list shows a pending request', async () => {
    const refused = await connectDevice({ token: gw.token });
    expect(detailsOf(refused.response)).toMatchObject({ code: 'PAIRING_REQUIRED' });
    requestId = detailsOf(refused.response)!.requestId as string;
    const result = await run(['devices', 'list', '--json']);
    expect(result.code).toBe(0);
    const listed = parseJson<{ pending: Array<{ requestId: string; deviceId: string }> }>(result);
    expect(listed.pending).toEqual([expect.objectContaining({ requestId, deviceId: device.id })]);
  });

  it('devices approve approves it, and the device then gets its token', async () => {
    const result = await run(['devices', 'approve', requestId, '--json']);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toMatchObject({ requestId, device: { deviceId: device.id } });
    const admitted = await connectDevice({ token: gw.token });
    expect(admitted.response.ok).toBe(true);
    deviceToken = (admitted.response.payload as { auth: { deviceToken: string } }).auth.deviceToken;
    expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('devices rotate stops the old token: its live socket gets 4001, the token is refused, a new one comes on the next connect', async () => {
    const live = await connectDevice({ deviceToken });
    expect(live.response.ok).toBe(true);
    const result = await run(['devices', 'rotate', '--device', device.id, '--role', 'operator', '--json']);
    expect(result.code).toBe(0);
    const rotated = parseJson<Record<string, unknown>>(result);
    expect(rotated).toMatchObject({ deviceId: device.id, role: 'operator', scopes: ['operator.read'], tokenDelivery: 'withheld-cross-device' });
    expect(rotated.token).toBeUndefined();
    expect(await live.client.closed).toEqual({ code: 4001, reason: 'device token rotated' });
    expect(detailsOf((await connectDevice({ deviceToken })).response)).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    const back = await connectDevice({ token: gw.token });
    const fresh = (back.response.payload as { auth: { deviceToken: string } }).auth.deviceToken;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(deviceToken);
    deviceToken = fresh;
  });

  it('devices rename labels the device', async () => {
    const result = await run(['devices', 'rename', '--device', device.id, '--name', 'Interop Laptop', '--json']);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toEqual({ deviceId: device.id, label: 'Interop Laptop' });
    expect(await pairedEntry()).toMatchObject({ operatorLabel: 'Interop Laptop' });
    const table = await run(['devices', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('Interop Laptop');
  });

  it('devices revoke closes the device 4001 and refuses its token', async () => {
    const live = await connectDevice({ deviceToken });
    expect(live.response.ok).toBe(true);
    const result = await run(['devices', 'revoke', '--device', device.id, '--role', 'operator', '--json']);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toMatchObject({ deviceId: device.id, role: 'operator', revokedAtMs: expect.any(Number) });
    expect(await live.client.closed).toEqual({ code: 4001, reason: 'device token revoked' });
    expect(detailsOf((await connectDevice({ deviceToken })).response)).toMatchObject({ code: 'AUTH_DEVICE_TOKEN_MISMATCH' });
    expect((await pairedEntry())?.tokens).toEqual([expect.objectContaining({ role: 'operator', revokedAtMs: expect.any(Number) })]);
  });
});

describe('openclaw nodes rename', () => {
  it('renames a paired node', async () => {
    const { client: node } = await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: NODE_ID, displayName: 'before', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.which'],
    });
    sockets.push(node);
    const request = (await admin.event('node.pair.requested')).payload as { requestId: string };
    expect((await admin.request('node.pair.approve', { requestId: request.requestId })).ok).toBe(true);
    const result = await run(['nodes', 'rename', '--node', NODE_ID, '--name', 'Kitchen iPad', '--json']);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toEqual({ nodeId: NODE_ID, displayName: 'Kitchen iPad' });
    expect((await admin.request('node.describe', { nodeId: NODE_ID })).payload).toMatchObject({ displayName: 'Kitchen iPad', connected: true });
  });
});
