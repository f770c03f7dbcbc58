// The load generator: a child process of bench/run.mjs that drives one server at a time with `ws`
// clients over 127.0.0.1 and answers with what it measured. It holds the client sockets, so the
// servers' processes hold only their own side. Every loop is bounded in count and in time.
//
// Commands (over IPC, see lib.mjs): handshakes, hold, release, rtt, fanout. Clients spread their
// sockets over several loopback source addresses (127.0.0.1 .. 127.0.0.N, `localAddress`) so that
// 10k sockets and the TIME_WAITs of thousands of handshakes do not exhaust one address's ephemeral ports.
import { createHash, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { buildDeviceAuthPayload } from '../dist/src/auth/device-proof.js';
import { ed25519KeyPair, percentile, serveRequests, sleep } from './lib.mjs';

const TOKEN = process.env.BENCH_TOKEN;
const CONFORMANCE_CONNECT = '/work/shared/conformance/cli-connect.json';

/** The real CLI's connect params (captured frames) when available: client `cli`, mode `cli`, protocol 4. */
function cliTemplate() {
  try {
    return JSON.parse(readFileSync(CONFORMANCE_CONNECT, 'utf8')).connect.params;
  } catch {
    return {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: 'cli', version: '2026.9.6', platform: 'linux', deviceFamily: 'Linux', mode: 'cli', instanceId: '' },
      caps: [],
      auth: { token: '' },
      role: 'operator',
      scopes: ['operator.read'],
    };
  }
}
const TEMPLATE = cliTemplate();

/** Connect params of a client kind: `token` (the CLI), `device` (the CLI with a device proof), `tracked` (a UI client, shown in presence). */
function paramsFor(kind, nonce, device) {
  const client = { ...TEMPLATE.client, instanceId: randomUUID() };
  if (kind === 'tracked') Object.assign(client, { id: 'bench-ui', mode: 'ui' });
  const params = { ...TEMPLATE, client, auth: { token: TOKEN } };
  if (kind === 'device') params.device = signDevice(device, params, nonce);
  return params;
}

// ---------------------------------------------------------------------------------------------
// Device identities: a fresh Ed25519 key per client, made before the timed loop; the v3 proof is signed
// when the challenge arrives (it covers the nonce), inside the timed span, as a real client does.
// ---------------------------------------------------------------------------------------------

function newDevice() {
  const { privateKey, raw } = ed25519KeyPair();
  return { id: createHash('sha256').update(raw).digest('hex'), publicKey: raw.toString('base64url'), privateKey };
}

function signDevice(device, params, nonce) {
  const signedAt = Date.now();
  const payload = buildDeviceAuthPayload('v3', {
    deviceId: device.id,
    clientId: params.client.id,
    clientMode: params.client.mode,
    role: params.role ?? 'operator',
    scopes: params.scopes ?? [],
    signedAtMs: signedAt,
    token: TOKEN,
    nonce,
    platform: params.client.platform,
    deviceFamily: params.client.deviceFamily,
  });
  const signature = sign(null, Buffer.from(payload), device.privateKey).toString('base64url');
  return { id: device.id, publicKey: device.publicKey, signature, signedAt, nonce };
}

// ---------------------------------------------------------------------------------------------
// One client.
// ---------------------------------------------------------------------------------------------

const addressOf = (addresses, index) => addresses[index % addresses.length];

/**
 * Opens a socket and completes the handshake; resolves with { ws, ms } (constructor to hello-ok).
 * Frames before the challenge are skipped (the reference may send some).
 */
function handshake(url, kind, { localAddress, device, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    let stage = 'challenge';
    const fail = (error) => {
      if (stage === 'failed') return;
      stage = 'failed';
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no hello-ok within ${timeoutMs / 1000} s (stage ${stage})`)), timeoutMs);
    ws.on('error', fail);
    ws.on('unexpected-response', (_request, response) => fail(new Error(`upgrade refused: HTTP ${response.statusCode}`)));
    ws.on('close', (code, reason) => {
      if (stage !== 'done') fail(new Error(`closed during ${stage}: ${code} ${reason}`));
    });
    const onMessage = (data) => {
      const frame = JSON.parse(data.toString());
      if (stage === 'challenge') {
        if (frame.type !== 'event' || frame.event !== 'connect.challenge') return;
        stage = 'hello';
        const params = paramsFor(kind, frame.payload.nonce, device);
        ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params }));
      } else if (frame.type === 'res' && frame.id === 'c1') {
        if (!frame.ok) return fail(new Error(`handshake failed: ${JSON.stringify(frame.error)}`));
        stage = 'done';
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('error', fail);
        ws.on('error', () => {});
        resolve({ ws, ms: performance.now() - start });
      }
    };
    ws.on('message', onMessage);
  });
}

/** Closes and waits for the close; terminates after `timeoutMs`. */
function closeSocket(ws, timeoutMs = 5_000) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

/** Runs task(i) for i < total, `concurrency` at a time, starting no new task after `deadline`. */
async function runPool(total, concurrency, deadline, task) {
  let next = 0;
  const worker = async () => {
    while (next < total && performance.now() < deadline) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return next;
}

// ---------------------------------------------------------------------------------------------
// Commands.
// ---------------------------------------------------------------------------------------------

/** `total` handshakes, each closed again (a whole connection's life), `concurrency` in flight. */
async function handshakes({ url, total, concurrency, kind = 'token', addresses = ['127.0.0.1'], timeLimitMs = 60_000 }) {
  const devices = kind === 'device' ? Array.from({ length: total }, newDevice) : [];
  const latencies = [];
  let failed = 0;
  let firstError;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await runPool(total, concurrency, start + timeLimitMs, async (index) => {
    try {
      const { ws, ms } = await handshake(url, kind, { localAddress: addressOf(addresses, index), device: devices[index] });
      latencies.push(ms);
      await closeSocket(ws);
    } catch (error) {
      failed++;
      firstError ??= error.message;
    }
  });
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  // The clients' own CPU per handshake: on a machine whose cores the clients and the server share, what a
  // server may spend per handshake for a given rate ratio depends on it.
  const loadgenCpuMsPerOp = latencies.length > 0 ? (cpu.user + cpu.system) / 1000 / latencies.length : NaN;
  return { completed: latencies.length, failed, firstError, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), loadgenCpuMsPerOp };
}

/** Sockets held open: what rtt and fanout use. */
let held = [];
let presenceFrames = 0;

function track(ws) {
  const socket = { ws, waiting: new Map() };
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'res') {
      const sentAt = socket.waiting.get(frame.id);
      if (sentAt !== undefined) {
        socket.waiting.delete(frame.id);
        rttLatencies?.push(performance.now() - sentAt);
      }
    } else if (frame.event === 'presence') {
      presenceFrames++;
    }
  });
  return socket;
}

/** Opens `count` more sockets (handshake done) and holds them. */
async function hold({ url, count, concurrency = 200, kind = 'token', addresses = ['127.0.0.1'], timeLimitMs = 120_000 }) {
  const start = performance.now();
  const offset = held.length;
  let failed = 0;
  let firstError;
  await runPool(count, concurrency, start + timeLimitMs, async (index) => {
    try {
      const { ws } = await handshake(url, kind, { localAddress: addressOf(addresses, offset + index) });
      held.push(track(ws));
    } catch (error) {
      failed++;
      firstError ??= error.message;
    }
  });
  return { held: held.length, failed, firstError, seconds: (performance.now() - start) / 1000 };
}

async function release() {
  const sockets = held;
  held = [];
  let next = 0;
  const worker = async () => {
    while (next < sockets.length) await closeSocket(sockets[next++].ws);
  };
  await Promise.all(Array.from({ length: 200 }, worker));
  return { released: sockets.length };
}

let rttLatencies;

/**
 * Open loop: `rate` requests per second spread round-robin over the held sockets for `durationMs`,
 * sent on schedule whether or not earlier ones were answered; each latency is measured from the time the
 * request was due (so a stalled server is not hidden by late sends). Then waits up to 5 s for answers.
 */
async function rtt({ rate, durationMs, method = 'health' }) {
  if (held.length === 0) throw new Error('rtt needs held sockets');
  // A major GC of this process inside the window would delay every answer due meanwhile, whichever server
  // answers: collect before it (the runner starts this process with --expose-gc).
  globalThis.gc?.();
  rttLatencies = [];
  const interval = 1000 / rate;
  const total = Math.floor((rate * durationMs) / 1000);
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    for (; sent < due; sent++) {
      const socket = held[sent % held.length];
      const id = `r${sent}`;
      socket.waiting.set(id, start + sent * interval);
      socket.ws.send(`{"type":"req","id":"${id}","method":"${method}","params":{}}`);
    }
    await sleep(1);
  }
  const sendSeconds = (performance.now() - start) / 1000;
  const deadline = performance.now() + 5_000;
  while (rttLatencies.length < total && performance.now() < deadline) await sleep(5);
  const latencies = rttLatencies;
  rttLatencies = undefined;
  for (const socket of held) socket.waiting.clear();
  return { sent: total, received: latencies.length, lost: total - latencies.length, sendSeconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Waits until `presenceFrames` reaches `target` (or the time is up); true when it did. */
async function presenceReached(target, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  while (presenceFrames < target) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return true;
}

/**
 * `cycles` presence changes seen by every held socket: a tracked client joins (every held socket gets a
 * presence frame), then leaves (another one). Each cycle is two fan-outs.
 */
async function fanout({ url, cycles, timeLimitMs = 60_000 }) {
  const start = performance.now();
  let done = 0;
  let missed = 0;
  for (; done < cycles && performance.now() - start < timeLimitMs; done++) {
    const base = presenceFrames;
    const { ws } = await handshake(url, 'tracked');
    if (!(await presenceReached(base + held.length))) missed++;
    await closeSocket(ws);
    if (!(await presenceReached(base + 2 * held.length))) missed++;
    presenceFrames = 0;
  }
  return { cycles: done, missed, seconds: (performance.now() - start) / 1000 };
}

serveRequests({ handshakes, hold, release, rtt, fanout });
process.send({ ready: true, pid: process.pid });
