// The measured rows: each function drives one server through the load generator for one round and
// returns that round's numbers. Server CPU always comes from the server process itself (cpuUsage over
// IPC, or the probe preloaded into the reference), per operation.
import { sleep } from './lib.mjs';

/** Parameters of a run (environment overrides for development: BENCH_* below). */
export function benchParams(env = process.env) {
  const n = (name, fallback) => Number(env[name] ?? fallback);
  return {
    rounds: n('BENCH_ROUNDS', 3),
    handshakes: { 20: n('BENCH_HS_20', 1_500), 200: n('BENCH_HS_200', 3_000) },
    holds: [n('BENCH_HOLD_1', 5_000), n('BENCH_HOLD_2', 10_000)],
    rtt: { connections: n('BENCH_RTT_CONNS', 1_000), rate: n('BENCH_RTT_RATE', 5_000), durationMs: n('BENCH_RTT_MS', 3_000) },
    fanout: { connections: n('BENCH_FANOUT_CONNS', 1_000), cycles: n('BENCH_FANOUT_CYCLES', 60) },
    /** Loopback source addresses the clients spread over (127.0.0.1 .. 127.0.0.N). */
    addresses: Array.from({ length: n('BENCH_SOURCE_ADDRESSES', 10) }, (_, i) => `127.0.0.${i + 1}`),
  };
}

/** Polls the server until it counts `expected` connections (bounded). */
export async function settle(server, expected = 0, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await server.count();
    if (open === expected) return;
    if (Date.now() > deadline) throw new Error(`${server.kind}: ${open} connections open, expected ${expected}`);
    await sleep(50);
  }
}

/** Runs `task` and adds the server's CPU per operation (ms) over it. */
async function withCpu(server, operations, task) {
  const before = await server.cpu();
  const result = await task();
  const after = await server.cpu();
  return { ...result, cpuMsPerOp: (after - before) / 1000 / operations };
}

/** Handshakes (open, challenge, connect, hello-ok, close) at a concurrency, token or device-signed. */
export async function handshakeRow(loadgen, server, p, kind, concurrency, timeLimitMs = 60_000) {
  await settle(server);
  const total = p.handshakes[concurrency];
  const before = await server.cpu();
  const result = await loadgen.request('handshakes', { url: server.url, total, concurrency, kind, addresses: p.addresses, timeLimitMs }, timeLimitMs + 120_000);
  const after = await server.cpu();
  if (result.failed > 0) console.error(`  ${server.kind} ${kind} c=${concurrency}: ${result.failed} handshakes failed (${result.firstError})`);
  if (result.completed === 0) return { ...result, perSecond: NaN, cpuMsPerOp: NaN };
  return { ...result, cpuMsPerOp: (after - before) / 1000 / result.completed };
}

/**
 * Idle memory per authenticated connection: the server after GC, idle, then with holds[0] and
 * holds[1] connections held (CLI clients: not tracked in presence, nothing is broadcast to them).
 */
export async function memoryRow(loadgen, server, p, timeLimitMs = 120_000) {
  await settle(server);
  const idle = await server.mem();
  const samples = [];
  for (const target of p.holds) {
    const held = await loadgen.request('hold', { url: server.url, count: target - (samples.at(-1)?.held ?? 0), addresses: p.addresses, timeLimitMs }, timeLimitMs + 60_000);
    if (held.failed > 0) console.error(`  ${server.kind} hold: ${held.failed} handshakes failed (${held.firstError})`);
    await sleep(300);
    const mem = await server.mem();
    const count = held.held;
    samples.push({
      target,
      held: count,
      openSeconds: held.seconds,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      rssPerConn: (mem.rss - idle.rss) / count,
      heapPerConn: (mem.heapUsed - idle.heapUsed) / count,
      externalPerConn: (mem.external + mem.arrayBuffers - idle.external - idle.arrayBuffers) / count,
      newSpaceGrowth: mem.newSpace - idle.newSpace,
    });
  }
  await loadgen.request('release', {}, 120_000);
  await settle(server, 0, 30_000);
  return { idleRss: idle.rss, idleHeap: idle.heapUsed, samples };
}

/**
 * Request round trips and presence fan-out, with p.rtt.connections (= p.fanout.connections) held:
 * `health` at a fixed rate, open loop; then presence changes every held socket must see. The fan-out's
 * CPU is net of the trigger's own handshake, measured with nobody listening.
 */
export async function rttAndFanoutRow(loadgen, server, p, timeLimitMs = 60_000) {
  await settle(server);
  const hold = await loadgen.request('hold', { url: server.url, count: p.rtt.connections, addresses: p.addresses, timeLimitMs }, timeLimitMs + 60_000);
  if (hold.failed > 0) console.error(`  ${server.kind} hold: ${hold.failed} handshakes failed (${hold.firstError})`);
  const rate = p.rtt.rate;
  const rtt = await withCpu(server, Math.floor((rate * p.rtt.durationMs) / 1000), () =>
    loadgen.request('rtt', { rate, durationMs: p.rtt.durationMs, method: 'health' }, p.rtt.durationMs + 60_000),
  );
  const cycles = p.fanout.cycles;
  const fan = await withCpu(server, 2 * cycles, () => loadgen.request('fanout', { url: server.url, cycles, timeLimitMs }, timeLimitMs + 60_000));
  await loadgen.request('release', {}, 120_000);
  await settle(server, 0, 30_000);
  const alone = await withCpu(server, 2 * cycles, () => loadgen.request('fanout', { url: server.url, cycles, timeLimitMs }, timeLimitMs + 60_000));
  await settle(server, 0, 30_000);
  return {
    held: hold.held,
    rtt,
    fanout: {
      recipients: hold.held,
      cycles: fan.cycles,
      missed: fan.missed,
      cpuMsPerFanout: fan.cpuMsPerOp,
      triggerCpuMs: alone.cpuMsPerOp,
      netCpuMsPerFanout: fan.cpuMsPerOp - alone.cpuMsPerOp,
      msPerCycle: (fan.seconds * 1000) / Math.max(1, fan.cycles),
    },
  };
}
