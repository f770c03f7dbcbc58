// Tools for the hardening tests (fuzz, soak, slowloris, crash): raw sockets that record how they end,
// a seeded random source, waiting for a gateway's stats to settle, and a log sink that keeps nothing.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import type { GatewayStats } from '../../src/gateway/create-gateway.js';

export type Json = { [key: string]: unknown };

/** How a socket ended, and everything the gateway sent it before that. */
export interface Outcome {
  /** The close code the client saw (1006: the TCP connection went without a close frame). */
  code: number;
  reason: string;
  frames: Json[];
  /** Milliseconds from the socket's open to its close. */
  openMs: number;
}

export interface RawSocketOptions {
  localAddress?: string;
  headers?: Record<string, string>;
}

/** A socket whose frames and close are recorded from its creation (a frame can arrive with the upgrade's answer). */
export interface Probe {
  ws: WebSocket;
  frames: Json[];
  /** How it ended; never rejects. */
  closed: Promise<Outcome>;
}

/** Opens a WebSocket; resolves once it is open, or rejects with the HTTP status of a refused upgrade. */
export function openSocket(url: string, options: RawSocketOptions = {}): Promise<Probe> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const frames: Json[] = [];
  let openedAt = Date.now();
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Json));
  const closed = new Promise<Outcome>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), frames, openMs: Date.now() - openedAt })),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      openedAt = Date.now();
      ws.on('error', () => {});
      resolve({ ws, frames, closed });
    });
    ws.once('unexpected-response', (request, response) => {
      response.resume();
      request.destroy();
      reject(Object.assign(new Error(`upgrade refused with HTTP ${response.statusCode}`), { status: response.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** The HTTP status an upgrade gets: 101 when the socket opens (it is closed again at once). */
export async function upgradeStatus(url: string, options: RawSocketOptions = {}): Promise<number> {
  try {
    const { ws } = await openSocket(url, options);
    ws.terminate();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}

/** Resolves with how a probe ended, failing after `timeoutMs` (and then dropping the socket). */
export function ending(probe: Probe, timeoutMs = 10_000): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      probe.ws.terminate();
      reject(new Error(`socket still open after ${timeoutMs} ms; frames: ${JSON.stringify(probe.frames).slice(0, 500)}`));
    }, timeoutMs);
  });
  return Promise.race([probe.closed, timeout]).finally(() => clearTimeout(timer));
}

/** Sends one frame as the first thing on a fresh socket and resolves with how the socket ended. */
export async function firstFrame(
  url: string,
  data: string | Buffer,
  options: { binary?: boolean; timeoutMs?: number } = {},
): Promise<Outcome> {
  const probe = await openSocket(url);
  probe.ws.send(data, { binary: options.binary ?? false });
  return ending(probe, options.timeoutMs);
}

export async function until(condition: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until the gateway's stats equal `expected`; the error shows the difference. */
export async function settles(stats: () => GatewayStats, expected: GatewayStats, timeoutMs = 5_000): Promise<void> {
  const same = () => JSON.stringify(stats()) === JSON.stringify(expected);
  try {
    await until(same, timeoutMs, 'stats back to baseline');
  } catch {
    throw new Error(`stats did not settle in ${timeoutMs} ms: expected ${JSON.stringify(expected)}, got ${JSON.stringify(stats())}`);
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A number from the environment, else the default. */
export function envNumber(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`${name} must be a number, got ${value}`);
  return parsed;
}

/** A log destination that parses nothing and keeps only a count per message, so a long run holds no log lines. */
export class CountingSink extends Writable {
  readonly counts = new Map<string, number>();
  /** Lines at level error (50) or above. */
  errors = 0;
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (!text) continue;
      if (/"level":(5\d|6\d)\b/.test(text)) this.errors++;
      const match = /"msg":"([^"]*)"/.exec(text);
      const msg = (match?.[1] ?? '?').replace(/conn=[0-9a-f-]+/, 'conn=*');
      this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
    }
    callback();
  }
  count(msg: string): number {
    return this.counts.get(msg) ?? 0;
  }
}

/**
 * The garbage collector, without starting node with --expose-gc: V8 reads the flag when a new context is
 * made, so a fresh vm context exposes `gc` (the flag only adds that global).
 */
export function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap used after full collections, in bytes. */
export async function heapAfterGc(gc: () => void): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

export const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/** Runs `task` for every item with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async (_, worker) => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index, worker);
    }
  });
  await Promise.all(workers);
}

export const instanceId = () => randomUUID();

/** The first frame (already received or still to come) that matches, or an error after `timeoutMs` or at the close. */
export function waitFrame(probe: Probe, predicate: (frame: Json) => boolean, timeoutMs = 5_000): Promise<Json> {
  const existing = probe.frames.find(predicate);
  if (existing) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const onMessage = () => {
      const found = probe.frames.find(predicate);
      if (!found) return;
      done();
      resolve(found);
    };
    const onClose = (code: number) => {
      done();
      reject(new Error(`socket closed (${code}) before the frame came; frames: ${JSON.stringify(probe.frames).slice(0, 500)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no such frame within ${timeoutMs} ms; frames: ${JSON.stringify(probe.frames).slice(0, 500)}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      probe.ws.off('message', onMessage);
      probe.ws.off('close', onClose);
    };
    // Registered after the recorder in openSocket, so the frame is in `frames` when this runs.
    probe.ws.on('message', onMessage);
    probe.ws.on('close', onClose);
  });
}

let requestCounter = 0;
/** Sends a request on a probe and resolves with its response. */
export function request(probe: Probe, method: string, params?: unknown, timeoutMs = 5_000): Promise<Json> {
  const id = `q${++requestCounter}`;
  probe.ws.send(JSON.stringify({ type: 'req', id, method, params }));
  return waitFrame(probe, (frame) => frame.type === 'res' && frame.id === id, timeoutMs);
}

/** Opens a socket and completes a handshake with the gateway token; resolves with the probe, hello-ok and the time it took. */
export async function handshake(
  url: string,
  token: string,
  overrides: Json = {},
  options: RawSocketOptions & { timeoutMs?: number } = {},
): Promise<{ probe: Probe; hello: Json; ms: number }> {
  const started = Date.now();
  const probe = await openSocket(url, options);
  const params = {
    minProtocol: 3,
    maxProtocol: 4,
    client: { id: 'test', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() },
    role: 'operator',
    scopes: ['operator.read'],
    auth: { token },
    ...overrides,
  };
  const response = await request(probe, 'connect', params, options.timeoutMs);
  if (response.ok !== true) {
    probe.ws.terminate();
    throw new Error(`handshake failed: ${JSON.stringify(response.error)}`);
  }
  return { probe, hello: response.payload as Json, ms: Date.now() - started };
}

export interface HealthReport {
  requests: number;
  handshakes: number;
  failures: string[];
  maxRequestMs: number;
  maxHandshakeMs: number;
}

/**
 * A healthy client that keeps being served while the gateway is abused: a `health` request on one ready socket every
 * `intervalMs`, and a fresh handshake (then a clean close) every `handshakeEveryMs`. `stop()` reports what it saw.
 */
export function healthMonitor(url: string, token: string, options: { intervalMs?: number; handshakeEveryMs?: number } = {}) {
  const intervalMs = options.intervalMs ?? 100;
  const handshakeEveryMs = options.handshakeEveryMs ?? 500;
  const report: HealthReport = { requests: 0, handshakes: 0, failures: [], maxRequestMs: 0, maxHandshakeMs: 0 };
  let running = true;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const requests = (async () => {
    let client: Probe;
    try {
      client = (await handshake(url, token, { client: { id: 'healthy', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() } })).probe;
    } catch (error) {
      report.failures.push(`healthy client: ${(error as Error).message}`);
      return;
    }
    while (running) {
      const started = Date.now();
      try {
        const response = await request(client, 'health', undefined, 10_000);
        if (response.ok !== true) report.failures.push(`health answered ${JSON.stringify(response)}`);
        report.requests++;
        report.maxRequestMs = Math.max(report.maxRequestMs, Date.now() - started);
        client.frames.length = 0; // keep nothing (presence broadcasts pile up over a long run)
      } catch (error) {
        report.failures.push(`health: ${(error as Error).message}`);
        return;
      }
      await sleep(intervalMs);
    }
    client.ws.close(1000);
    await client.closed;
  })();
  const handshakes = (async () => {
    while (running) {
      try {
        const { probe, ms } = await handshake(url, token, {}, { timeoutMs: 10_000 });
        report.handshakes++;
        report.maxHandshakeMs = Math.max(report.maxHandshakeMs, ms);
        probe.ws.close(1000);
        await probe.closed;
      } catch (error) {
        report.failures.push(`handshake: ${(error as Error).message}`);
      }
      await sleep(handshakeEveryMs);
    }
  })();
  return {
    report,
    async stop(): Promise<HealthReport> {
      running = false;
      await Promise.all([requests, handshakes]);
      return report;
    },
  };
}
