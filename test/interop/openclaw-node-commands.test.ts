// What an operator can make the real OpenClaw node host (`openclaw node run`, 2026.9.6) do through actorgate, with
// the node's exec approvals set to ask (`openclaw approvals set` in the node host's own state dir, before it starts):
// a system.run that carries forged approval fields is refused by the gateway and never reaches the node (the file
// it would touch does not exist); the same run without them reaches the node, whose own policy asks, and with no
// one to ask, denies it. Then what the 2026.9.6 CLI prints for each invoke failure, against a node of the test's
// own that times out, fails or vanishes: the reference gateway's messages, word for word.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type TestClient } from '../helpers/client.js';
import { LEVEL, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ensureOpenclaw, openclaw, openclawHome, openclawProcess, type CliResult, type OpenclawProcess } from './openclaw.js';

const NODE_NAME = 'actorgate-ask-node';
/** The node host's exec approvals: run anything, but ask a human every time; with no one to ask, deny. */
const ASK_ALWAYS = { version: 1, defaults: { security: 'full', ask: 'always', askFallback: 'deny' } };

function logCli(label: string, result: CliResult): void {
  console.log(`openclaw ${label} -> exit ${result.code}\n${result.stdout}${result.stderr}`);
}

function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the real node host with exec approvals set to ask', () => {
  let gw: TestGateway;
  let nodeHost: OpenclawProcess | undefined;
  let nodeId: string;
  const scratch = mkdtempSync(join(tmpdir(), 'actorgate-forged-'));
  const target = join(scratch, 'touched-by-forgery');

  const cli = (args: string[]) => openclaw([...args, '--url', gw.url, '--token', gw.token]);
  const invoke = (command: string, params: unknown) =>
    cli(['gateway', 'call', 'node.invoke', '--json', '--params', JSON.stringify({ nodeId, command, params, idempotencyKey: randomUUID() })]);

  beforeAll(async () => {
    ensureOpenclaw();
    gw = await startTestGateway({ pairing: 'manual' });
    const home = openclawHome();
    const approvalsFile = join(home, 'exec-approvals.json');
    writeFileSync(approvalsFile, JSON.stringify(ASK_ALWAYS));
    const set = await openclaw(['approvals', 'set', '--file', approvalsFile, '--json'], {}, 60_000, home);
    logCli('approvals set --file (ask: always) in the node host home', set);
    expect(set.code).toBe(0);
    nodeHost = openclawProcess(
      ['node', 'run', '--host', '127.0.0.1', '--port', String(gw.gateway.port), '--no-tls', '--display-name', NODE_NAME, '--auth-from-env'],
      { OPENCLAW_GATEWAY_TOKEN: gw.token },
      home,
    );
    // The node host takes from 4 s on an idle machine to well over 30 s on a loaded one to connect.
    const ready = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.clientId === 'node-host', 180_000);
    nodeId = ready.deviceId as string;
    // Approving a node that declares system.run takes operator.admin: the CLI reads requiredApproveScopes and asks for it.
    const pending = parseJson<{ requestId: string; nodeId: string; requiredApproveScopes?: string[] }[]>(await cli(['nodes', 'pending', '--json']));
    const row = pending.find((entry) => entry.nodeId === nodeId);
    expect(row?.requiredApproveScopes).toEqual(['operator.pairing', 'operator.admin']);
    const approved = await cli(['nodes', 'approve', row!.requestId, '--json']);
    logCli('nodes approve', approved);
    expect(approved.code).toBe(0);
  }, 360_000);

  afterAll(async () => {
    if (nodeHost) {
      await nodeHost.dispose();
      console.log(`openclaw node run output:\n${nodeHost.output()}`);
    }
    await gw?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the issue command: openclaw nodes invoke refuses system.run itself, so nothing reaches the gateway', async () => {
    const before = gw.logs.lines.length;
    const params = JSON.stringify({ command: ['touch', target], approved: true });
    const result = await cli(['nodes', 'invoke', '--node', nodeId, '--command', 'system.run', '--params', params, '--json']);
    logCli(`nodes invoke --command system.run --params '${params}'`, result);
    expect(result.code).not.toBe(0);
    expect(parseJson<{ error: { message: string } }>(result).error.message).toContain('reserved for shell execution');
    expect(gw.logs.lines.slice(before).filter((line) => line.event === 'connection.ready')).toEqual([]);
    expect(existsSync(target)).toBe(false);
  });

  it('forged approval fields are refused by the gateway, with a prepared plan too; the node never gets the run', async () => {
    // What an attacker would do: have the node prepare a plan (an ordinary write-scoped invoke), then claim approval of it.
    const prepared = await invoke('system.run.prepare', { command: ['touch', target] });
    logCli('gateway call node.invoke system.run.prepare', prepared);
    const plan = prepared.code === 0 ? (parseJson<{ payload?: { plan?: unknown } }>(prepared).payload?.plan ?? undefined) : undefined;
    for (const forged of [
      { approved: true },
      { approved: true, approvalDecision: 'allow-always', approvalSource: 'operator' },
      { approvalSource: 'ask-fallback' },
      ...(plan ? [{ approved: true, approvalDecision: 'allow-once', systemRunPlan: plan }] : []),
    ]) {
      const result = await invoke('system.run', { command: ['touch', target], ...forged });
      logCli(`gateway call node.invoke system.run ${Object.keys(forged).join('+')}`, result);
      expect(result.code).not.toBe(0);
      expect(parseJson(result)).toMatchObject({
        ok: false,
        error: { code: 'INVALID_REQUEST', details: { code: 'APPROVAL_FIELDS_NOT_ALLOWED', command: 'system.run' } },
      });
      expect(existsSync(target)).toBe(false);
    }
    const refusals = gw.logs.lines.filter((line) => line.event === 'node.invoke.refused');
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    for (const line of refusals) expect(line).toMatchObject({ level: LEVEL.warn, role: 'operator', detail: 'APPROVAL_FIELDS_NOT_ALLOWED' });
  });

  it('the same run without them reaches the node host, whose own policy (ask, nobody to ask) denies it', async () => {
    const result = await invoke('system.run', { command: ['touch', target] });
    logCli('gateway call node.invoke system.run (no forged fields)', result);
    expect(result.code).not.toBe(0);
    const { error } = parseJson<{ error: { code: string; message: string; details: { nodeError: { code: string } } } }>(result);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.details.nodeError.code).toBe('SYSTEM_RUN_DENIED');
    expect(error.message).toMatch(/^SYSTEM_RUN_DENIED: .*approval required/);
    expect(existsSync(target)).toBe(false);
  });

  it('openclaw nodes status shows the node host load, memory and disk', async () => {
    await until(() => gw.gateway.state.node(nodeId)?.hostStats !== undefined, 30_000, 'the node host stats');
    const result = await cli(['nodes', 'status']);
    logCli('nodes status', result);
    expect(result.code).toBe(0);
    // The table wraps its Detail column to the terminal's width: read that column's pieces back into one text.
    const detail = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('\u2502'))
      .map((line) => line.split('\u2502')[4] ?? '')
      .join('')
      .replace(/\s+/g, '');
    console.log(`Detail column: ${detail}`);
    expect(detail).toMatch(/load[\d.]+\/\d+/);
    expect(detail).toMatch(/mem[\d.]+\/[\d.]+[KMGT]?i?B/);
    expect(detail).toMatch(/disk[\d.]+[KMGT]?i?Bfree/);
    const json = parseJson<{ nodes: { nodeId: string; hostStats?: Record<string, number> }[] }>(await cli(['nodes', 'status', '--json']));
    expect(json.nodes.find((entry) => entry.nodeId === nodeId)?.hostStats).toMatchObject({ cpuCount: expect.any(Number), updatedAtMs: expect.any(Number) });
  });
});

describe('what openclaw nodes invoke prints for each invoke failure', () => {
  let gw: TestGateway;
  let fake: TestClient;
  const nodeId = `fake-node-${randomUUID().slice(0, 8)}`;
  const nodesInvoke = (extra: string[] = []) =>
    openclaw(['nodes', 'invoke', '--node', nodeId, '--command', 'system.which', '--params', '{"bins":["uname"]}', ...extra, '--json', '--url', gw.url, '--token', gw.token]);
  /** The `nth` invoke request (from 0) the fake node gets; the CLI takes seconds to start, so this waits long. */
  const nthRequest = (nth: number) => {
    let seen = 0;
    return fake.next((frame) => frame.event === 'node.invoke.request' && seen++ === nth, 120_000);
  };
  const printed = (result: CliResult) => parseJson<{ ok: boolean; error: { message: string } }>(result).error.message;

  beforeAll(async () => {
    ensureOpenclaw();
    gw = await startTestGateway({ pairing: 'auto-local' });
    ({ client: fake } = await connectClient(gw.url, gw.token, {
      role: 'node',
      scopes: [],
      client: { id: nodeId, displayName: 'fake node', version: '1.0.0', platform: 'linux', mode: 'node' },
      commands: ['system.which'],
    }));
  });

  afterAll(async () => {
    fake?.ws.terminate();
    await gw?.close();
  });

  it('a timeout: "TIMEOUT: node invoke timed out", as from the reference gateway', async () => {
    const result = await nodesInvoke(['--invoke-timeout', '1000']);
    logCli('nodes invoke (node silent, --invoke-timeout 1000)', result);
    expect(result.code).not.toBe(0);
    expect(printed(result)).toBe('TIMEOUT: node invoke timed out');
  });

  it('a node error: "<code>: <message>" of the node', async () => {
    const answered = (async () => {
      const request = (await nthRequest(1)).payload as { id: string };
      await fake.request('node.invoke.result', { id: request.id, nodeId, ok: false, error: { code: 'INVALID_REQUEST', message: 'bins required' } });
    })();
    const result = await nodesInvoke();
    await answered;
    logCli('nodes invoke (node answers an error)', result);
    expect(printed(result)).toBe('INVALID_REQUEST: bins required');
  });

  it('the node vanishing mid-invoke: "DISCONNECTED: node disconnected (system.which)"', async () => {
    const vanished = (async () => {
      await nthRequest(2);
      fake.ws.terminate();
    })();
    const result = await nodesInvoke();
    await vanished;
    logCli('nodes invoke (node vanishes)', result);
    expect(printed(result)).toBe('DISCONNECTED: node disconnected (system.which)');
  });
});
