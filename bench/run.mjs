// npm run bench [-- --reference]: actorgate against a bare `ws` server doing the same protocol work,
// in one run, driven by the same load generator in a separate process; ratios actorgate / bare, each the
// median over the rounds, with targets. Writes bench/results/latest.json and bench/results/ratios.svg.
//
// Processes: this runner; a load generator (bench/loadgen.mjs); per round a fresh actorgate server
// (bench/servers/actorgate.mjs) and a fresh bare server (bench/servers/bare.mjs), both node --expose-gc;
// a micro-benchmark child (bench/micro.mjs); with --reference, the real OpenClaw gateway
// (bench/servers/reference.mjs). Everything listens and connects on 127.0.0.x only.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Child, loadavgText, machineInfo, median, splitArgs } from './lib.mjs';
import { benchParams, handshakeRow, memoryRow, rttAndFanoutRow } from './rows.mjs';
import { buildRows, renderSvg, renderTable, writeFile } from './report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS = join(BENCH_DIR, 'results');
const TOKEN = `bench-${randomUUID()}`;
const SERVER_NODE_ARGS = splitArgs(process.env.BENCH_SERVER_NODE_ARGS);
const withReference = process.argv.includes('--reference') || process.env.BENCH_REFERENCE === '1';

const log = (line) => console.error(line);

// The methods and events actorgate serves (a gateway that never listens), for the bare server's hello-ok:
// read here so that the bare server itself loads none of actorgate beyond its hello-ok builder.
const { createGateway, createLogger } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href);
const FEATURES = JSON.stringify(createGateway({ logger: createLogger('silent') }).features());

/** A server child of this run (actorgate or bare): its IPC, as the rows use it. */
async function startServer(kind) {
  const child = new Child(kind, join(BENCH_DIR, 'servers', `${kind}.mjs`), {
    execArgv: ['--expose-gc', ...SERVER_NODE_ARGS],
    env: { ...process.env, BENCH_TOKEN: TOKEN, BENCH_FEATURES: FEATURES },
  });
  const { port } = await child.ready;
  return {
    kind,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}`,
    cpu: () => child.request('cpu'),
    mem: () => child.request('mem'),
    count: () => child.request('count'),
    stats: () => child.request('stats'),
    stop: () => child.stop(),
  };
}

/** One round of every socket row against one server. */
async function serverRound(loadgen, server, p) {
  const t0 = performance.now();
  // A short warm-up (JIT, first-connection costs), the same for every server.
  await loadgen.request('handshakes', { url: server.url, total: 200, concurrency: 20, kind: 'token', addresses: p.addresses });
  const mem = await memoryRow(loadgen, server, p);
  const hs = {
    token20: await handshakeRow(loadgen, server, p, 'token', 20),
    token200: await handshakeRow(loadgen, server, p, 'token', 200),
    device20: await handshakeRow(loadgen, server, p, 'device', 20),
    device200: await handshakeRow(loadgen, server, p, 'device', 200),
  };
  const net = await rttAndFanoutRow(loadgen, server, p);
  const stats = server.stats ? await server.stats().catch(() => null) : null;
  log(
    `  ${server.kind.padEnd(9)} ${((performance.now() - t0) / 1000).toFixed(1)} s: token hs/s ${hs.token20.perSecond.toFixed(0)} / ${hs.token200.perSecond.toFixed(0)}, device ${hs.device20.perSecond.toFixed(0)} / ${hs.device200.perSecond.toFixed(0)}, ` +
      `RSS/conn ${(mem.samples[1].rssPerConn / 1024).toFixed(1)} KB, health p99 ${net.rtt.p99.toFixed(2)} ms, fan-out ${net.fanout.netCpuMsPerFanout.toFixed(2)} ms`,
  );
  return { hs, mem, net, stats };
}

async function main() {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/ is missing: npm run build first (npm run bench does)');
  const p = { ...benchParams(), joinLeaveSizes: [1_000, 10_000], invokeSizes: [100, 8_000] };
  const started = performance.now();
  const loadAtStart = loadavg();
  log(`bench: ${p.rounds} rounds, actorgate and bare ws in fresh processes each round${withReference ? ', then the reference' : ''}; load average ${loadavgText(loadAtStart)}`);

  const loadgen = new Child('loadgen', join(BENCH_DIR, 'loadgen.mjs'), { execArgv: ['--expose-gc'], env: { ...process.env, BENCH_TOKEN: TOKEN } });
  await loadgen.ready;
  const results = { rounds: [] };
  try {
    for (let round = 0; round < p.rounds; round++) {
      log(`round ${round + 1}/${p.rounds}`);
      const servers = { bare: await startServer('bare'), actorgate: await startServer('actorgate') };
      try {
        const order = round % 2 ? ['actorgate', 'bare'] : ['bare', 'actorgate'];
        const result = {};
        for (const kind of order) result[kind] = await serverRound(loadgen, servers[kind], p);
        results.rounds.push(result);
      } finally {
        await Promise.all(Object.values(servers).map((server) => server.stop()));
      }
    }

    log('micro benchmarks: Ed25519 verify, supervisor join+leave, invoke start+settle, frame scan');
    const micro = new Child('micro', join(BENCH_DIR, 'micro.mjs'), { execArgv: ['--expose-gc'] });
    const microResults = { ed25519: [], joinLeave: [], invokes: [], frameScan: [] };
    try {
      await micro.ready;
      for (let round = 0; round < p.rounds; round++) {
        microResults.ed25519.push(await micro.request('ed25519', {}));
        microResults.joinLeave.push(await micro.request('joinLeave', { sizes: p.joinLeaveSizes }));
        microResults.invokes.push(await micro.request('invokes', { sizes: p.invokeSizes }));
        microResults.frameScan.push(await micro.request('frameScan', {}));
      }
      results.micro = microResults;
    } catch (error) {
      // The socket rows are kept: the table shows the micro rows as n/a and says why.
      log(`micro benchmarks failed, their rows are left out: ${String(error.message).split("\n")[0]}`);
      results.microError = String(error.message).split('\n')[0];
    } finally {
      await micro.stop();
    }

    if (withReference) {
      const { referenceRounds } = await import('./servers/reference.mjs');
      results.reference = await referenceRounds(loadgen, p, { token: TOKEN, log, serverRound });
    }
  } finally {
    await loadgen.stop();
  }

  const rows = buildRows(results, p);
  const seconds = (performance.now() - started) / 1000;
  const machine = machineInfo();
  const loadAtEnd = loadavg();
  const reference = results.reference?.available ? results.reference : undefined;
  const header = [
    `actorgate / bare ws, ${p.rounds} rounds (medians; ratios are medians of the per-round ratios); node ${process.version}`,
    `  ${machine.cores} cores (${machine.cpuModel}), ${machine.memGiB} GiB; load average at start ${loadavgText(loadAtStart)}, at end ${loadavgText(loadAtEnd)}; ${seconds.toFixed(0)} s`,
    `  handshakes: ${p.handshakes[20]} at 20 in flight, ${p.handshakes[200]} at 200 (open, challenge, connect, hello-ok, close); memory: ${p.holds.join(' then ')} CLI clients held;`,
    `  health: ${p.rtt.connections} conns, ${p.rtt.rate} req/s open loop for ${p.rtt.durationMs / 1000} s; fan-out: ${p.fanout.cycles} joins + leaves of a tracked client seen by ${p.fanout.connections} conns`,
  ];
  if (reference) header.push(`  reference: openclaw ${reference.version} on Node ${reference.node}, ${reference.rounds.length} round(s); its columns are its own medians`);
  else if (results.reference) header.push(`  reference: skipped (${results.reference.reason})`);
  if (results.microError) header.push(`  micro benchmarks (Ed25519, join+leave, invokes): failed, left out (${results.microError})`);
  const table = renderTable(rows, { reference });
  const misses = rows.filter((row) => row.pass === false);
  console.log([...header, '', ...table, ''].join('\n'));
  for (const row of rows.filter((r) => r.note)) console.log(`  ${row.id}: ${row.note}`);
  console.log(
    misses.length
      ? `  ${misses.length} target(s) MISSED: ${misses.map((row) => row.id).join(', ')} (see bench/README.md; exit code stays 0)`
      : '  every target met',
  );

  const json = {
    bench: 'actorgate-vs-bare',
    date: new Date().toISOString(),
    node: process.version,
    machine,
    loadavg: { start: loadAtStart, end: loadAtEnd },
    seconds: Math.round(seconds),
    params: p,
    rows,
    raw: results,
  };
  writeFile(join(RESULTS, 'latest.json'), `${JSON.stringify(json, null, 1)}\n`);
  const subtitle = `${new Date().toISOString().slice(0, 16)}Z, ${machine.cores} cores, node ${process.version}, load ${loadavgText(loadAtEnd)}, medians of ${p.rounds} rounds`;
  writeFile(join(RESULTS, 'ratios.svg'), renderSvg(rows, { title: 'actorgate / bare ws (same run, same load generator)', subtitle }));
  console.log(`  wrote bench/results/latest.json and bench/results/ratios.svg`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
