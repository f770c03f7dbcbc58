// Helpers shared by the bench scripts (handshake.mjs, reference.mjs, supervisor-join-leave.mjs): the
// WebSocket client side of a handshake, a pool of concurrent tasks, percentiles, the gateway as the
// benches start it, and the machine facts the reports print. Where the scripts differ, the difference is
// a parameter here (the connect params, timeouts, how a server counts its connections) or stays in the
// script (each script's memory sample and its report).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

// `ws` is loaded on the first client socket, not with this module: supervisor-join-leave.mjs opens no
// socket, and reference.mjs's actorgate server process (which runs that script) gets `ws` from the gateway.
const require = createRequire(import.meta.url);
let WebSocketClass;
const WebSocket = () => (WebSocketClass ??= require('ws'));

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Extra node flags from an environment variable (e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof"). */
export const splitArgs = (value) => (value ?? '').split(' ').filter(Boolean);

// ---------------------------------------------------------------------------------------------
// Server side.
// ---------------------------------------------------------------------------------------------

/** startGateway from dist/ on 127.0.0.1 (port 0) with token auth and the settings every bench uses. */
export async function startGatewayForBench(token) {
  const { startGateway } = await import('../dist/src/gateway.js');
  const { createLogger } = await import('../dist/src/logger.js');
  return startGateway({
    host: '127.0.0.1',
    port: 0,
    auth: { mode: 'token', token },
    handshakeTimeoutMs: 10_000,
    tickIntervalMs: 30_000,
    logger: createLogger('silent'),
    // All bench clients share 127.0.0.1 and open many at a time: the per-address cap of pending sockets is off.
    limits: { maxPreauthPerAddress: 0 },
  });
}

// ---------------------------------------------------------------------------------------------
// Client side.
// ---------------------------------------------------------------------------------------------

/**
 * Connect params from a template: the template's fields, its client with a fresh instanceId, and
 * `auth: { token }` (fields keep the template's order; absent ones are added at the end).
 */
export function connectParams(template, token) {
  return { ...template, client: { ...template.client, instanceId: randomUUID() }, auth: { token } };
}

/**
 * Opens a socket and completes the handshake. Resolves with the socket, the milliseconds from the
 * constructor to the hello-ok and the size of the hello-ok frame. Later frames are not parsed here.
 *
 * `client` says how this bench's clients behave:
 * - params(): the connect params, built when the challenge arrives (inside the timed span);
 * - timeoutMs: how long to wait for the hello-ok (default 10 s);
 * - skipBeforeChallenge: frames before connect.challenge are skipped (default: they fail the handshake);
 * - reportRefusedUpgrade: a refused upgrade fails with its HTTP status (default: with ws's own error);
 * - closeTimeoutMs: used by handshakeAndClose and the callers of closeSocket, not here.
 */
export function handshake(url, client) {
  const { params, timeoutMs = 10_000, skipBeforeChallenge = false, reportRefusedUpgrade = false } = client;
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const ws = new (WebSocket())(url, { perMessageDeflate: false });
    let stage = 'challenge';
    const timer = setTimeout(() => fail(new Error(`no hello-ok within ${timeoutMs / 1000} s (stage ${stage})`)), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    ws.on('error', fail);
    if (reportRefusedUpgrade) ws.on('unexpected-response', (_request, response) => fail(new Error(`upgrade refused: HTTP ${response.statusCode}`)));
    ws.on('close', (code, reason) => {
      if (stage !== 'done') fail(new Error(`closed during ${stage}: ${code} ${reason}`));
    });
    const onMessage = (data) => {
      const frame = JSON.parse(data.toString());
      if (stage === 'challenge') {
        if (frame.type !== 'event' || frame.event !== 'connect.challenge') {
          if (skipBeforeChallenge) return;
          return fail(new Error(`expected the challenge, got ${data}`));
        }
        stage = 'hello';
        ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params: params() }));
      } else if (frame.type === 'res' && frame.id === 'c1') {
        if (!frame.ok) return fail(new Error(`handshake failed: ${JSON.stringify(frame.error)}`));
        stage = 'done';
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('error', fail);
        ws.on('error', () => {});
        resolve({ ws, ms: performance.now() - start, helloBytes: data.length });
      }
    };
    ws.on('message', onMessage);
  });
}

/** Closes the socket and waits for the close; with a finite `timeoutMs`, terminates it after that long. */
export function closeSocket(ws, timeoutMs = Infinity) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket().CLOSED) return resolve();
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          ws.terminate();
          resolve();
        }, timeoutMs)
      : undefined;
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

/** A full client lifecycle: handshake, then close and wait for the close. Resolves with { ms, helloBytes }. */
export async function handshakeAndClose(url, client) {
  const { ws, ...result } = await handshake(url, client);
  await closeSocket(ws, client.closeTimeoutMs);
  return result;
}

/** Runs task(0) .. task(total - 1), `concurrency` at a time; resolves with their results in order. */
export async function runPool(total, concurrency, task) {
  const results = new Array(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return results;
}

/**
 * Polls `server.connections()` (however the script's server counts them) every 50 ms until it is
 * `expected`; throws after `timeoutMs`, naming `server.kind`.
 */
export async function waitForConnections(server, expected, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await server.connections();
    if (open === expected) return;
    if (Date.now() > deadline) throw new Error(`${server.kind}: ${open} connections open, expected ${expected}`);
    await sleep(50);
  }
}

/**
 * `total` handshakes (each closed again), `concurrency` in flight, against `server.url`; then waits
 * until the server counts no connection. Rate and latency (constructor to hello-ok), and the median size
 * of the hello-ok frame.
 */
export async function handshakeThroughput(server, total, concurrency, client) {
  const start = performance.now();
  const results = await runPool(total, concurrency, () => handshakeAndClose(server.url, client));
  const seconds = (performance.now() - start) / 1000;
  await waitForConnections(server, 0);
  const latencies = results.map((r) => r.ms);
  return { perSecond: total / seconds, p50: median(latencies), p99: percentile(latencies, 99), helloBytes: median(results.map((r) => r.helloBytes)) };
}

/** Opens `count` sockets with `open` (a handshake), `concurrency` at a time: the handshakes, and the seconds it took. */
export async function openHeld(count, concurrency, open) {
  const start = performance.now();
  const held = await runPool(count, concurrency, open);
  return { held, openSeconds: (performance.now() - start) / 1000 };
}

/** Closes the sockets of `held` handshakes, `concurrency` at a time (closeSocket's `timeoutMs`: `closeTimeoutMs`). */
export function closeHeld(held, concurrency, closeTimeoutMs) {
  return runPool(held.length, concurrency, (index) => closeSocket(held[index].ws, closeTimeoutMs));
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report.
// ---------------------------------------------------------------------------------------------

/** Nearest-rank percentile (no interpolation). */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** percentile 50: for an even count, the upper of the two middle values. */
export const median = (values) => percentile(values, 50);

/** The middle value; for an even count, the mean of the two middle values (unlike `median`). */
export function midpointMedian(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** en-US grouping with exactly `digits` fraction digits. */
export const formatNumber = (x, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The 1, 5 and 15 minute load averages, two decimals each. */
export const loadavgText = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** The report line with the cores and the load average (printed at the end of a run). */
export const machineLine = () => `  ${cpus().length} cores, load average at the end ${loadavgText()} (other processes skew the numbers)`;

/** The fields a JSON result line has after `bench`: date, node, cores, loadavg. */
export const runInfo = () => ({ date: new Date().toISOString(), node: process.version, cores: cpus().length, loadavg: loadavg() });
