// `actorgate start` as a user runs it: a real process, its token handling, its signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient } from '../helpers/client.js';

const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-cli-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [bin, 'start', '--port', '0', '--state-dir', stateDir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 10_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const listening = stdout.split('\n').find((line) => line.includes('"gateway.listening"'));
      if (!listening) return;
      clearTimeout(timer);
      resolve({ child, port: JSON.parse(listening).port, stderr: () => stderr, exited });
    });
    exited.then((code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
}

describe('actorgate start', () => {
  it('generates a token on first start, prints it once, stores it 0600, and reuses it', async () => {
    const first = await start([]);
    const tokenPath = join(stateDir, 'gateway-token');
    const token = readFileSync(tokenPath, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect(first.stderr()).toContain(token);
    expect(statSync(tokenPath).mode & 0o777).toBe(0o600);
    const { client } = await connectClient(`ws://127.0.0.1:${first.port}`, token);

    first.child.kill('SIGTERM');
    const shutdown = await client.event('shutdown');
    expect((shutdown.payload as { reason: string }).reason).toBe('received SIGTERM');
    expect((await client.closed).code).toBe(1012);
    expect(await first.exited).toBe(0);

    const second = await start([]);
    expect(second.stderr()).not.toContain(token);
    const again = await connectClient(`ws://127.0.0.1:${second.port}`, token);
    await again.client.close();
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('takes settings from ACTORGATE_* variables', async () => {
    const started = await start([], { ACTORGATE_AUTH: 'none', ACTORGATE_HANDSHAKE_TIMEOUT_MS: '200' });
    const { client } = await connectClient(`ws://127.0.0.1:${started.port}`, '', { auth: {} });
    await client.close();
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  });

  it('exits 2 with a clear message on a bad flag', async () => {
    const child = spawn(process.execPath, [bin, 'start', '--port', 'nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--port must be an integer');
  });

  function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [bin, 'start', '--token', 't', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  }

  it('refuses --auth none on an address other than loopback: one line, exit 2, unless opted in', async () => {
    const refused = await runToExit(['--auth', 'none', '--host', '0.0.0.0', '--port', '0', '--state-dir', stateDir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([
      'actorgate: --auth none on 0.0.0.0 would let anyone who reaches it in as an admin; listen on 127.0.0.1, use a token, or give --allow-no-auth-on-network',
    ]);
    const optedIn = await start(['--auth', 'none', '--host', '0.0.0.0', '--allow-no-auth-on-network']);
    try {
      const { hello } = await connectClient(`ws://127.0.0.1:${optedIn.port}`, '');
      expect(hello).toMatchObject({ type: 'hello-ok' });
    } finally {
      optedIn.child.kill('SIGTERM');
      await optedIn.exited;
    }
  });

  it('exits 1 with one clear line when its port is taken', async () => {
    const taken = await start(['--token', 'first']);
    try {
      const { code, stderr } = await runToExit(['--port', String(taken.port), '--state-dir', stateDir]);
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(`actorgate: cannot listen on 127.0.0.1:${taken.port}: the port is already in use; choose another with --port`);
    } finally {
      taken.child.kill('SIGTERM');
      await taken.exited;
    }
  });

  it('exits 1 naming the pairing file when it cannot be read, and leaves the file alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'actorgate-cli-corrupt-'));
    try {
      writeFileSync(join(dir, 'pairing.json'), '{"version":1,"devices":[');
      const { code, stderr } = await runToExit(['--port', '0', '--state-dir', dir]);
      expect(code).toBe(1);
      expect(stderr).toContain(`${join(dir, 'pairing.json')} is not valid JSON`);
      expect(stderr).not.toContain('    at ');
      expect(readFileSync(join(dir, 'pairing.json'), 'utf8')).toBe('{"version":1,"devices":[');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
