// Crash safety of the JSON file store with a real `kill -9`: a child process approves devices in a loop and is
// SIGKILLed at seeded random moments; after every kill the file must load, hold every record the child reported
// durable, and hold records 1..M with no gap, duplicate or step back.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonFileStore } from '../../src/store/json-file-store.js';
import { seededRandom } from '../helpers/chaos.js';

const ROUNDS = 30;
const SEED = Number(process.env.STORE_CRASH_SEED ?? 0x5eed);
const writer = new URL('../helpers/store-writer.mjs', import.meta.url).pathname;
const source = new URL('../../src/store/json-file-store.ts', import.meta.url).pathname;

const work = mkdtempSync(join(tmpdir(), 'actorgate-store-crash-'));
const statePath = join(work, 'state', 'pairing.json');
// The child is plain `node`, which cannot import TypeScript on Node 20: give it this checkout's store, transpiled now
// (the store imports only node: builtins), rather than a dist/ build that may be stale or blocked by other files.
const compiled = join(work, 'json-file-store.js');
beforeAll(() => {
  const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: source,
  });
  writeFileSync(compiled, outputText);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Device {
  deviceId: string;
  counter: number;
}
interface Pairing {
  version: 1;
  devices: Device[];
}
function parse(value: unknown): Pairing {
  const v = value as Pairing;
  if (typeof v !== 'object' || v === null || v.version !== 1 || !Array.isArray(v.devices)) {
    throw new Error('expected {version: 1, devices: [...]}');
  }
  return v;
}
const newStore = () => new JsonFileStore<Pairing>({ path: statePath, empty: () => ({ version: 1, devices: [] }), parse });

/** Runs the writer, SIGKILLs it `delayMs` after it is ready, and returns the counters it reported durable. */
function runAndKill(delayMs: number): Promise<{ acked: number[]; stderr: string }> {
  const child = spawn(process.execPath, [writer, compiled, statePath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killed = false;
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const startTimer = setTimeout(() => reject(new Error(`writer not ready after 5 s: ${stderr}`)), 5_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (killed || !stdout.startsWith('ready\n')) return;
      killed = true;
      clearTimeout(startTimer);
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    // 'close': the process is gone and its pipes are drained, so every line it wrote before dying has been read.
    child.once('close', (code, signal) => {
      clearTimeout(startTimer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited by itself (${code}, ${signal}): ${stderr}`));
      const lines = stdout.split('\n').slice(1, -1); // after "ready"; the last piece is an incomplete line or ''
      resolve({ acked: lines.map(Number), stderr });
    });
  });
}

describe('JsonFileStore under kill -9', () => {
  // 30 node processes, each 0.15-0.6 s to start on a loaded machine: the test's timeout is the only bound on time.
  it(`never loses or corrupts approved records across ${ROUNDS} SIGKILLs`, { timeout: 60_000 }, async () => {
    const random = seededRandom(SEED);
    const started = Date.now();
    let ackedMax = 0;
    let ackedLines = 0;
    let stored = 0;
    let roundsWithLeftovers = 0;

    for (let round = 1; round <= ROUNDS; round++) {
      const delayMs = 5 + Math.floor(random() * 56);
      const { acked } = await runAndKill(delayMs);
      acked.forEach((counter, i) => expect(counter, `ack order in round ${round}`).toBeGreaterThan(acked[i - 1] ?? 0));
      ackedLines += acked.length;
      ackedMax = Math.max(ackedMax, ...acked);

      const files = readdirSync(join(work, 'state'));
      if (files.some((name) => name.endsWith('.tmp'))) roundsWithLeftovers++;
      const state = await newStore().load(); // throws on a corrupt or invalid file
      const counters = state.devices.map((d) => d.counter);
      const context = `round ${round} (delay ${delayMs} ms, seed ${SEED}): acked up to ${ackedMax}, file holds ${counters.length}`;
      expect(counters, context).toEqual(counters.map((_, i) => i + 1));
      expect(counters.length, context).toBeGreaterThanOrEqual(ackedMax);
      expect(counters.length, context).toBeGreaterThanOrEqual(stored);
      expect(state.devices.every((d, i) => d.deviceId === `device-${i + 1}`), context).toBe(true);
      stored = counters.length;
    }

    // The next save removes what the killed writers left behind.
    const store = newStore();
    await store.save(await store.load());
    expect(readdirSync(join(work, 'state'))).toEqual(['pairing.json']);

    const elapsed = Date.now() - started;
    console.log(
      `store-crash: ${ROUNDS} kills (seed ${SEED}), ${stored} records durably written, ` +
        `${ackedLines} acknowledged before a kill (highest ${ackedMax}), ` +
        `temp files left by ${roundsWithLeftovers} kills, ${elapsed} ms`,
    );
  });
});
