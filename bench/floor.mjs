// node bench/floor.mjs (after npm run build): what the actor model alone costs a handshake. Token
// handshakes (200 in flight, then 20) against three servers in fresh processes each round: bare `ws`,
// the same bare server with one XState connection actor per socket and the supervisor it reports to
// (bench/servers/actor-floor.mjs: the gateway's machines, effects left as no-ops), and actorgate. Prints
// the medians of 3 rounds: rate, server CPU per handshake, and each rate as a ratio to bare.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, median } from './lib.mjs';
import { benchParams, handshakeRow } from './rows.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const TOKEN = `bench-${randomUUID()}`;
const SERVERS = [
  { name: 'bare ws', file: 'bare.mjs', env: {} },
  { name: 'bare ws + connection actors', file: 'bare.mjs', env: { BENCH_BARE_ACTORS: '1' } },
  { name: 'actorgate', file: 'actorgate.mjs', env: {} },
];

async function start({ name, file, env }) {
  const child = new Child(name, join(BENCH_DIR, 'servers', file), { execArgv: ['--expose-gc'], env: { ...process.env, ...env, BENCH_TOKEN: TOKEN } });
  const { port } = await child.ready;
  return { kind: name, url: `ws://127.0.0.1:${port}`, cpu: () => child.request('cpu'), count: () => child.request('count'), stop: () => child.stop() };
}

const p = benchParams();
const loadgen = new Child('loadgen', join(BENCH_DIR, 'loadgen.mjs'), { env: { ...process.env, BENCH_TOKEN: TOKEN } });
await loadgen.ready;
const results = SERVERS.map(() => ({ 200: [], 20: [] }));
try {
  for (let round = 0; round < p.rounds; round++) {
    for (const [i, spec] of SERVERS.entries()) {
      const server = await start(spec);
      try {
        // Warm-up as long as a timed row: JIT and first-connection costs out of the way.
        await loadgen.request('handshakes', { url: server.url, total: p.handshakes[200], concurrency: 20, kind: 'token', addresses: p.addresses });
        for (const concurrency of [200, 20]) results[i][concurrency].push(await handshakeRow(loadgen, server, p, 'token', concurrency));
      } finally {
        await server.stop();
      }
    }
    console.error(`round ${round + 1}/${p.rounds} done`);
  }
} finally {
  await loadgen.stop();
}
for (const concurrency of [200, 20]) {
  console.log(`token handshakes, ${concurrency} in flight (medians of ${p.rounds} rounds):`);
  const bareRates = results[0][concurrency].map((row) => row.perSecond);
  for (const [i, spec] of SERVERS.entries()) {
    const rows = results[i][concurrency];
    const ratio = median(rows.map((row, round) => row.perSecond / bareRates[round]));
    const rate = median(rows.map((row) => row.perSecond));
    const cpu = median(rows.map((row) => row.cpuMsPerOp * 1000));
    console.log(`  ${spec.name.padEnd(28)} ${rate.toFixed(0).padStart(6)}/s  ${cpu.toFixed(0).padStart(4)} us CPU  ${ratio.toFixed(2)}x bare`);
  }
}
