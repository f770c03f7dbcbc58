// `actorgate diagnose` over a generated log of a million lines (BENCH_DIAGNOSE_LINES to change it):
// the time to read and diagnose it in process (diagnoseFile from dist/) and as the real CLI in a child
// process, in lines per second. The log mixes every kind of line the gateway writes with other
// services' lines, text lines and cut lines (src/observability/diagnose/synthetic-log.ts); each run's counts are
// checked against what the generator wrote, so a fast wrong answer fails the bench.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const LINES = Number(process.env.BENCH_DIAGNOSE_LINES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_DIAGNOSE_RUNS ?? 3);
const bin = new URL('../bin/actorgate.js', import.meta.url).pathname;
const { writeSyntheticLog } = await import('../dist/src/observability/diagnose/synthetic-log.js');
const { diagnoseFile } = await import('../dist/src/observability/diagnose/read.js');

const formatNumber = (x) => Math.round(x).toLocaleString('en-US');
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The counts the generator promised, against a diagnosis: the names of those that differ. */
function mismatches(expected, d) {
  const sum = (rows) => Object.fromEntries(rows.map((row) => [row.code, row.count]));
  const checks = {
    lines: [expected.lines, d.input.lines],
    records: [expected.records, d.input.records],
    skipped: [expected.skipped, d.input.skipped],
    corrupt: [expected.corrupt, d.input.corrupt],
    ready: [expected.ready, d.connections.ready],
    closed: [expected.closed, d.connections.closed],
    swiftpmHelpers: [expected.swiftpmHelpers, d.swiftpmHelpers],
    handshakeTimeouts: [expected.handshakeTimeouts, d.handshakeTimeouts],
    closedBeforeConnect: [JSON.stringify(expected.closedBeforeConnect), JSON.stringify(d.closedBeforeConnect)],
    authFailures: [JSON.stringify(expected.authFailures), JSON.stringify(sum(d.authFailures))],
    deviceFailures: [JSON.stringify(expected.deviceFailures), JSON.stringify(sum(d.deviceFailures))],
    upgradeRejections: [JSON.stringify(expected.upgradeRejections), JSON.stringify(d.upgradeRejections)],
  };
  return Object.entries(checks)
    .filter(([, [want, got]]) => want !== got)
    .map(([name, [want, got]]) => `${name}: expected ${want}, got ${got}`);
}

function runCli(file) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bin, 'diagnose', file, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`actorgate diagnose exited with ${code}`));
      else resolve({ ms, diagnosis: JSON.parse(stdout) });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'actorgate-bench-diagnose-'));
const file = join(dir, 'gateway.log');
try {
  let started = performance.now();
  const expected = writeSyntheticLog(file, LINES);
  const generateMs = performance.now() - started;
  const bytes = statSync(file).size;
  console.log(`diagnose: ${formatNumber(LINES)} lines, ${(bytes / 1024 / 1024).toFixed(0)} MiB, generated in ${formatNumber(generateMs)} ms`);

  const inProcess = [];
  const child = [];
  const wrong = [];
  for (let run = 0; run < RUNS; run++) {
    started = performance.now();
    const d = await diagnoseFile(file);
    inProcess.push(performance.now() - started);
    wrong.push(...mismatches(expected, d));
    const viaCli = await runCli(file);
    child.push(viaCli.ms);
    wrong.push(...mismatches(expected, viaCli.diagnosis));
  }
  const inProcessMs = median(inProcess);
  const childMs = median(child);
  console.log(`  in process     ${formatNumber(inProcessMs).padStart(6)} ms  ${formatNumber(LINES / (inProcessMs / 1000)).padStart(10)} lines/s  (median of ${RUNS})`);
  console.log(`  child process  ${formatNumber(childMs).padStart(6)} ms  ${formatNumber(LINES / (childMs / 1000)).padStart(10)} lines/s  (node start-up included)`);
  console.log(`  ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other processes skew the numbers)`);
  if (wrong.length > 0) {
    console.error(`diagnose counted wrong:\n  ${[...new Set(wrong)].join('\n  ')}`);
    process.exitCode = 1;
  }
  console.log(
    JSON.stringify({
      bench: 'diagnose',
      date: new Date().toISOString(),
      node: process.version,
      cores: cpus().length,
      loadavg: loadavg(),
      lines: LINES,
      bytes,
      generateMs: Math.round(generateMs),
      inProcess: { runsMs: inProcess.map(Math.round), medianMs: Math.round(inProcessMs), linesPerSecond: Math.round(LINES / (inProcessMs / 1000)) },
      childProcess: { runsMs: child.map(Math.round), medianMs: Math.round(childMs), linesPerSecond: Math.round(LINES / (childMs / 1000)) },
      countsMatch: wrong.length === 0,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
