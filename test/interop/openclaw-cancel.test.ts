// Cancellation with the real OpenClaw node host (`openclaw node run`, 2026.9.6): a `system.run` of `sleep 30`
// invoked through actorgate with `timeoutMs: 1000` times out for the operator, actorgate sends the node
// `node.invoke.cancel {invokeId, nodeId}`, and the node host kills the process it started: the `sleep` is gone
// within a few seconds, long before its 30 s. The node host's exec policy is its own default (security
// "full", no approval asked: exec-approvals-config in its bundle), in a HOME of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type LogLine, type TestGateway } from '../helpers/gateway.js';
import { ensureOpenclaw, openclaw, openclawProcess, type OpenclawProcess } from './openclaw.js';

let gw: TestGateway;
let nodeHost: OpenclawProcess | undefined;
let nodeReady: LogLine;

/** Every process on this machine: pid, parent, state and argv (from /proc). */
function processTable(): Array<{ pid: number; ppid: number; state: string; argv: string[] }> {
  const table = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after its last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
      table.push({ pid: Number(entry), ppid: Number(ppid), state: state!, argv });
    } catch {
      // The process ended while we looked.
    }
  }
  return table;
}

/** Live (not zombie) `sleep 30` processes descending from `rootPid`. */
function sleepsUnder(rootPid: number): number[] {
  const table = processTable();
  const parentOf = new Map(table.map((row) => [row.pid, row.ppid]));
  const descends = (pid: number) => {
    for (let at = parentOf.get(pid); at !== undefined && at > 1; at = parentOf.get(at)) if (at === rootPid) return true;
    return false;
  };
  return table.filter((row) => row.state !== 'Z' && row.argv.join(' ') === 'sleep 30' && descends(row.pid)).map((row) => row.pid);
}

beforeAll(async () => {
  ensureOpenclaw();
  // auto-local (the default): the node host on loopback is paired silently, its commands callable at once.
  gw = await startTestGateway();
  nodeHost = openclawProcess(
    ['node', 'run', '--host', '127.0.0.1', '--port', String(gw.gateway.port), '--no-tls', '--display-name', 'actorgate-cancel-node', '--auth-from-env'],
    { OPENCLAW_GATEWAY_TOKEN: gw.token },
  );
  nodeReady = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.clientId === 'node-host', 60_000);
});

afterAll(async () => {
  if (nodeHost) {
    await nodeHost.dispose();
    console.log(`openclaw node run output:\n${nodeHost.output()}`);
  }
  await gw?.close();
});

describe('openclaw node host cancellation', () => {
  it('kills a system.run whose invoke timed out', async () => {
    const nodeId = nodeReady.deviceId as string;
    expect(gw.gateway.state.node(nodeId)).toMatchObject({ paired: true, connected: true });
    // A first run, answered: system.run runs unasked under the node host's default policy, and its exec policy is
    // loaded before the timed run (so the sleep starts well within its second even on a loaded machine).
    const warm = { nodeId, command: 'system.run', params: { command: ['true'] }, timeoutMs: 30_000, idempotencyKey: `warm-${Date.now()}` };
    const warmed = await openclaw(['gateway', 'call', 'node.invoke', '--params', JSON.stringify(warm), '--url', gw.url, '--token', gw.token, '--json']);
    console.log(`openclaw gateway call node.invoke (true) -> exit ${warmed.code}\n${warmed.stdout}`);
    expect(JSON.parse(warmed.stdout)).toMatchObject({ ok: true, payload: { exitCode: 0 } });
    // The sleep is watched for while the call runs: it must have started, and be gone a few seconds later.
    const seen = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const pid of sleepsUnder(nodeHost!.pid)) seen.add(pid);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const params = { nodeId, command: 'system.run', params: { command: ['sleep', '30'] }, timeoutMs: 1_000, idempotencyKey: `cancel-${Date.now()}` };
    const result = await openclaw(['gateway', 'call', 'node.invoke', '--params', JSON.stringify(params), '--url', gw.url, '--token', gw.token, '--json']);
    console.log(`openclaw gateway call node.invoke (sleep 30, timeoutMs 1000) -> exit ${result.code}\n${result.stdout}${result.stderr}`);
    const timedOutAt = Date.now();
    expect(result.code).not.toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/time|did not answer/i) } });

    const cancelled = gw.logs.lines.find((line) => line.event === 'invoke.cancelled');
    console.log(`gateway log of the cancel: ${JSON.stringify(cancelled)}`);
    // Gone within a few seconds of the timeout (the node host kills the process tree; 10 s is honest slack on a
    // loaded machine, and a third of what the sleep would have taken).
    let stillRunning = sleepsUnder(nodeHost!.pid);
    while (stillRunning.length > 0 && Date.now() - timedOutAt < 10_000) {
      for (const pid of stillRunning) seen.add(pid);
      await new Promise((resolve) => setTimeout(resolve, 100));
      stillRunning = sleepsUnder(nodeHost!.pid);
    }
    watching = false;
    await watcher;
    console.log(`sleep processes seen under the node host: ${[...seen].join(', ') || 'none'}; gone ${Date.now() - timedOutAt} ms after the timeout`);
    expect(seen.size).toBeGreaterThan(0);
    expect(stillRunning).toEqual([]);
  });
});
