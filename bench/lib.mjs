// Helpers shared by the bench modules: statistics, formatting, the machine facts of a report, and a
// small request/answer protocol over a forked child's IPC channel (servers, load generator, micro
// benchmarks all speak it).
import { fork } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Extra node flags from an environment variable (e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof"). */
export const splitArgs = (value) => (value ?? '').split(' ').filter(Boolean);

// ---------------------------------------------------------------------------------------------
// Keys.
// ---------------------------------------------------------------------------------------------

/** PKCS #8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A fresh Ed25519 key pair and the raw 32-byte public key. Made from a random seed rather than with
 * `generateKeyPairSync`: on Node 20 the bench's child processes deadlocked now and then (2 in ~25 children)
 * when GC destroyed a finished key-generation job while a key was being exported as JWK (main thread waiting
 * on a mutex in `KeyGenJob`'s destructor, seen with gdb).
 */
export function ed25519KeyPair() {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, randomBytes(32)]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  return { privateKey, publicKey, raw };
}

// ---------------------------------------------------------------------------------------------
// Statistics.
// ---------------------------------------------------------------------------------------------

/** Nearest-rank percentile (no interpolation); NaN for no values. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The middle value (for an even count, the mean of the two middle ones); NaN values are left out. */
export function median(values) {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Formatting and run facts.
// ---------------------------------------------------------------------------------------------

/** en-US grouping with exactly `digits` fraction digits; 'n/a' for NaN. */
export const formatNumber = (x, digits = 0) =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';

/** The 1, 5 and 15 minute load averages, two decimals each. */
export const loadavgText = (values = loadavg()) => values.map((x) => x.toFixed(2)).join(' ');

export function machineInfo() {
  const list = cpus();
  return { cpuModel: list[0]?.model?.trim() ?? 'unknown', cores: list.length, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10 };
}

// ---------------------------------------------------------------------------------------------
// Request/answer over IPC.
// ---------------------------------------------------------------------------------------------

/**
 * A forked child that answers `{ id, cmd, ...args }` with `{ id, ok, result | error }`. Its first message
 * `{ ready, ...info }` resolves `ready`. Every request is bounded by `timeoutMs`.
 */
export class Child {
  constructor(name, file, { args = [], execArgv = [], env = process.env } = {}) {
    this.name = name;
    this.nextId = 1;
    this.pending = new Map();
    this.child = fork(file, args, { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pid = this.child.pid;
    this.ready = new Promise((resolve, reject) => {
      this.readyCallbacks = { resolve, reject };
    });
    this.child.on('message', (message) => {
      if (message.ready) return this.readyCallbacks.resolve(message);
      const entry = this.pending.get(message.id);
      if (!entry) return;
      this.pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.ok) entry.resolve(message.result);
      else entry.reject(new Error(`${name}: ${message.error}`));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const error = new Error(`${name} exited (${code ?? signal})`);
      this.readyCallbacks.reject(error);
      for (const entry of this.pending.values()) {
        clearTimeout(entry.timer);
        entry.reject(error);
      }
      this.pending.clear();
    });
  }

  request(cmd, args = {}, timeoutMs = 120_000) {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${cmd} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ id, cmd, ...args });
    });
  }

  /** Asks the child to stop, then kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000) {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.request('stop', {}, timeoutMs).catch(() => {});
    const timedOut = await Promise.race([exited.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await exited;
    }
  }
}

/**
 * The child's side: answers requests with `handlers[cmd](args)`; `stop` runs `onStop` then exits. The
 * child exits as well when its parent goes (the IPC channel closes), so nothing outlives a run.
 */
export function serveRequests(handlers, { onStop = async () => {} } = {}) {
  process.on('message', async (message) => {
    const { id, cmd } = message;
    if (cmd === 'stop') {
      await onStop();
      process.send({ id, ok: true, result: null }, () => process.exit(0));
      return;
    }
    const handler = handlers[cmd];
    try {
      if (!handler) throw new Error(`unknown command ${cmd}`);
      process.send({ id, ok: true, result: await handler(message) });
    } catch (error) {
      process.send({ id, ok: false, error: error?.stack ?? String(error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
