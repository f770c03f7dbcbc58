// Graceful shutdown over real sockets: invokes in flight are answered UNAVAILABLE, ready clients get the
// protocol's `shutdown` event, every socket a 1012 close; peers that never answer do not hold the
// gateway (in process) or the process (SIGTERM) past their bounds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestClient, connectClient, type Frame } from '../helpers/client.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { cleanUp, startHardened, track, until } from '../helpers/hardened.js';

afterEach(cleanUp);
const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-shutdown-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const pause = (client: TestClient) => (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();

describe('gateway.close', () => {
  it('answers invokes in flight UNAVAILABLE, then sends shutdown, then closes every socket 1012', async () => {
    const { gateway, url, logs } = await startHardened({ pairing: 'auto-local' });
    const operator = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.admin'] })).client);
    const node = track(
      (
        await connectClient(url, TEST_TOKEN, {
          role: 'node',
          scopes: [],
          client: { id: 'slow-node', version: '1.0.0', platform: 'linux', mode: 'node' },
          commands: ['system.run'],
        })
      ).client,
    );
    const handshaking = track(await TestClient.open(url));
    await handshaking.challenge();
    const nodeId = 'slow-node';
    const invoke = operator.request('node.invoke', { nodeId, command: 'system.run', idempotencyKey: 'k1', timeoutMs: 60_000 });
    await node.event('node.invoke.request');

    await gateway.close('restart', { restartExpectedMs: 3_000 });
    const answer = await invoke;
    expect(answer).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: 'gateway shutting down', retryable: true } });
    const shutdown = await operator.event('shutdown');
    expect(shutdown.payload).toEqual({ reason: 'restart', restartExpectedMs: 3_000 });
    const order = (frame: Frame) => operator.frames.indexOf(frame);
    expect(order(answer)).toBeLessThan(order(shutdown));
    expect(await operator.closed).toEqual({ code: 1012, reason: 'gateway shutting down' });
    expect((await node.event('shutdown')).payload).toMatchObject({ reason: 'restart' });
    expect((await node.closed).code).toBe(1012);
    // A client still in its handshake is only closed.
    expect(await handshaking.closed).toEqual({ code: 1012, reason: 'gateway shutting down' });
    expect(handshaking.frames.some((frame) => frame.event === 'shutdown')).toBe(false);
    expect(logs.find((line) => line.event === 'gateway.shutdown')).toMatchObject({ reason: 'restart', invokesInFlight: 1 });
    expect(gateway.stats()).toMatchObject({ sockets: 0, liveConnectionActors: 0, supervisorChildren: 0, pendingTimers: 0 });
  });

  it('terminates peers that never answer the close once the grace is over', async () => {
    const { gateway, url } = await startHardened({ shutdownTimeoutMs: 400 });
    const stuck = track((await connectClient(url, TEST_TOKEN)).client);
    pause(stuck);
    const started = Date.now();
    await gateway.close('stop');
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(gateway.stats().sockets).toBe(0);
  });

  it('refuses upgrades while it stops, and can be called twice', async () => {
    const { gateway, url } = await startHardened();
    const first = gateway.close('stop');
    const second = gateway.close('stop again');
    await Promise.all([first, second]);
    await expect(TestClient.open(url)).rejects.toThrow();
  });
});

/** `actorgate start` in a child process, resolved once it listens; `stdout()` is what it logged so far. */
async function startProcess(shutdownTimeoutMs: number) {
  const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
  const args = ['start', '--port', '0', '--state-dir', stateDir, '--token', TEST_TOKEN, '--shutdown-timeout-ms', String(shutdownTimeoutMs)];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stdout = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start')), 10_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const listening = stdout.split('\n').find((line) => line.includes('"gateway.listening"'));
      if (!listening) return;
      clearTimeout(timer);
      resolve(JSON.parse(listening).port as number);
    });
  });
  return { child, exited, url: `ws://127.0.0.1:${port}`, stdout: () => stdout };
}

describe('SIGTERM', () => {
  it('exits 0 within --shutdown-timeout-ms even when a peer never answers its close', async () => {
    // Peers get half the budget (1 s) to answer; the rest is headroom for a loaded machine.
    const gateway = await startProcess(2_000);
    const stuck = track((await connectClient(gateway.url, TEST_TOKEN)).client);
    pause(stuck);
    const started = Date.now();
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000 + 500);
    expect(gateway.stdout()).toContain('"gateway.stopped"');
  });

  it('exits 1 at once on a second signal, without waiting for the grace', async () => {
    const gateway = await startProcess(10_000);
    const stuck = track((await connectClient(gateway.url, TEST_TOKEN)).client);
    pause(stuck);
    const started = Date.now();
    gateway.child.kill('SIGTERM');
    await until(() => gateway.stdout().includes('"gateway.shutdown"'), 5_000, 'shutdown begun');
    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toBe(1);
    // The grace alone is 2 s: the second signal did not wait for it.
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
