// For the tests that attack a gateway as an authenticated client would: the real gateway in a process of its
// own (the CLI from dist/, with a small V8 heap as in a small container), its peak RSS, and a healthy client in
// a third process (./healthy-client.mjs) whose handshake and health round trips are timed on its own clock.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
const healthyClientScript = new URL('./healthy-client.mjs', import.meta.url).pathname;
const children = new Set<ChildProcess>();

/** Kills every process these helpers started and that is still running (for afterAll/afterEach). */
export function killAttackProcesses(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export interface GatewayProcess {
  url: string;
  pid: number;
  /** Every log line so far, parsed. */
  lines: Record<string, unknown>[];
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** The process's peak resident set (VmHWM) in MiB. */
  peakRssMiB(): number;
  /** CPU time (user and system) the process has used so far, in ms. */
  cpuMs(): number;
  stderr(): string;
  /** SIGTERM, and the exit. */
  stop(): Promise<void>;
}

/** Starts `actorgate start` on a free port under `node --max-old-space-size=<heapMiB>`; resolves once it listens. */
export function startGatewayProcess(token: string, heapMiB: number, extraArgs: string[] = []): Promise<GatewayProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-attack-'));
  const args = [`--max-old-space-size=${heapMiB}`, bin, 'start', '--host', '127.0.0.1', '--port', '0', '--state-dir', stateDir, '--auth', 'token', '--token', token, '--log-level', 'info', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACTORGATE_INSPECT: '' } });
  children.add(child);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running = false;
      children.delete(child);
      rmSync(stateDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  const lines: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not listening after 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      let newline: number;
      while ((newline = stdout.indexOf('\n')) >= 0) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        lines.push(record);
        if (record.event !== 'gateway.listening') continue;
        clearTimeout(timer);
        resolve({
          url: `ws://127.0.0.1:${record.port as number}`,
          pid: child.pid!,
          lines,
          exited,
          alive: () => running,
          peakRssMiB: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
          cpuMs: () => {
            // utime and stime, the 14th and 15th fields of /proc/<pid>/stat (after the parenthesised name), in clock ticks of 10 ms.
            const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
            return (Number(fields[11]) + Number(fields[12])) * 10;
          },
          stderr: () => stderr,
          async stop() {
            if (running) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
}

export interface HealthyReport {
  /** When each completed round started (epoch ms). */
  startedAt: number[];
  /** Milliseconds from the socket's open to hello-ok, one per round. */
  handshakeMs: number[];
  /** Milliseconds of the `health` round trip after it. */
  healthMs: number[];
  failures: string[];
}

/** Starts the healthy client; `stop()` ends it after its current round and resolves with what it measured. */
export async function startHealthyClient(url: string, token: string, intervalMs = 200): Promise<{ stop(): Promise<HealthyReport> }> {
  const child = fork(healthyClientScript, [url, token, String(intervalMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const report = new Promise<HealthyReport>((resolve, reject) => {
    child.on('message', (message) => {
      if ((message as { handshakeMs?: unknown }).handshakeMs) resolve(message as HealthyReport);
    });
    child.once('exit', (code) => reject(new Error(`healthy client exited ${code} without a report`)));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`healthy client exited ${code} before it started`)));
  });
  return {
    stop() {
      child.send('stop');
      return report;
    },
  };
}

/** The rounds of a report that started within [from, to) (epoch ms). */
export function roundsBetween(report: HealthyReport, from: number, to: number): HealthyReport {
  const keep = report.startedAt.map((at) => at >= from && at < to);
  const pick = (values: number[]) => values.filter((_, index) => keep[index]);
  return { startedAt: pick(report.startedAt), handshakeMs: pick(report.handshakeMs), healthMs: pick(report.healthMs), failures: report.failures };
}

export interface Latency {
  rounds: number;
  handshake: { p99: number; max: number };
  health: { p99: number; max: number };
}

export function latency(report: HealthyReport): Latency {
  const round = (value: number) => Math.round(value);
  return {
    rounds: report.handshakeMs.length,
    handshake: { p99: round(quantile(report.handshakeMs, 0.99)), max: round(Math.max(...report.handshakeMs)) },
    health: { p99: round(quantile(report.healthMs, 0.99)), max: round(Math.max(...report.healthMs)) },
  };
}

/** The value at quantile `q` (0..1) of the samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
