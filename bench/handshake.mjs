// Handshake throughput and per-connection memory of the actorgate gateway, as ratios against a bare
// `ws` server doing the equivalent minimal exchange, measured in the same run.
//
//   npm run build && node --expose-gc bench/handshake.mjs
//
// One handshake = open a WebSocket, receive `connect.challenge`, send `req connect` (the params shape
// of test/helpers/client.ts), receive the `res` (hello-ok), close and wait for the close. Each server
// runs in its own child process (node --expose-gc) so that its memory is measured apart from the
// clients' and from the other server; the clients run in this process. Both servers use the same
// `ws` settings as the gateway (noServer upgrade on a node:http server, no permessage-deflate,
// 64 KiB pre-auth maxPayload, no client tracking).
//
// Environment: BENCH_SEQ (sequential handshakes per rep, default 1000), BENCH_CONC_TOTAL (default
// 2000), BENCH_CONC (clients in flight, default 50), BENCH_HOLD (sockets held open for the memory
// sample, default 2000, at most 5000), BENCH_REPS (default 5), BENCH_HOLD_MODE (client mode of the
// held sockets, default 'cli', see below), BENCH_FANOUT (tracked sockets held open to show the
// presence fan-out, default 500, 0 skips it).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  closeHeld,
  connectParams,
  formatNumber as fmt,
  handshake,
  handshakeThroughput,
  machineLine,
  median,
  openHeld,
  runInfo,
  sleep,
  splitArgs,
  startGatewayForBench,
  waitForConnections,
} from './lib.mjs';

const TOKEN = 'bench-token-0123456789';
const SELF = fileURLToPath(import.meta.url);
/** Extra node flags for the server children, e.g. BENCH_SERVER_NODE_ARGS=--cpu-prof to profile them. */
const SERVER_NODE_ARGS = splitArgs(process.env.BENCH_SERVER_NODE_ARGS);

// ---------------------------------------------------------------------------------------------
// Server side (child process): `node --expose-gc bench/handshake.mjs --server actorgate|bare`.
// ---------------------------------------------------------------------------------------------

async function startActorgate() {
  const gateway = await startGatewayForBench(TOKEN);
  return { port: gateway.port, connections: () => gateway.connectionCount(), close: () => gateway.close('bench finished') };
}

async function startBare() {
  const { createServer } = await import('node:http');
  const { WebSocketServer } = await import('ws');
  let open = 0;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024, clientTracking: false });
  const server = createServer((_request, response) => {
    response.writeHead(404);
    response.end();
  });
  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => {});
    wss.handleUpgrade(request, socket, head, (ws) => {
      open++;
      ws.on('close', () => open--);
      ws.on('error', () => {});
      ws.on('message', (data) => {
        let frame;
        try {
          frame = JSON.parse(data.toString());
        } catch {
          ws.close(1002, 'malformed frame');
          return;
        }
        if (frame?.type !== 'req') return;
        if (frame.method === 'connect' && frame.params?.auth?.token === TOKEN) {
          ws.send(JSON.stringify({ type: 'res', id: frame.id, ok: true, payload: { type: 'hello-ok', protocol: 3 } }));
        } else {
          ws.send(JSON.stringify({ type: 'res', id: frame.id, ok: false, error: { code: 'INVALID_REQUEST', message: 'unauthorized' } }));
          ws.close(1008, 'unauthorized');
        }
      });
      ws.send(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: randomUUID(), ts: Date.now() } }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    connections: () => open,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function serve(kind) {
  const gc = globalThis.gc;
  if (!gc) throw new Error('the server child needs --expose-gc');
  const server = kind === 'actorgate' ? await startActorgate() : await startBare();
  process.on('message', async (message) => {
    if (message.cmd === 'mem') {
      // Several passes: the first may only schedule finalizers and weak callbacks.
      for (let i = 0; i < 3; i++) {
        gc();
        await sleep(50);
      }
      const usage = process.memoryUsage();
      process.send({ reply: 'mem', usage, connections: server.connections() });
    } else if (message.cmd === 'connections') {
      process.send({ reply: 'connections', connections: server.connections() });
    } else if (message.cmd === 'stop') {
      await server.close();
      process.send({ reply: 'stopped' });
      process.disconnect();
    }
  });
  // The parent is gone (finished or crashed): never outlive it with a listening server.
  process.on('disconnect', () => process.exit(0));
  process.send({ reply: 'ready', port: server.port });
}

// ---------------------------------------------------------------------------------------------
// Client side (this process).
// ---------------------------------------------------------------------------------------------

class ServerChild {
  constructor(kind) {
    this.kind = kind;
    this.child = fork(SELF, ['--server', kind], { execArgv: ['--expose-gc', ...SERVER_NODE_ARGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = [];
    this.child.on('message', (message) => {
      const index = this.pending.findIndex((p) => p.reply === message.reply);
      if (index >= 0) this.pending.splice(index, 1)[0].resolve(message);
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending) p.reject(new Error(`${kind} server exited with ${code}`));
      this.pending = [];
    });
  }
  expect(reply) {
    return new Promise((resolve, reject) => this.pending.push({ reply, resolve, reject }));
  }
  request(cmd, reply) {
    const answer = this.expect(reply);
    this.child.send({ cmd });
    return answer;
  }
  /** The connections the server counts (for waitForConnections). */
  async connections() {
    return (await this.request('connections', 'connections')).connections;
  }
  async ready() {
    const { port } = await this.expect('ready');
    this.url = `ws://127.0.0.1:${port}`;
    return this;
  }
}

/** The client of test/helpers/client.ts in `mode`; its handshake fails on any frame before the challenge. */
function testClient(mode) {
  const template = {
    minProtocol: 3,
    maxProtocol: 4,
    client: { id: 'test', version: '1.0.0', platform: 'linux', mode },
    role: 'operator',
    scopes: ['operator.read'],
  };
  return { params: () => connectParams(template, TOKEN) };
}

function throughput(server, total, concurrency, mode = 'test') {
  return handshakeThroughput(server, total, concurrency, testClient(mode));
}

async function memory(server, count, mode) {
  await waitForConnections(server, 0);
  const before = (await server.request('mem', 'mem')).usage;
  const { held, openSeconds } = await openHeld(count, 50, () => handshake(server.url, testClient(mode)));
  await sleep(200);
  const during = await server.request('mem', 'mem');
  if (during.connections !== count) throw new Error(`${server.kind}: ${during.connections} connections open, expected ${count}`);
  await closeHeld(held, 200);
  await waitForConnections(server, 0);
  const after = (await server.request('mem', 'mem')).usage;
  const per = (key) => (during.usage[key] - before[key]) / count;
  return {
    openSeconds,
    heapPerConn: per('heapUsed'),
    rssPerConn: per('rss'),
    externalPerConn: per('external'),
    heapRetainedAfterClose: after.heapUsed - before.heapUsed,
    heapBefore: before.heapUsed,
    rssBefore: before.rss,
  };
}

/** Opens `count` tracked sockets and holds them: every join broadcasts presence to all ready sockets. */
async function trackedFanOut(server, count) {
  await waitForConnections(server, 0);
  const { held, openSeconds } = await openHeld(count, 50, () => handshake(server.url, testClient('test')));
  await closeHeld(held, 200);
  await waitForConnections(server, 0);
  return { seconds: openSeconds };
}

async function main() {
  const SEQ = Number(process.env.BENCH_SEQ ?? 1_000);
  const CONC_TOTAL = Number(process.env.BENCH_CONC_TOTAL ?? 2_000);
  const CONC = Number(process.env.BENCH_CONC ?? 50);
  const HOLD = Math.min(5_000, Number(process.env.BENCH_HOLD ?? 2_000));
  const REPS = Number(process.env.BENCH_REPS ?? 5);
  // Held sockets default to CLI-mode clients, which the gateway does not track in presence: every
  // join of a tracked client broadcasts the presence list (up to 200 entries, ~40 KB) to every ready
  // socket, so holding N tracked sockets open costs O(N x 200) bytes of fan-out per join and
  // measures broadcast traffic, not what a connection holds. BENCH_HOLD_MODE=test shows that cost.
  const HOLD_MODE = process.env.BENCH_HOLD_MODE ?? 'cli';
  const FANOUT = Number(process.env.BENCH_FANOUT ?? 500);
  const kinds = ['bare', 'actorgate'];
  const started = performance.now();

  const servers = Object.fromEntries(await Promise.all(kinds.map(async (kind) => [kind, await new ServerChild(kind).ready()])));

  // Warmup: JIT on both sides, and the first-connection costs (module loading, caches).
  for (const kind of kinds) await throughput(servers[kind], 500, CONC);

  // Interleave the servers in every repetition so that drift on the machine hits both alike.
  const seq = { bare: [], actorgate: [] };
  const conc = { bare: [], actorgate: [] };
  const concCli = { bare: [], actorgate: [] };
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of rep % 2 ? [...kinds].reverse() : kinds) {
      seq[kind].push(await throughput(servers[kind], SEQ, 1));
      conc[kind].push(await throughput(servers[kind], CONC_TOTAL, CONC));
      concCli[kind].push(await throughput(servers[kind], CONC_TOTAL, CONC, 'cli'));
    }
  }
  const mem = {};
  for (const kind of kinds) mem[kind] = await memory(servers[kind], HOLD, HOLD_MODE);
  const fan = {};
  for (const kind of kinds) fan[kind] = FANOUT > 0 ? await trackedFanOut(servers[kind], FANOUT) : { seconds: NaN };
  for (const kind of kinds) await servers[kind].request('stop', 'stopped');

  const summarize = (runs) => ({
    perSecond: median(runs.map((r) => r.perSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
  });
  const S = { bare: summarize(seq.bare), actorgate: summarize(seq.actorgate) };
  const C = { bare: summarize(conc.bare), actorgate: summarize(conc.actorgate) };
  const U = { bare: summarize(concCli.bare), actorgate: summarize(concCli.actorgate) };

  const ratio = (a, b) => (b > 0 && a >= 0 ? a / b : NaN);
  const rows = [
    ['sequential handshakes/s (mode test)', S.actorgate.perSecond, S.bare.perSecond, 0],
    ['  latency p50 (ms)', S.actorgate.p50, S.bare.p50, 2],
    ['  latency p99 (ms)', S.actorgate.p99, S.bare.p99, 2],
    [`concurrent, ${CONC} in flight, mode test: hs/s`, C.actorgate.perSecond, C.bare.perSecond, 0],
    ['  latency p50 (ms)', C.actorgate.p50, C.bare.p50, 2],
    ['  latency p99 (ms)', C.actorgate.p99, C.bare.p99, 2],
    [`concurrent, ${CONC} in flight, mode cli: hs/s`, U.actorgate.perSecond, U.bare.perSecond, 0],
    ['  latency p50 (ms)', U.actorgate.p50, U.bare.p50, 2],
    ['  latency p99 (ms)', U.actorgate.p99, U.bare.p99, 2],
    [`heap per open connection (bytes)`, mem.actorgate.heapPerConn, mem.bare.heapPerConn, 0],
    [`RSS per open connection (bytes)`, mem.actorgate.rssPerConn, mem.bare.rssPerConn, 0],
    [`time to open ${HOLD} held sockets (s)`, mem.actorgate.openSeconds, mem.bare.openSeconds, 2],
    [`heap left after all closed (bytes, noise)`, mem.actorgate.heapRetainedAfterClose, mem.bare.heapRetainedAfterClose, 0],
    [`time to open ${FANOUT} held sockets, mode test (s)`, fan.actorgate.seconds, fan.bare.seconds, 2],
  ];

  console.log(`handshake: actorgate vs bare ws, node ${process.version}, ${REPS} reps (medians), servers in child processes`);
  console.log(machineLine());
  console.log(`  sequential: ${SEQ} clients one at a time; concurrent: ${CONC_TOTAL} clients, ${CONC} at a time;`);
  console.log(`  memory: ${HOLD} sockets held open (client mode '${HOLD_MODE}'), server process after gc, delta over its idle baseline`);
  console.log('');
  const width = 46;
  console.log(`  ${'metric'.padEnd(width)} | ${'actorgate'.padStart(11)} | ${'bare ws'.padStart(11)} | actorgate/bare`);
  console.log(`  ${'-'.repeat(width)}-|-${'-'.repeat(11)}-|-${'-'.repeat(11)}-|---------------`);
  for (const [label, a, b, digits] of rows) {
    const r = ratio(a, b);
    const shown = Number.isFinite(r) ? r.toFixed(2) : 'n/a';
    console.log(`  ${label.padEnd(width)} | ${fmt(a, digits).padStart(11)} | ${fmt(b, digits).padStart(11)} | ${shown.padStart(14)}`);
  }
  console.log('');
  console.log('  (throughput ratio < 1 means actorgate is slower; memory ratio > 1 means actorgate holds more per connection)');
  console.log("  mode test clients are tracked in presence: each join and leave broadcasts the presence list to every ready");
  console.log("  socket (the bare server broadcasts nothing); mode cli clients are not tracked, so that row is the handshake alone.");
  console.log(`  The last row holds ${FANOUT} tracked sockets open: join k sends the (<= 200 entry) list to k-1 sockets, O(k) per join.`);
  console.log(`  total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(
    JSON.stringify({
      bench: 'handshake',
      ...runInfo(),
      reps: REPS,
      sequential: { clients: SEQ, actorgate: S.actorgate, bare: S.bare, ratio: ratio(S.actorgate.perSecond, S.bare.perSecond) },
      concurrent: {
        clients: CONC_TOTAL,
        inFlight: CONC,
        actorgate: C.actorgate,
        bare: C.bare,
        ratio: ratio(C.actorgate.perSecond, C.bare.perSecond),
      },
      concurrentCli: {
        clients: CONC_TOTAL,
        inFlight: CONC,
        actorgate: U.actorgate,
        bare: U.bare,
        ratio: ratio(U.actorgate.perSecond, U.bare.perSecond),
      },
      trackedFanOut: { held: FANOUT, actorgateSeconds: fan.actorgate.seconds, bareSeconds: fan.bare.seconds },
      memory: {
        held: HOLD,
        clientMode: HOLD_MODE,
        actorgate: mem.actorgate,
        bare: mem.bare,
        heapRatio: ratio(mem.actorgate.heapPerConn, mem.bare.heapPerConn),
        rssRatio: ratio(mem.actorgate.rssPerConn, mem.bare.rssPerConn),
      },
    }),
  );
}

const serverIndex = process.argv.indexOf('--server');
if (serverIndex >= 0) {
  serve(process.argv[serverIndex + 1]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
