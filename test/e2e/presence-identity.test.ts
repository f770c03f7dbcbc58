// Presence keeps every live connection, and only operators who may read see it, end to end on loopback:
// a device with two sockets stays listed while either is open, an instance id never takes a device's
// entry, a reconnect storm never drops the entry, and nodes read neither presence nor health.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams, PresenceEntry } from '../../machines/protocol.js';
import { TestClient, connectClient, connectParams, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

const CLI = { id: 'cli', version: '1', platform: 'linux', mode: 'cli' } as const;

/** An operator that reads presence and is not in it (CLI mode). */
async function watcher() {
  const { client } = await connectClient(gw.url, gw.token, { client: CLI });
  clients.push(client);
  return client;
}

/** A UI operator proving `device` (paired silently: loopback, auto-local); resolves with its connection id. */
async function deviceSocket(device: TestDevice, overrides: Partial<ConnectParams> = {}) {
  const client = await TestClient.open(gw.url);
  clients.push(client);
  const nonce = await client.challengeNonce();
  const params = connectParams({ auth: { token: gw.token }, client: { id: 'control-ui', version: '1', platform: 'web', mode: 'ui' }, ...overrides });
  params.device = signDevice(device, params, nonce);
  const response = await client.request('connect', params);
  expect(response.ok).toBe(true);
  return { client, connId: (response.payload as any).server.connId as string };
}

async function listed(reader: TestClient): Promise<PresenceEntry[]> {
  const response = await reader.request('system-presence');
  expect(response.ok).toBe(true);
  return (response.payload as PresenceEntry[]).filter((entry) => entry.reason !== 'self');
}

/** Resolves once the gateway has let go of the connection (its leave reached the supervisor before this line). */
const closedByGateway = (connId: string) => gw.logs.waitFor((line) => line.event === 'connection.closed' && line.connId === connId, 10_000);

async function closeSocket(socket: { client: TestClient; connId: string }) {
  await socket.client.close();
  await closedByGateway(socket.connId);
}

describe('presence keeps every live connection', () => {
  it('keeps a device listed from its older socket when the newer one closes', async () => {
    gw = await startTestGateway();
    const reader = await watcher();
    const device = createDevice();
    const older = await deviceSocket(device);
    const newer = await deviceSocket(device);
    expect((await listed(reader)).filter((entry) => entry.deviceId === device.id)).toHaveLength(1);

    await closeSocket(newer);
    expect((await listed(reader)).filter((entry) => entry.deviceId === device.id)).toHaveLength(1);
    await closeSocket(older);
    expect((await listed(reader)).filter((entry) => entry.deviceId === device.id)).toEqual([]);
  });

  it("never lets a client's instance id replace another client's device entry", async () => {
    gw = await startTestGateway();
    const reader = await watcher();
    const device = createDevice();
    await deviceSocket(device);
    const { client: squatter, hello } = await connectClient(gw.url, gw.token, {
      client: { id: 'test', version: '1', platform: 'linux', mode: 'test', instanceId: device.id },
    });
    clients.push(squatter);
    const entries = await listed(reader);
    expect(entries.filter((entry) => entry.deviceId === device.id)).toHaveLength(1);
    expect(entries.filter((entry) => entry.instanceId === device.id && entry.deviceId === undefined)).toHaveLength(1);

    await closeSocket({ client: squatter, connId: (hello.server as { connId: string }).connId });
    expect((await listed(reader)).filter((entry) => entry.deviceId === device.id)).toHaveLength(1);
  });

  it('keeps the entry in every round of a reconnect storm', async () => {
    gw = await startTestGateway();
    const reader = await watcher();
    const device = createDevice();
    let open = [await deviceSocket(device)];
    const ROUNDS = 12;
    for (let round = 0; round < ROUNDS; round++) {
      open.push(await deviceSocket(device));
      // A reconnect whose old socket closes late, or a new socket that fails first: one of each, in turn.
      const leaving = round % 2 === 0 ? open[0]! : open[open.length - 1]!;
      open = open.filter((socket) => socket !== leaving);
      await closeSocket(leaving);
      const entries = (await listed(reader)).filter((entry) => entry.deviceId === device.id);
      expect(entries, `round ${round}`).toHaveLength(1);
    }
  });
});

describe('nodes see only what nodes need', () => {
  it('refuses health and system-presence to a node, gives it an empty roster in hello-ok and no presence events', async () => {
    gw = await startTestGateway();
    const reader = await watcher();
    const { client: node, hello } = await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: 'node-1', version: '1', platform: 'linux', mode: 'node', instanceId: randomUUID() },
    });
    clients.push(node);
    expect((hello.snapshot as { presence: unknown[] }).presence).toEqual([]);
    for (const method of ['health', 'system-presence']) {
      expect(await node.request(method), method).toMatchObject({
        ok: false,
        error: { code: 'INVALID_REQUEST', details: { code: 'ROLE_NOT_ALLOWED', role: 'node', requiredRole: 'operator' } },
      });
    }

    // Another client joins: the reader is told, the node is not. A response the node asks for after the
    // reader saw the event comes after anything the gateway wrote to the node before it.
    const { client: ui, params } = await connectClient(gw.url, gw.token);
    clients.push(ui);
    await reader.next((frame: Frame) => frame.event === 'presence' && JSON.stringify(frame.payload).includes(params.client.instanceId!));
    await node.request('health');
    expect(node.frames.filter((frame) => frame.event === 'presence')).toEqual([]);
    const operatorHealth = await reader.request('health');
    expect(operatorHealth).toMatchObject({ ok: true, payload: { ok: true } });
  });

  it('gives an operator without operator.read an empty roster and no presence events', async () => {
    gw = await startTestGateway();
    const reader = await watcher();
    const { client: pairer, hello } = await connectClient(gw.url, gw.token, { scopes: ['operator.pairing'], client: CLI });
    clients.push(pairer);
    expect((hello.snapshot as { presence: unknown[] }).presence).toEqual([]);
    const { client: ui, params } = await connectClient(gw.url, gw.token);
    clients.push(ui);
    await reader.next((frame: Frame) => frame.event === 'presence' && JSON.stringify(frame.payload).includes(params.client.instanceId!));
    expect(await pairer.request('system-presence')).toMatchObject({ ok: false, error: { details: { code: 'MISSING_SCOPE' } } });
    expect(pairer.frames.filter((frame) => frame.event === 'presence')).toEqual([]);
  });
});
