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
/** A log line's time (pino's ISO time, from Date.now), in epoch ms. */
const logTime = (line: Record<string, unknown> | undefined) => Date.parse(String(line?.time));
/** The JSON lines a child process wrote. */
const jsonLines = (text: string) => text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('gateway.close', () => {
  it('answers invokes in flight UNAVAILABLE and cancels them on their node, then sends shutdown, then closes every socket 1012', async () => {
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
    // The node is told to stop the command first, then that the gateway shuts down.
    const request = (await node.event('node.invoke.request')).payload as { id: string };
    const cancel = await node.event('node.invoke.cancel');
    expect(cancel.payload).toEqual({ invokeId: request.id, nodeId });
    const nodeShutdown = await node.event('shutdown');
    expect(nodeShutdown.payload).toMatchObject({ reason: 'restart' });
    expect(node.frames.indexOf(cancel)).toBeLessThan(node.frames.indexOf(nodeShutdown));
    expect((await node.closed).code).toBe(1012);
    // A client still in its handshake is only closed.
    expect(await handshaking.closed).toEqual({ code: 1012, reason: 'gateway shutting down' });
    expect(handshaking.frames.some((frame) => frame.event === 'shutdown')).toBe(false);
    expect(logs.find((line) => line.event === 'gateway.shutdown')).toMatchObject({ reason: 'restart', invokesInFlight: 1 });
    expect(gateway.stats()).toMatchObject({ sockets: 0, liveConnectionActors: 0, supervisorChildren: 0, pendingTimers: 0 });
  });

  it('terminates peers that never answer the close once the grace is over', async () => {
    const { gateway, url, logs } = await startHardened({ shutdownTimeoutMs: 400 });
    const stuck = track((await connectClient(url, TEST_TOKEN)).client);
    pause(stuck);
    await gateway.close('stop');
    expect(gateway.stats().sockets).toBe(0);
    // Timed by the gateway's own lines (Date.now, the clock its grace is counted on): it waited the grace (half
    // of shutdownTimeoutMs) for the stuck peer, then did not wait for it any longer (ws alone would give it 30 s).
    const GRACE_MS = 200;
    const stoppedAfter = logTime(logs.find((line) => line.event === 'gateway.stopped')) - logTime(logs.find((line) => line.event === 'gateway.shutdown'));
    expect(stoppedAfter).toBeGreaterThanOrEqual(GRACE_MS);
    expect(stoppedAfter).toBeLessThan(GRACE_MS + 5_000);
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
    gateway.child.kill('SIGTERM');
    // 0: it stopped before its deadline, which exits 1 --shutdown-timeout-ms after the signal (not timed around
    // the process here: the child's own deadline is the bound, on its own clock).
    expect(await gateway.exited).toBe(0);
    // And by its own lines (Date.now, the clock the grace is counted on), it gave the stuck peer the grace first.
    const lines = jsonLines(gateway.stdout());
    const signalled = logTime(lines.find((line) => line.event === 'gateway.signal'));
    const stopped = logTime(lines.find((line) => line.event === 'gateway.stopped'));
    expect(stopped - signalled).toBeGreaterThanOrEqual(1_000);
  });

  it('exits 1 at once on a second signal, without waiting for the grace', async () => {
    const gateway = await startProcess(10_000);
    const stuck = track((await connectClient(gateway.url, TEST_TOKEN)).client);
    pause(stuck);
    gateway.child.kill('SIGTERM');
    await until(() => gateway.stdout().includes('"gateway.shutdown"'), 5_000, 'shutdown begun');
    const secondSignalAt = Date.now();
    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toBe(1);
    // It exited on the second signal, while the stop was still waiting for the stuck peer: the stop never finished.
    const lines = jsonLines(gateway.stdout());
    expect(lines.filter((line) => line.event === 'gateway.signal').map((line) => line.signal)).toEqual(['SIGTERM', 'SIGINT']);
    expect(lines.find((line) => line.event === 'gateway.stopped')).toBeUndefined();
    // And at once: timed from the second signal, well within the 2 s grace it did not wait for.
    expect(Date.now() - secondSignalAt).toBeLessThan(2_000);
  });
});
