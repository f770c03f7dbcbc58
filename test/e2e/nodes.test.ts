// Nodes end to end on loopback: node pairing, invoke routing and its failure paths, role and scope checks.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const COMMANDS = ['system.which', 'system.run'];

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

async function operator(scopes = ['operator.admin'], overrides: Partial<ConnectParams> = {}) {
  const { client, hello } = await connectClient(gw.url, gw.token, { scopes, ...overrides });
  clients.push(client);
  return { client, hello };
}

async function node(nodeId = `node-${randomUUID().slice(0, 8)}`, commands = COMMANDS) {
  const { client, hello } = await connectClient(gw.url, gw.token, {
    role: 'node',
    scopes: [],
    client: { id: nodeId, displayName: 'test node', version: '1.0.0', platform: 'linux', mode: 'node', instanceId: randomUUID() },
    caps: ['system'],
    commands,
  });
  clients.push(client);
  return { client, hello, nodeId };
}

const payloadOf = (frame: Frame) => frame.payload as Record<string, any>;
const errorOf = (frame: Frame) => frame.error as { code: string; message: string; details?: Record<string, unknown> };

/** Answers the next invoke request the node gets with `payload`. */
async function answerNextInvoke(nodeClient: TestClient, nodeId: string, payload: unknown, after = 0) {
  const request = payloadOf(await nodeClient.event('node.invoke.request', after));
  return nodeClient.request('node.invoke.result', { id: request.id, nodeId, ok: true, payloadJSON: JSON.stringify(payload) });
}

describe('node pairing (manual)', () => {
  it('opens a request when a node connects, and approval makes its commands callable', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const { client: admin } = await operator();
    const { client: nodeClient, nodeId } = await node();

    const requested = payloadOf(await admin.event('node.pair.requested'));
    expect(requested).toMatchObject({ nodeId, commands: COMMANDS, caps: ['system'], clientMode: 'node' });
    const pending = payloadOf(await admin.request('node.pair.list')).pending as Record<string, unknown>[];
    expect(pending).toEqual([expect.objectContaining({ requestId: requested.requestId, nodeId })]);

    const listed = payloadOf(await admin.request('node.describe', { nodeId }));
    expect(listed).toMatchObject({ approvalState: 'pending-approval', paired: false, connected: true, commands: [] });
    expect(listed.pendingDeclaredCommands).toEqual(COMMANDS);

    const refused = await admin.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'k1' });
    expect(errorOf(refused)).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'NODE_NOT_APPROVED' } });

    const approved = await admin.request('node.pair.approve', { requestId: requested.requestId });
    expect(approved.ok).toBe(true);
    expect(payloadOf(approved).node).toMatchObject({ nodeId, commands: COMMANDS, silent: false });
    // The node hears about it directly (no seq), operators by broadcast (with seq).
    const toNode = await nodeClient.event('node.pair.resolved');
    expect(toNode.payload).toMatchObject({ nodeId, decision: 'approved' });
    expect(toNode.seq).toBeUndefined();
    const toAdmin = await admin.event('node.pair.resolved');
    expect(typeof toAdmin.seq).toBe('number');

    const nodes = payloadOf(await admin.request('node.list')).nodes as Record<string, unknown>[];
    expect(nodes).toEqual([expect.objectContaining({ nodeId, approvalState: 'approved', paired: true, connected: true, commands: COMMANDS })]);
    expect(payloadOf(await admin.request('node.pair.list')).pending).toEqual([]);
  });

  it('rejects a request, and answers an unknown one with "unknown requestId"', async () => {
    gw = await startTestGateway({ pairing: 'manual' });
    const { client: admin } = await operator();
    const { nodeId: first } = await node();
    const request = payloadOf(await admin.event('node.pair.requested'));
    const rejected = await admin.request('node.pair.reject', { requestId: request.requestId });
    expect(payloadOf(rejected)).toMatchObject({ requestId: request.requestId, nodeId: first, decision: 'rejected' });
    expect(payloadOf(await admin.request('node.describe', { nodeId: first })).approvalState).toBe('unapproved');

    const unknown = await admin.request('node.pair.approve', { requestId: request.requestId });
    expect(errorOf(unknown)).toMatchObject({ code: 'INVALID_REQUEST', message: 'unknown requestId' });
  });

  it('expires a request nobody answers, announced as resolved with decision "expired"', async () => {
    // Nothing has to beat the expiry: every frame is kept, and the expiry is only waited for.
    gw = await startTestGateway({ pairing: 'manual', pairingTtlMs: 1_000 });
    const { client: admin } = await operator();
    const { nodeId: second } = await node();
    const expiring = payloadOf(await admin.event('node.pair.requested'));
    expect(expiring.nodeId).toBe(second);
    const expired = payloadOf(await admin.next((f) => f.event === 'node.pair.resolved' && payloadOf(f).decision === 'expired'));
    expect(expired).toMatchObject({ requestId: expiring.requestId, nodeId: second });
    expect(payloadOf(await admin.request('node.pair.list')).pending).toEqual([]);
  });

  it('pairs a loopback node silently in auto-local mode', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const { client: admin } = await operator();
    const { nodeId } = await node();
    const described = payloadOf(await admin.request('node.describe', { nodeId }));
    expect(described).toMatchObject({ approvalState: 'approved', paired: true, connected: true });
    expect(payloadOf(await admin.request('node.pair.list')).paired).toEqual([expect.objectContaining({ nodeId, silent: true })]);
  });
});

describe('node.pair.remove', () => {
  it('forgets a paired node and closes its live connection with 4001, which the node sees', async () => {
    gw = await startTestGateway({ pairing: 'auto-local' });
    const { client: admin } = await operator();
    const { client: nodeClient, nodeId } = await node();
    const removed = await admin.request('node.pair.remove', { nodeId });
    expect(removed.payload).toEqual({ nodeId });
    expect(await nodeClient.closed).toEqual({ code: 4001, reason: 'node removed' });
    expect(payloadOf(await admin.event('node.pair.resolved'))).toMatchObject({ nodeId, decision: 'removed' });
    await gw.logs.waitFor((line) => line.msg === 'credentials revoked' && line.reason === 'node removed');
    expect(errorOf(await admin.request('node.describe', { nodeId })).details).toMatchObject({ code: 'NODE_NOT_FOUND' });
    expect(payloadOf(await admin.request('node.pair.list')).paired).toEqual([]);
    const unknown = await admin.request('node.pair.remove', { nodeId });
    expect(errorOf(unknown)).toMatchObject({ code: 'INVALID_REQUEST', message: 'unknown nodeId' });
  });
});

describe('node.invoke', () => {
  it('routes a command to the node and its answer back to the operator', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator(['operator.write']);
    const { client: nodeClient, nodeId } = await node();
    const pending = admin.request('node.invoke', {
      nodeId,
      command: 'system.which',
      params: { bins: ['uname'] },
      idempotencyKey: 'idem-1',
      timeoutMs: 5_000,
    });
    const request = payloadOf(await nodeClient.event('node.invoke.request'));
    expect(request).toMatchObject({ nodeId, command: 'system.which', paramsJSON: '{"bins":["uname"]}', timeoutMs: 5_000, idempotencyKey: 'idem-1' });
    const ack = await nodeClient.request('node.invoke.result', {
      id: request.id,
      nodeId,
      ok: true,
      payloadJSON: '{"bins":{"uname":"/usr/bin/uname"}}',
    });
    expect(payloadOf(ack)).toEqual({ ok: true });
    const answer = await pending;
    expect(answer.ok).toBe(true);
    expect(answer.payload).toEqual({
      ok: true,
      nodeId,
      command: 'system.which',
      payload: { bins: { uname: '/usr/bin/uname' } },
      payloadJSON: '{"bins":{"uname":"/usr/bin/uname"}}',
    });
  });

  it('passes a node failure on, times out a silent node, and ignores its late result', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator();
    const { client: nodeClient, nodeId } = await node();

    const failing = admin.request('node.invoke', { nodeId, command: 'system.run', idempotencyKey: 'f' });
    const failRequest = payloadOf(await nodeClient.event('node.invoke.request'));
    await nodeClient.request('node.invoke.result', { id: failRequest.id, nodeId, ok: false, error: { code: 'DENIED', message: 'exec denied' } });
    expect(errorOf(await failing)).toMatchObject({ code: 'UNAVAILABLE', message: 'DENIED: exec denied', details: { nodeError: { code: 'DENIED' } } });

    const started = Date.now();
    const slow = await admin.request('node.invoke', { nodeId, command: 'system.which', timeoutMs: 200, idempotencyKey: 's' });
    expect(errorOf(slow)).toEqual({
      code: 'UNAVAILABLE',
      message: 'TIMEOUT: node invoke timed out',
      details: { nodeError: { code: 'TIMEOUT', message: 'node invoke timed out' }, nodeCommandDispatched: true },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    const lateRequest = payloadOf(await nodeClient.event('node.invoke.request', 1));
    const late = await nodeClient.request('node.invoke.result', { id: lateRequest.id, nodeId, ok: true, payloadJSON: '{}' });
    expect(late.ok).toBe(true);
    expect(late.payload).toEqual({ ok: true, ignored: true });

    const unknown = await nodeClient.request('node.invoke.result', { id: 'never-sent', nodeId, ok: true });
    expect(unknown.payload).toEqual({ ok: true, ignored: true });
  });

  it('fails an invoke at once with UNAVAILABLE when its node disconnects', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator();
    const { client: nodeClient, nodeId } = await node();
    const pending = admin.request('node.invoke', { nodeId, command: 'system.which', timeoutMs: 10_000, idempotencyKey: 'g' });
    await nodeClient.event('node.invoke.request');
    const started = Date.now();
    nodeClient.ws.terminate();
    const answer = await pending;
    expect(errorOf(answer)).toMatchObject({ code: 'UNAVAILABLE', message: 'DISCONNECTED: node disconnected (system.which)', retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);

    const after = await admin.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'h' });
    expect(errorOf(after)).toMatchObject({
      code: 'UNAVAILABLE',
      message: 'node not connected',
      details: { code: 'NOT_CONNECTED', nodeId, nodeError: { code: 'NOT_CONNECTED', message: 'node not connected' }, nodeCommandDispatched: false },
    });
    expect(payloadOf(await admin.request('node.describe', { nodeId }))).toMatchObject({ connected: false, paired: true });
  });

  it('rejects a result sent by a node the invoke was not sent to', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator();
    const { client: target, nodeId } = await node();
    const { client: other, nodeId: otherId } = await node();
    const pending = admin.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'w' });
    const request = payloadOf(await target.event('node.invoke.request'));
    const forged = await other.request('node.invoke.result', { id: request.id, nodeId: otherId, ok: true, payloadJSON: '"forged"' });
    expect(errorOf(forged)).toMatchObject({ code: 'INVALID_REQUEST', details: { code: 'NODE_MISMATCH' } });
    const spoofed = await other.request('node.invoke.result', { id: request.id, nodeId, ok: true, payloadJSON: '"spoofed"' });
    expect(errorOf(spoofed).details).toMatchObject({ code: 'NODE_MISMATCH' });
    await target.request('node.invoke.result', { id: request.id, nodeId, ok: true, payloadJSON: '"genuine"' });
    expect(payloadOf(await pending).payload).toBe('genuine');
  });

  it('keeps a reconnected node routable when its old connection closes late', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator();
    const nodeId = 'node-reconnecting';
    const { client: oldConnection } = await node(nodeId);
    const { client: newConnection } = await node(nodeId);
    await oldConnection.close();
    await gw.logs.waitFor((line) => line.msg === 'connection closed' && line.cause === 'peer-closed');
    expect(payloadOf(await admin.request('node.describe', { nodeId })).connected).toBe(true);
    const pending = admin.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'r' });
    await answerNextInvoke(newConnection, nodeId, { via: 'new' });
    expect(payloadOf(await pending).payload).toEqual({ via: 'new' });
  });

  it('refuses unknown nodes and commands outside the approved surface', async () => {
    gw = await startTestGateway();
    const { client: admin } = await operator();
    const { nodeId } = await node();
    expect(errorOf(await admin.request('node.invoke', { nodeId: 'ghost', command: 'x', idempotencyKey: 'a' })).code).toBe('UNAVAILABLE');
    const notAllowed = await admin.request('node.invoke', { nodeId, command: 'rm.everything', idempotencyKey: 'b' });
    expect(errorOf(notAllowed)).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'node command not allowed: the node (platform: linux) does not support "rm.everything"',
      details: { code: 'COMMAND_NOT_ALLOWED', reason: 'command not declared by node', allowed: COMMANDS },
    });
    expect(errorOf(await admin.request('node.invoke', { nodeId })).message).toMatch(/invalid node.invoke params: \/command/);
    expect(errorOf(await admin.request('node.describe', { nodeId: 'ghost' })).details).toMatchObject({ code: 'NODE_NOT_FOUND' });
  });
});

describe('roles and scopes', () => {
  it('keeps node methods for nodes and operator methods for operators, and checks scopes', async () => {
    gw = await startTestGateway();
    const { client: reader } = await operator(['operator.read']);
    const { client: nodeClient, nodeId } = await node();

    expect(errorOf(await nodeClient.request('node.list')).details).toMatchObject({ code: 'ROLE_NOT_ALLOWED' });
    expect(errorOf(await reader.request('node.invoke.result', { id: 'x', nodeId, ok: true })).details).toMatchObject({
      code: 'ROLE_NOT_ALLOWED',
    });
    const write = await reader.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'z' });
    expect(errorOf(write)).toMatchObject({
      code: 'FORBIDDEN',
      message: 'missing scope: operator.write',
      details: { code: 'MISSING_SCOPE', missingScope: 'operator.write', requiredScopes: ['operator.write'] },
    });
    expect(errorOf(await reader.request('node.pair.list')).details).toMatchObject({ missingScope: 'operator.pairing' });
    expect((await reader.request('node.list')).ok).toBe(true);

    const { client: pairer } = await operator(['operator.pairing']);
    expect((await pairer.request('node.pair.list')).ok).toBe(true);
    expect(errorOf(await pairer.request('node.list')).details).toMatchObject({ missingScope: 'operator.read' });
  });

  it('accepts the node host bookkeeping methods, and re-broadcasts no node event as node.event', async () => {
    gw = await startTestGateway();
    const { client: reader, hello } = await operator(['operator.read']);
    const { client: nodeClient, nodeId } = await node();
    for (const method of ['node.runnerInventory.update', 'node.skills.update', 'node.pluginTools.update']) {
      const response = await nodeClient.request(method, {});
      expect(response.ok).toBe(true);
      expect(response.payload).toEqual({ nodeId });
    }
    const ack = await nodeClient.request('node.event', { event: 'exec.finished', payloadJSON: '{"exitCode":0}' });
    expect(ack.payload).toEqual({ ok: true, event: 'exec.finished', handled: false, reason: 'unsupported_event' });
    expect(errorOf(await nodeClient.request('node.nonexistent')).message).toBe('unknown method: node.nonexistent');
    // A barrier: a response the reader asks for after the node's event was handled; no node.event came before it.
    expect((await reader.request('health')).ok).toBe(true);
    expect(reader.frames.filter((frame) => frame.event === 'node.event')).toEqual([]);
    expect((hello as { features: { events: string[] } }).features.events).not.toContain('node.event');
    expect((hello as { features: { events: string[] } }).features.events).toContain('node.hostStats');
  });
});
