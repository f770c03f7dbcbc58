// A node is who its key says it is, end to end on loopback (`--pairing manual`): a client holding only the
// gateway token cannot speak for a device-backed node id, approved or not; connections of one device share
// its id, and routing falls back to the older one when the newer leaves.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import { TestClient, connectClient, connectParams, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const COMMANDS = ['system.which', 'system.run'];

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

const payloadOf = (frame: Frame) => frame.payload as Record<string, any>;

function nodeParams(clientId: string): ConnectParams {
  return connectParams({
    auth: { token: gw.token },
    role: 'node',
    scopes: [],
    client: { id: clientId, displayName: 'build box', version: '1.0.0', platform: 'linux', mode: 'node', instanceId: randomUUID() },
    caps: ['system'],
    commands: COMMANDS,
  });
}

/** Opens a socket and sends `connect`; resolves with the client, its connect response and its connection id. */
async function connectNode(params: ConnectParams, device?: TestDevice) {
  const client = await TestClient.open(gw.url);
  clients.push(client);
  const nonce = await client.challengeNonce();
  if (device) params.device = signDevice(device, params, nonce);
  const response = await client.request('connect', params);
  const connId = response.ok ? (payloadOf(response).server.connId as string) : undefined;
  return { client, response, connId };
}

/** A node host proving `device` (node id: the device id), as the real openclaw node host connects. */
async function deviceNode(device: TestDevice) {
  const connected = await connectNode(nodeParams('node-host'), device);
  expect(connected.response.ok).toBe(true);
  return connected;
}

async function admin() {
  const { client } = await connectClient(gw.url, gw.token, { scopes: ['operator.admin'] });
  clients.push(client);
  return client;
}

/** The operator invokes system.which on the node; `answering` gets the request and answers it. */
async function invokeThrough(operator: TestClient, nodeId: string, answering: TestClient, label: string) {
  const seen = answering.frames.filter((frame) => frame.event === 'node.invoke.request').length;
  const answer = operator.request('node.invoke', { nodeId, command: 'system.which', params: { bins: ['uname'] }, idempotencyKey: label });
  const request = payloadOf(await answering.event('node.invoke.request', seen));
  expect(request).toMatchObject({ nodeId, command: 'system.which' });
  await answering.request('node.invoke.result', { id: request.id, nodeId, ok: true, payloadJSON: JSON.stringify({ label }) });
  expect(await answer).toMatchObject({ ok: true, payload: { ok: true, nodeId, payload: { label } } });
}

/** Resolves once the gateway has closed (and let go of) the connection. */
const closedByGateway = (connId: string) => gw.logs.waitFor((line) => line.event === 'connection.closed' && line.connId === connId);

describe('node identity', () => {
  it("refuses an approved node's id to a client without its device key; the real node keeps its invokes and nothing is orphaned", async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin();
    const device = createDevice();
    const real = await deviceNode(device);
    const requested = payloadOf(await operator.event('node.pair.requested'));
    expect(requested).toMatchObject({ nodeId: device.id, idKind: 'device' });
    expect(await operator.request('node.pair.approve', { requestId: requested.requestId })).toMatchObject({ ok: true });

    // Only the gateway token, and the device id as its client id.
    const impostor = await connectNode(nodeParams(device.id));
    expect(impostor.response).toMatchObject({
      ok: false,
      error: { code: 'INVALID_REQUEST', details: { code: 'NODE_ID_RESERVED', nodeId: device.id } },
    });
    expect(await impostor.client.closed).toEqual({ code: 1008, reason: 'node id reserved' });
    expect(impostor.client.frames.map((frame) => frame.event ?? frame.type)).toEqual(['connect.challenge', 'res']);

    // The real node still gets the invokes, before and after the impostor left.
    await invokeThrough(operator, device.id, real.client, 'after-impostor');
    expect(payloadOf(await operator.request('node.describe', { nodeId: device.id }))).toMatchObject({
      connected: true,
      approvalState: 'approved',
      clientId: 'node-host',
    });
    const listed = payloadOf(await operator.request('node.list')).nodes as Array<Record<string, unknown>>;
    expect(listed.filter((node) => node.nodeId === device.id)).toHaveLength(1);
    expect(real.client.frames.some((frame) => frame.type === 'res' && frame.ok === false)).toBe(false);
  });

  it('refuses a device id to a client without the key before the device has ever connected', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin();
    const device = createDevice();
    const squatter = await connectNode(nodeParams(device.id));
    expect(squatter.response).toMatchObject({ ok: false, error: { details: { code: 'NODE_ID_RESERVED' } } });
    await squatter.client.closed;
    // The device itself is then asked about as usual, and nothing was opened for the squatter.
    await deviceNode(device);
    const requested = payloadOf(await operator.event('node.pair.requested'));
    expect(requested).toMatchObject({ nodeId: device.id, idKind: 'device', clientId: 'node-host' });
    expect(payloadOf(await operator.request('node.pair.list')).pending).toHaveLength(1);
  });

  it('routes to the newest connection of a device and falls back to the older one when the newer leaves', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin();
    const device = createDevice();
    const older = await deviceNode(device);
    const requested = payloadOf(await operator.event('node.pair.requested'));
    await operator.request('node.pair.approve', { requestId: requested.requestId });
    const newer = await deviceNode(device);
    await invokeThrough(operator, device.id, newer.client, 'to-newer');

    await newer.client.close();
    await closedByGateway(newer.connId!);
    expect(payloadOf(await operator.request('node.describe', { nodeId: device.id }))).toMatchObject({ connected: true });
    await invokeThrough(operator, device.id, older.client, 'to-older');

    await older.client.close();
    await closedByGateway(older.connId!);
    const refused = await operator.request('node.invoke', { nodeId: device.id, command: 'system.which', idempotencyKey: 'gone' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', details: { code: 'NOT_CONNECTED' } } });
  });

  it('shares a client-chosen node id between connections holding the gateway token, as reconnects do', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const operator = await admin();
    const first = await connectNode(nodeParams('token-node'));
    expect(first.response.ok).toBe(true);
    const requested = payloadOf(await operator.event('node.pair.requested'));
    expect(requested).toMatchObject({ nodeId: 'token-node', idKind: 'client' });
    await operator.request('node.pair.approve', { requestId: requested.requestId });
    const second = await connectNode(nodeParams('token-node'));
    expect(second.response.ok).toBe(true);
    await second.client.close();
    await closedByGateway(second.connId!);
    await invokeThrough(operator, 'token-node', first.client, 'to-first');
  });
});
