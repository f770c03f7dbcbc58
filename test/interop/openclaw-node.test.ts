// The real OpenClaw node host (`openclaw node run`, 2026.9.6) and `openclaw nodes` CLI against actorgate in manual
// pairing mode: the node connects, its command surface shows up as pending, an operator approves it, the node is
// listed as connected and approved, a node.invoke round-trips through the node, and once the node host is killed an
// invoke fails at once with UNAVAILABLE instead of waiting for its timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type LogLine, type TestGateway } from '../helpers/gateway.js';
import { ensureOpenclaw, openclaw, openclawProcess, type CliResult, type OpenclawProcess } from './openclaw.js';

const NODE_NAME = 'actorgate-interop-node';
/** The CLI's own default for `nodes invoke --invoke-timeout`; the failing invoke must end well before it. */
const INVOKE_TIMEOUT_MS = 15_000;

let gw: TestGateway;
let nodeHost: OpenclawProcess | undefined;
/** The node host's `handshake complete` log line: its connId and deviceId (= nodeId). */
let nodeReady: LogLine;
let nodeId: string;
let requestId: string;

function nodesCli(args: string[]): Promise<CliResult> {
  return openclaw(['nodes', ...args, '--url', gw.url, '--token', gw.token]);
}

function logCli(label: string, result: CliResult): void {
  console.log(`openclaw ${label} -> exit ${result.code}\n${result.stdout}${result.code === 0 ? '' : result.stderr}`);
}

function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

interface PendingRow {
  requestId: string;
  nodeId: string;
  displayName?: string;
  commands?: string[];
}

interface NodeEntry {
  nodeId: string;
  displayName?: string;
  clientId?: string;
  connected?: boolean;
  paired?: boolean;
  approvalState?: string;
  commands?: string[];
}

beforeAll(async () => {
  ensureOpenclaw();
  gw = await startTestGateway({ pairing: 'manual' });
  // --auth-from-env: take the shared token only from OPENCLAW_GATEWAY_TOKEN (node run has no --token flag);
  // --no-tls: plain ws:// to the loopback gateway; own HOME/OPENCLAW_STATE_DIR hold the node's identity (sqlite).
  nodeHost = openclawProcess(
    ['node', 'run', '--host', '127.0.0.1', '--port', String(gw.gateway.port), '--no-tls', '--display-name', NODE_NAME, '--auth-from-env'],
    { OPENCLAW_GATEWAY_TOKEN: gw.token },
  );
});

afterAll(async () => {
  if (nodeHost) {
    await nodeHost.dispose();
    console.log(`openclaw node run output:\n${nodeHost.output()}`);
  }
  await gw?.close();
});

describe('openclaw node host', () => {
  it('connects to the gateway as a node', async () => {
    try {
      nodeReady = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.clientId === 'node-host', 60_000);
    } catch (error) {
      console.log(`openclaw node run output so far:\n${nodeHost?.output()}`);
      throw error;
    }
    expect(nodeReady).toMatchObject({ role: 'node', clientMode: 'node', protocol: 4 });
    expect(nodeReady.deviceId).toMatch(/^[0-9a-f]{64}$/);
    nodeId = nodeReady.deviceId as string;
  });

  it('nodes pending lists its command surface with a requestId', async () => {
    // The pending request is created when the node connects; allow the gateway a moment to record it.
    let pending: PendingRow[] = [];
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const result = await nodesCli(['pending', '--json']);
      logCli('nodes pending --json', result);
      expect(result.code).toBe(0);
      pending = parseJson<PendingRow[]>(result);
      if (pending.some((row) => row.nodeId === nodeId)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const row = pending.find((entry) => entry.nodeId === nodeId);
    expect(row).toMatchObject({ nodeId, displayName: NODE_NAME, requestId: expect.any(String) });
    expect(row!.commands).toContain('system.which');
    requestId = row!.requestId;
  });

  it('nodes approve approves the pending request', async () => {
    const result = await nodesCli(['approve', requestId, '--json']);
    logCli(`nodes approve ${requestId} --json`, result);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toMatchObject({ requestId, node: { nodeId } });
  });

  it('nodes status shows it connected, paired and approved', async () => {
    const result = await nodesCli(['status', '--json']);
    logCli('nodes status --json', result);
    expect(result.code).toBe(0);
    const { nodes } = parseJson<{ nodes: NodeEntry[] }>(result);
    const entry = nodes.find((node) => node.nodeId === nodeId);
    expect(entry).toMatchObject({
      nodeId,
      displayName: NODE_NAME,
      clientId: 'node-host',
      connected: true,
      paired: true,
      approvalState: 'approved',
    });
    expect(entry!.commands).toContain('system.which');
  });

  it('nodes invoke system.which returns the node host answer', async () => {
    const result = await nodesCli(['invoke', '--node', nodeId, '--command', 'system.which', '--params', '{"bins":["uname"]}', '--json']);
    logCli(`nodes invoke --node ${nodeId} --command system.which --params '{"bins":["uname"]}' --json`, result);
    expect(result.code).toBe(0);
    const answer = parseJson<{ ok: boolean; nodeId: string; command: string; payload: { bins: Record<string, string> } }>(result);
    expect(answer).toMatchObject({ ok: true, nodeId, command: 'system.which' });
    expect(answer.payload.bins.uname).toMatch(/^\/.*\/uname$/);
  });

  it('after the node host is killed, an invoke fails at once with UNAVAILABLE', async () => {
    nodeHost!.kill('SIGKILL');
    const exit = await nodeHost!.exited;
    console.log(`openclaw node run killed -> ${exit.signal ?? exit.code}`);
    const closed = await gw.logs.waitFor((line) => line.msg === 'connection closed' && line.connId === nodeReady.connId, 5_000);
    console.log(`gateway saw the node connection close: code ${String(closed.code)} ${String(closed.reason ?? '')}`);

    const linesBefore = gw.logs.lines.length;
    const result = await nodesCli([
      'invoke', '--node', nodeId, '--command', 'system.which', '--params', '{"bins":["uname"]}',
      '--invoke-timeout', String(INVOKE_TIMEOUT_MS), '--json',
    ]);
    // Timed by the gateway, not around the CLI (a whole Node 24 process): how long each connection the CLI opened
    // for this (node.list, then node.invoke) lived, from its open to its close, in the gateway's own log lines.
    const cliConnIds = gw.logs.lines.slice(linesBefore).filter((line) => line.event === 'connection.ready').map((line) => String(line.connId));
    const cliCloses = await Promise.all(
      cliConnIds.map((connId) => gw.logs.waitFor((line) => line.event === 'connection.closed' && line.connId === connId, 5_000)),
    );
    const livedMs = cliCloses.map((line) => line.durationMs as number);
    console.log(`openclaw nodes invoke (node killed) -> exit ${result.code}; its connections lived ${livedMs.join(', ')} ms\n${result.stdout}${result.stderr}`);
    expect(result.code).not.toBe(0);
    // With --json the CLI prints {ok:false, error:{type:"cli_error", message}} on stdout and a "Reason:" line on
    // stderr; the message is the gateway's. It found the node (still listed, disconnected), so no "unknown node".
    const printed = result.stdout + result.stderr;
    expect(printed).not.toMatch(/unknown node/i);
    expect(parseJson<{ ok: boolean; error: { message: string } }>(result)).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/not connected|unavailable|disconnected/i) },
    });
    expect(cliConnIds.length).toBeGreaterThanOrEqual(1);
    for (const lived of livedMs) expect(lived).toBeLessThan(INVOKE_TIMEOUT_MS / 2);

    // `nodes` subcommands print only the message; `gateway call` prints the gateway's error shape with its code.
    const params = { nodeId, command: 'system.which', params: { bins: ['uname'] }, idempotencyKey: `interop-${Date.now()}`, timeoutMs: INVOKE_TIMEOUT_MS };
    const raw = await openclaw(['gateway', 'call', 'node.invoke', '--params', JSON.stringify(params), '--url', gw.url, '--token', gw.token, '--json']);
    console.log(`openclaw gateway call node.invoke (node killed) -> exit ${raw.code}\n${raw.stdout}`);
    expect(raw.code).not.toBe(0);
    expect(parseJson(raw)).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  });

  it('nodes remove forgets the stale paired node', async () => {
    const result = await nodesCli(['remove', '--node', nodeId, '--json']);
    logCli(`nodes remove --node ${nodeId} --json`, result);
    expect(result.code).toBe(0);
    const status = parseJson<{ nodes: NodeEntry[] }>(await nodesCli(['status', '--json']));
    expect(status.nodes.map((node) => node.nodeId)).not.toContain(nodeId);
  });
});
