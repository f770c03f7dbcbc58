// `actorgate probe` on real runs: a real gateway, a wrong token, servers that never finish the
// handshake, a port nobody listens on; in process through runProbe, and once through the CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { runProbe, type ProbeReport } from '../../src/observability/probe/probe.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gateway(overrides: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const gw = await startTestGateway(overrides);
  cleanups.push(() => gw.close());
  return gw;
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runProbe(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
  return { code, stdout, stderr };
}

async function runJson(argv: string[]): Promise<{ code: number; report: ProbeReport }> {
  const { code, stdout } = await run([...argv, '--json']);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  return { code, report: JSON.parse(stdout) as ProbeReport };
}

/** A port that refuses connections: listened on once, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A WebSocket server that accepts the upgrade, then does what `onConnection` says (nothing by default). */
async function bareWsServer(onConnection: (socket: import('ws').WebSocket) => void = () => {}): Promise<string> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', onConnection);
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(resolve);
      }),
  );
  return `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

describe('probe: success', () => {
  it('reports each phase, the negotiated protocol and the server, and exits 0', async () => {
    const gw = await gateway();
    const { code, stdout } = await run([gw.url, '--token', gw.token]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/tcp\+upgrade +\d+(\.\d)? ms/);
    expect(stdout).toMatch(/challenge +\d+(\.\d)? ms/);
    expect(stdout).toMatch(/hello-ok +\d+(\.\d)? ms/);
    expect(stdout).toMatch(/protocol +4 \(server 0\.1\.0, connId [0-9a-f-]{36}\)/);
    expect(stdout.trim().split('\n').at(-1)).toBe('connected');
    // It said goodbye properly.
    await gw.logs.waitFor((line) => line.msg === 'connection closed' && line.code === 1000);
  });

  it('--json: one object with ok, protocol and the phases, which add up to the total', async () => {
    const gw = await gateway();
    const { code, report } = await runJson([gw.url, `--token=${gw.token}`]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, url: gw.url, protocol: 4, server: { version: '0.1.0' }, timeoutMs: 10_000 });
    const { tcpUpgradeMs, challengeMs, helloOkMs, totalMs } = report.phases;
    for (const phase of [tcpUpgradeMs, challengeMs, helloOkMs]) expect(phase).toBeGreaterThanOrEqual(0);
    expect(Math.abs(tcpUpgradeMs! + challengeMs! + helloOkMs! - totalMs)).toBeLessThan(0.5);
    expect(report.close).toBeUndefined();
    expect(report.diagnosis).toBeUndefined();
  });

  it('--device-key: creates a 0600 JSON key with base64url keys when missing, signs with it, and reuses it', async () => {
    const gw = await gateway();
    const dir = mkdtempSync(join(tmpdir(), 'actorgate-probe-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'device.json');
    const first = await runJson([gw.url, '--token', gw.token, '--device-key', file]);
    expect(first.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(key).toMatchObject({ version: 1, type: 'ed25519', deviceId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(key.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.report.device).toEqual({ deviceId: key.deviceId, file, created: true });
    const ready = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.deviceId === key.deviceId);
    expect(ready).toMatchObject({ clientId: 'openclaw-probe', clientMode: 'probe' });

    const second = await runJson([gw.url, '--token', gw.token, '--device-key', file]);
    expect(second.code).toBe(0);
    expect(second.report.device).toEqual({ deviceId: key.deviceId, file, created: false });
  });
});

describe('probe: failures and their root cause', () => {
  it('wrong token: exit 1 with close 1008, its reason, and the gateway\'s error', async () => {
    const gw = await gateway();
    const { code, stdout } = await run([gw.url, '--token', 'wrong']);
    expect(code).toBe(1);
    expect(stdout).toContain('closed        1008 "unauthorized: gateway token mismatch"');
    expect(stdout).toContain('INVALID_REQUEST AUTH_TOKEN_MISMATCH');
    expect(stdout).toContain('root cause    authentication rejected');
    expect(stdout.trim().split('\n').at(-1)).toBe('not connected');

    const json = await runJson([gw.url, '--password', 'wrong']);
    expect(json.code).toBe(1);
    expect(json.report).toMatchObject({
      ok: false,
      close: { code: 1008, reason: 'unauthorized: gateway token missing', by: 'server' },
      error: { code: 'INVALID_REQUEST', details: { code: 'AUTH_TOKEN_MISSING' } },
      diagnosis: { cause: 'auth-rejected' },
    });
    expect(json.report.phases.challengeMs).toBeGreaterThanOrEqual(0);
    expect(json.report.phases.helloOkMs).toBeUndefined();
  });

  it('a server that never sends a challenge: handshake timeout at --timeout', async () => {
    const url = await bareWsServer();
    const { code, report } = await runJson([url, '--timeout', '400']);
    expect(code).toBe(1);
    expect(report.phases.tcpUpgradeMs).toBeGreaterThanOrEqual(0);
    expect(report.phases.challengeMs).toBeUndefined();
    // The deadline's timer is armed after the probe's clock starts, and Node arms a timer on a freshly read
    // loop clock in whole ms: it fires at most 1 ms (2 with a coarse clock) early as performance.now sees it.
    expect(report.phases.totalMs).toBeGreaterThanOrEqual(395);
    expect(report.close).toEqual({ code: 4000, reason: 'handshake timeout', by: 'client' });
    expect(report.diagnosis?.cause).toBe('handshake-timeout');

    const text = await run([url, '--timeout', '300']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('root cause    handshake timeout');
  });

  it('a TCP server that never answers the upgrade: handshake timeout, with no phase reached', async () => {
    const server = net.createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    server.on('connection', (socket) => cleanups.push(() => socket.destroy()));
    const { port } = server.address() as net.AddressInfo;
    const { code, report } = await runJson([`ws://127.0.0.1:${port}`, '--timeout', '300']);
    expect(code).toBe(1);
    expect(report.phases.tcpUpgradeMs).toBeUndefined();
    expect(report.diagnosis?.cause).toBe('handshake-timeout');
  });

  it('a server that hangs up mid-handshake after a while: slow handshake', async () => {
    const url = await bareWsServer((socket) => {
      socket.send(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: 'n-1', ts: Date.now() } }));
      setTimeout(() => socket.close(1011, 'busy'), 250);
    });
    const { code, report } = await runJson([url, '--timeout', '5000']);
    expect(code).toBe(1);
    expect(report.close).toEqual({ code: 1011, reason: 'busy', by: 'server' });
    expect(report.phases.totalMs).toBeGreaterThanOrEqual(100);
    expect(report.diagnosis?.cause).toBe('slow-handshake');
  });

  it('connection refused: network or firewall, with the socket\'s own error', async () => {
    const port = await closedPort();
    const { code, report } = await runJson([`ws://127.0.0.1:${port}`]);
    expect(code).toBe(1);
    expect(report.close?.code).toBe(1006);
    expect(report.socketError).toMatch(/ECONNREFUSED/);
    // Refused before anything opened; not timed here, where the probe shares a busy process: a refusal is
    // the network however long it took.
    expect(report.phases).not.toHaveProperty('tcpUpgradeMs');
    expect(report.phases).not.toHaveProperty('challengeMs');
    expect(report.diagnosis?.cause).toBe('network');

    const text = await run([`ws://127.0.0.1:${port}`]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('root cause    network or firewall');
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('--device-key <file>');
  });

  it('usage errors exit 2 with the usage on stderr', async () => {
    for (const argv of [[], ['http://127.0.0.1:1'], ['ws://127.0.0.1:1', '--timeout', 'soon'], ['ws://127.0.0.1:1', '--bogus'], ['ws://x', '--token', 'a', '--password', 'b']]) {
      const { code, stdout, stderr } = await run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain('Usage: actorgate probe <ws-url>');
    }
  });
});

describe('probe: the CLI', () => {
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'bin/actorgate.js'), 'probe', ...args], (error, stdout) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
      );
    });

  it('actorgate probe --json exits 0 when connected and 1 with the close when not', async () => {
    const gw = await gateway();
    const ok = await cli([gw.url, '--token', gw.token, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, protocol: 4 });
    const refused = await cli([gw.url, '--token', 'wrong', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, close: { code: 1008 }, diagnosis: { cause: 'auth-rejected' } });
  });
});
