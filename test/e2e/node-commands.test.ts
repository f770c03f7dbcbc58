// What an operator may make a node do, over real sockets on loopback, each rule tried the ways a caller would try to
// get past it: forged exec-approval fields, command classes by scope (invoke and approval), the gateway's
// allow/deny policy, and host stats as the reference keeps them.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectParams } from '../../machines/protocol.js';
import type { GatewayOptions } from '../../src/config/options.js';
import { diagnoseRecords } from '../../src/observability/diagnose/aggregate.js';
import { connectClient, type Frame, type TestClient } from '../helpers/client.js';
import { LEVEL, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** The built CLI (`npx tsc -p tsconfig.build.json` first). */
const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
/** What the real node host (openclaw 2026.9.6 on Linux) declares, in short. */
const NODE_HOST_COMMANDS = ['system.run', 'system.run.prepare', 'system.which', 'fs.listDir', 'browser.proxy', 'camera.list'];

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

async function start(options: GatewayOptions = {}) {
  gw = await startTestGateway(options);
}

async function operator(scopes: string[], overrides: Partial<ConnectParams> = {}) {
  const { client } = await connectClient(gw.url, gw.token, { scopes, ...overrides });
  clients.push(client);
  return client;
}

async function node(commands = NODE_HOST_COMMANDS, nodeId = `node-${randomUUID().slice(0, 8)}`) {
  const { client } = await connectClient(gw.url, gw.token, {
    role: 'node',
    scopes: [],
    client: { id: nodeId, displayName: 'test node', version: '1.0.0', platform: 'linux', mode: 'node', instanceId: randomUUID() },
    caps: ['system'],
    commands,
  });
  clients.push(client);
  return { client, nodeId };
}

const payloadOf = (frame: Frame) => frame.payload as Record<string, any>;
const errorOf = (frame: Frame) => frame.error as { code: string; message: string; details?: Record<string, any> };
const invokeRequests = (nodeClient: TestClient) => nodeClient.frames.filter((frame) => frame.event === 'node.invoke.request');

/** Sends an invoke, and answers it on the node with `{ran: <the params the node got>}`; resolves with the operator's answer. */
async function invokeAnswered(op: TestClient, nodeClient: TestClient, nodeId: string, command: string, params: unknown) {
  const seen = invokeRequests(nodeClient).length;
  const answer = op.request('node.invoke', { nodeId, command, params, idempotencyKey: randomUUID() });
  const request = payloadOf(await nodeClient.event('node.invoke.request', seen));
  await nodeClient.request('node.invoke.result', { id: request.id, nodeId, ok: true, payloadJSON: JSON.stringify({ ran: request.paramsJSON }) });
  return { answer: await answer, request };
}

describe('exec-approval fields never pass from an operator to a node', () => {
  const FORGERIES: Record<string, unknown>[] = [
    { approved: true },
    { approvalDecision: 'allow-always' },
    { approvalDecision: 'allow-once' },
    { approvalSource: 'operator' },
    { approvalSource: 'ask-fallback' },
    { approvalSource: 'auto-review' },
    { approved: true, approvalDecision: 'allow-always', approvalSource: 'operator' },
    // Values the node host would not read as an approval are refused too: the fields are the node owner's alone.
    { approved: false },
    { approvalDecision: null },
  ];

  it('refuses each of them in system.run, system.run.prepare and the Claude runner, for write and admin alike; the node gets nothing', async () => {
    await start();
    const writer = await operator(['operator.write']);
    const admin = await operator(['operator.admin']);
    const { client: nodeClient, nodeId } = await node([...NODE_HOST_COMMANDS, 'agent.cli.claude.run.v1']);
    for (const caller of [writer, admin]) {
      for (const command of ['system.run', 'system.run.prepare', 'agent.cli.claude.run.v1']) {
        for (const forged of FORGERIES) {
          const params = { command: ['touch', '/tmp/forged'], ...forged };
          const refused = await caller.request('node.invoke', { nodeId, command, params, idempotencyKey: randomUUID() });
          if (command === 'agent.cli.claude.run.v1' && caller === writer) {
            // Admin-only to invoke at all; the scope refusal comes first.
            expect(errorOf(refused).details).toMatchObject({ code: 'MISSING_SCOPE', missingScope: 'operator.admin' });
            continue;
          }
          expect(errorOf(refused), `${command} ${JSON.stringify(forged)}`).toMatchObject({
            code: 'INVALID_REQUEST',
            details: { code: 'APPROVAL_FIELDS_NOT_ALLOWED', command, fields: Object.keys(forged) },
          });
        }
      }
    }
    // A barrier: the same command without the forged fields is the first thing the node is sent.
    const { answer, request } = await invokeAnswered(writer, nodeClient, nodeId, 'system.run', { command: ['true'], cwd: '/tmp' });
    expect(answer.ok).toBe(true);
    expect(invokeRequests(nodeClient)).toHaveLength(1);
    expect(JSON.parse(request.paramsJSON as string)).toEqual({ command: ['true'], cwd: '/tmp' });
  });

  it('cannot be smuggled in as paramsJSON text, a nested object, or a command spelled otherwise', async () => {
    await start();
    const writer = await operator(['operator.write']);
    const { client: nodeClient, nodeId } = await node();
    // An operator's paramsJSON is not a field of node.invoke: the node gets no params from it.
    const smuggled = await invokeAnswered(writer, nodeClient, nodeId, 'system.run', undefined);
    expect(smuggled.request.paramsJSON).toBeNull();
    const viaText = writer.request('node.invoke', {
      nodeId,
      command: 'system.run',
      paramsJSON: JSON.stringify({ command: ['touch', '/tmp/x'], approved: true }),
      idempotencyKey: randomUUID(),
    });
    const textRequest = payloadOf(await nodeClient.event('node.invoke.request', 1));
    expect(textRequest.paramsJSON).toBeNull();
    await nodeClient.request('node.invoke.result', { id: textRequest.id, nodeId, ok: false, error: { code: 'INVALID_REQUEST', message: 'command required' } });
    expect((await viaText).ok).toBe(false);
    // Nested fields are not read by the node host (it reads params.approved), so they pass as data.
    const nested = await invokeAnswered(writer, nodeClient, nodeId, 'system.run', { command: ['true'], env: { approved: 'true' } });
    expect(nested.answer.ok).toBe(true);
    // Another spelling of the command is not the node's command at all: refused before anything is sent.
    for (const command of ['System.Run', ' system.run', 'system.run ']) {
      const refused = await writer.request('node.invoke', { nodeId, command, params: { command: ['true'], approved: true }, idempotencyKey: randomUUID() });
      expect(errorOf(refused).details?.code, JSON.stringify(command)).toBe('COMMAND_NOT_ALLOWED');
    }
    expect(invokeRequests(nodeClient)).toHaveLength(3);
  });

  it('logs each refusal at warn with the caller connId and role, and actorgate diagnose counts them', async () => {
    await start();
    const writer = await operator(['operator.write']);
    const { nodeId } = await node();
    for (let i = 0; i < 3; i++) {
      await writer.request('node.invoke', { nodeId, command: 'system.run', params: { command: ['id'], approved: true }, idempotencyKey: randomUUID() });
    }
    const ready = gw.logs.lines.filter((line) => line.event === 'connection.ready' && line.role === 'operator').map((line) => line.connId);
    const refusals = gw.logs.lines.filter((line) => line.event === 'node.invoke.refused');
    expect(refusals).toHaveLength(3);
    for (const line of refusals) {
      expect(line).toMatchObject({ level: LEVEL.warn, role: 'operator', detail: 'APPROVAL_FIELDS_NOT_ALLOWED', command: 'system.run', nodeId, fields: ['approved'] });
      expect(ready).toContain(line.connId);
    }
    const diagnosis = diagnoseRecords(gw.logs.lines);
    expect(diagnosis.nodeCommandRefusals).toEqual([{ method: 'node.invoke', code: 'APPROVAL_FIELDS_NOT_ALLOWED', count: 3 }]);
    expect(diagnosis.findings).toContainEqual(expect.objectContaining({ id: 'node.invoke:APPROVAL_FIELDS_NOT_ALLOWED', count: 3 }));
    // The command itself (the built CLI), fed the log on stdin as `journalctl ... | actorgate diagnose -` would.
    const child = execFile(process.execPath, [bin, 'diagnose', '-']);
    let stdout = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stdin!.end(gw.logs.lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    expect(stdout).toMatch(/node\.invoke\s+APPROVAL_FIELDS_NOT_ALLOWED\s+3/);
    expect(stdout).toMatch(/WARN\s+3\s+node invokes refused: APPROVAL_FIELDS_NOT_ALLOWED/);
  });
});

describe('command classes by scope', () => {
  it('needs operator.admin to invoke fs.listDir, browser.proxy and the exec-approvals file; write runs the rest', async () => {
    await start();
    const writer = await operator(['operator.write']);
    const admin = await operator(['operator.admin']);
    const { client: nodeClient, nodeId } = await node([...NODE_HOST_COMMANDS, 'system.execApprovals.set']);
    for (const command of ['fs.listDir', 'browser.proxy', 'system.execApprovals.set']) {
      const refused = await writer.request('node.invoke', { nodeId, command, params: { path: '/' }, idempotencyKey: randomUUID() });
      expect(errorOf(refused), command).toMatchObject({
        code: 'FORBIDDEN',
        message: 'missing scope: operator.admin',
        details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'], command },
      });
    }
    expect(invokeRequests(nodeClient)).toHaveLength(0);
    expect((await invokeAnswered(admin, nodeClient, nodeId, 'fs.listDir', { path: '/' })).answer.ok).toBe(true);
    expect((await invokeAnswered(writer, nodeClient, nodeId, 'system.which', { bins: ['ls'] })).answer.ok).toBe(true);
    // A reader can invoke nothing at all.
    const reader = await operator(['operator.read']);
    expect(errorOf(await reader.request('node.invoke', { nodeId, command: 'system.which', idempotencyKey: 'r' })).details).toMatchObject({
      missingScope: 'operator.write',
    });
  });

  it('needs operator.admin to approve a node that declares system.run, operator.write for ordinary commands', async () => {
    await start({ pairing: 'manual' });
    const admin = await operator(['operator.admin']);
    const pairerWriter = await operator(['operator.pairing', 'operator.write']);
    const pairerOnly = await operator(['operator.pairing']);
    const { nodeId: shellNode } = await node();
    const shellRequest = payloadOf(await admin.event('node.pair.requested'));
    const { nodeId: cameraNode } = await node(['camera.list', 'location.get']);
    const cameraRequest = payloadOf(await admin.event('node.pair.requested', 1));
    expect(cameraRequest.nodeId).toBe(cameraNode);

    // What approving each takes is listed with the request (the openclaw CLI connects with exactly that).
    const listed = payloadOf(await pairerOnly.request('node.pair.list')).pending as Record<string, any>[];
    expect(listed.find((row) => row.nodeId === shellNode)?.requiredApproveScopes).toEqual(['operator.pairing', 'operator.admin']);
    expect(listed.find((row) => row.nodeId === cameraNode)?.requiredApproveScopes).toEqual(['operator.pairing', 'operator.write']);

    for (const approver of [pairerOnly, pairerWriter]) {
      const refused = await approver.request('node.pair.approve', { requestId: shellRequest.requestId });
      expect(errorOf(refused)).toMatchObject({
        code: 'FORBIDDEN',
        message: 'missing scope: operator.admin',
        details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.pairing', 'operator.admin'], nodeId: shellNode },
      });
    }
    const cameraRefused = await pairerOnly.request('node.pair.approve', { requestId: cameraRequest.requestId });
    expect(errorOf(cameraRefused).details).toMatchObject({ code: 'MISSING_SCOPE', missingScope: 'operator.write' });
    // Still pending after every refusal: nothing was approved behind the error.
    expect((payloadOf(await admin.request('node.pair.list')).pending as unknown[]).length).toBe(2);
    expect(gw.logs.lines.filter((line) => line.event === 'node.pair.refused')).toHaveLength(3);

    expect((await pairerWriter.request('node.pair.approve', { requestId: cameraRequest.requestId })).ok).toBe(true);
    const approved = await admin.request('node.pair.approve', { requestId: shellRequest.requestId });
    expect(payloadOf(approved).node).toMatchObject({ nodeId: shellNode, commands: NODE_HOST_COMMANDS });
  });
});

describe('the approved surface', () => {
  it('is not widened by a node reconnecting with more commands, nor by a command spelled like an approved one', async () => {
    await start({ pairing: 'manual' });
    const admin = await operator(['operator.admin']);
    const nodeId = `node-${randomUUID().slice(0, 8)}`;
    const { client: first } = await node(['camera.list'], nodeId);
    const request = payloadOf(await admin.event('node.pair.requested'));
    expect((await admin.request('node.pair.approve', { requestId: request.requestId })).ok).toBe(true);
    first.ws.terminate();
    const { client: widened } = await node(['camera.list', 'system.run'], nodeId);
    const refused = await admin.request('node.invoke', { nodeId, command: 'system.run', params: { command: ['true'] }, idempotencyKey: randomUUID() });
    expect(errorOf(refused)).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'node command not allowed: "system.run" is not in the node\'s approved command surface',
      details: { code: 'COMMAND_NOT_ALLOWED', reason: 'command not allowlisted', allowed: ['camera.list'] },
    });
    expect(payloadOf(await admin.request('node.describe', { nodeId })).commands).toEqual(['camera.list']);
    expect(invokeRequests(widened)).toHaveLength(0);
  });
});

describe('the gateway policy --node-commands-allow / --node-commands-deny', () => {
  it('withholds denied commands at approval, naming the rule, and never lists them as allowed', async () => {
    await start({ pairing: 'manual', nodeCommandsDeny: ['system.run*', 'browser.*'] });
    const admin = await operator(['operator.admin']);
    const { nodeId } = await node();
    const request = payloadOf(await admin.event('node.pair.requested'));
    // Left after the policy: system.which and fs.listDir still need admin to approve.
    const listed = (payloadOf(await admin.request('node.pair.list')).pending as Record<string, any>[])[0]!;
    expect(listed.requiredApproveScopes).toEqual(['operator.pairing', 'operator.admin']);
    const approved = payloadOf(await admin.request('node.pair.approve', { requestId: request.requestId }));
    expect(approved.node.commands).toEqual(['system.which', 'fs.listDir', 'camera.list']);
    expect(approved.withheldCommands).toEqual([
      { command: 'system.run', rule: { list: 'deny', pattern: 'system.run*' }, reason: 'deny rule "system.run*"' },
      { command: 'system.run.prepare', rule: { list: 'deny', pattern: 'system.run*' }, reason: 'deny rule "system.run*"' },
      { command: 'browser.proxy', rule: { list: 'deny', pattern: 'browser.*' }, reason: 'deny rule "browser.*"' },
    ]);
    expect(payloadOf(await admin.request('node.describe', { nodeId })).commands).toEqual(['system.which', 'fs.listDir', 'camera.list']);
  });

  it('refuses a denied command at invoke even for an admin and a silently paired node, naming the rule', async () => {
    await start({ pairing: 'auto-local', nodeCommandsDeny: ['system.run'], nodeCommandsAllow: ['system.*', 'fs.listDir'] });
    const admin = await operator(['operator.admin']);
    const { client: nodeClient, nodeId } = await node();
    const denied = await admin.request('node.invoke', { nodeId, command: 'system.run', params: { command: ['true'] }, idempotencyKey: 'd' });
    expect(errorOf(denied)).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'node command not allowed: "system.run" is refused by the gateway\'s node command policy, deny rule "system.run"',
      details: { code: 'COMMAND_DENIED_BY_POLICY', command: 'system.run', rule: { list: 'deny', pattern: 'system.run' } },
    });
    const notAllowed = await admin.request('node.invoke', { nodeId, command: 'camera.list', idempotencyKey: 'c' });
    expect(errorOf(notAllowed).details).toEqual({
      code: 'COMMAND_DENIED_BY_POLICY',
      command: 'camera.list',
      rule: { list: 'allow', patterns: ['system.*', 'fs.listDir'] },
    });
    expect(errorOf(notAllowed).message).toContain('allow list (system.*, fs.listDir)');
    expect(invokeRequests(nodeClient)).toHaveLength(0);
    // Deny wins over an allow pattern that also matches; a command both allow and nothing deny goes through.
    expect((await invokeAnswered(admin, nodeClient, nodeId, 'system.run.prepare', { command: ['true'] })).answer.ok).toBe(true);
    const described = payloadOf(await admin.request('node.describe', { nodeId }));
    expect(described.commands).toEqual(['system.run.prepare', 'system.which', 'fs.listDir']);
    expect(gw.logs.lines.filter((line) => line.event === 'node.invoke.refused' && line.detail === 'COMMAND_DENIED_BY_POLICY')).toHaveLength(2);
  });

  it('refuses a command pattern that is not one, by flag name', async () => {
    await expect(startTestGateway({ nodeCommandsDeny: ['system run'] })).rejects.toThrow(/nodeCommandsDeny takes command patterns/);
    await expect(startTestGateway({ nodeCommandsAllow: 'system.*' as unknown as string[] })).rejects.toThrow(/nodeCommandsAllow must be an array/);
  });
});

describe('host stats', () => {
  const STATS = { cpuCount: 8, loadAverage: [0.5, 0.4, 0.3], memoryTotalBytes: 16e9, memoryFreeBytes: 4e9, diskTotalBytes: 5e11, diskAvailableBytes: 2e11 };

  it('become hostStats in node.list and node.describe and a node.hostStats event, the last known kept after a disconnect', async () => {
    await start();
    const reader = await operator(['operator.read']);
    const { client: nodeClient, nodeId } = await node();
    const before = Date.now();
    const ack = await nodeClient.request('node.event', { event: 'node.host.stats', payloadJSON: JSON.stringify(STATS) });
    expect(ack.payload).toEqual({ ok: true, event: 'node.host.stats', handled: true, reason: 'updated' });
    const event = payloadOf(await reader.event('node.hostStats'));
    expect(event).toEqual({ nodeId, hostStats: { ...STATS, updatedAtMs: expect.any(Number) } });
    expect(event.hostStats.updatedAtMs).toBeGreaterThanOrEqual(before);
    const listed = (payloadOf(await reader.request('node.list')).nodes as Record<string, any>[]).find((entry) => entry.nodeId === nodeId);
    expect(listed?.hostStats).toEqual(event.hostStats);
    // A payload given as a value counts too.
    await nodeClient.request('node.event', { event: 'node.host.stats', payload: { ...STATS, cpuCount: 4 } });
    expect(payloadOf(await reader.event('node.hostStats', 1)).hostStats.cpuCount).toBe(4);
    await nodeClient.close();
    // The only ready connection to close here is the node's.
    await gw.logs.waitFor((line) => line.event === 'connection.closed' && line.ready === true);
    const gone = payloadOf(await reader.request('node.describe', { nodeId }));
    expect(gone).toMatchObject({ connected: false, hostStats: { cpuCount: 4 } });
  });

  it('refuses payloads the reference refuses, and stats from a connection another took the node id over from', async () => {
    await start();
    const reader = await operator(['operator.read']);
    const nodeId = `node-${randomUUID().slice(0, 8)}`;
    const { client: older } = await node(NODE_HOST_COMMANDS, nodeId);
    const invalid: unknown[] = [
      { ...STATS, memoryFreeBytes: 17e9 },
      { ...STATS, diskAvailableBytes: 6e11 },
      { cpuCount: 2, memoryTotalBytes: 1, memoryFreeBytes: 0, diskTotalBytes: 10 },
      { cpuCount: 2, memoryTotalBytes: 1, memoryFreeBytes: 0, diskAvailableBytes: 1 },
      { ...STATS, cpuCount: 0 },
      { ...STATS, loadAverage: [1, 2] },
      { ...STATS, loadAverage: [-1, 0, 0] },
      { ...STATS, extra: 'field' },
      { cpuCount: 2 },
      [STATS],
      'not json at all',
    ];
    for (const payload of invalid) {
      const payloadJSON = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const ack = await older.request('node.event', { event: 'node.host.stats', payloadJSON });
      expect(ack.payload, payloadJSON).toEqual({ ok: true, event: 'node.host.stats', handled: false, reason: 'invalid_payload' });
    }
    const { client: newer } = await node(NODE_HOST_COMMANDS, nodeId);
    const stale = await older.request('node.event', { event: 'node.host.stats', payloadJSON: JSON.stringify(STATS) });
    expect(stale.payload).toEqual({ ok: true, event: 'node.host.stats', handled: false, reason: 'stale_connection' });
    const fresh = await newer.request('node.event', { event: 'node.host.stats', payloadJSON: JSON.stringify({ ...STATS, cpuCount: 2 }) });
    expect(payloadOf(fresh).handled).toBe(true);
    // The only hostStats event readers got is the fresh one.
    expect(payloadOf(await reader.event('node.hostStats')).hostStats.cpuCount).toBe(2);
    expect((await reader.request('health')).ok).toBe(true);
    expect(reader.frames.filter((frame) => frame.event === 'node.hostStats')).toHaveLength(1);
    expect(payloadOf(await reader.request('node.describe', { nodeId })).hostStats.cpuCount).toBe(2);
  });
});
