// The attacks of issue 16 items 1 and 3 at full size, against the built gateway (dist/) run as `actorgate start`
// under a 512 MiB heap, with a healthy client in its own process making a handshake and a `health` round trip
// every 200 ms (test/helpers/healthy-client.mjs). Prints, per attack, what the attacker got, the gateway's CPU
// per frame and peak RSS, and the healthy client's p99 and worst during it. `npm test` runs the same attacks
// sized down (test/e2e/frame-attack.test.ts, test/e2e/presence-bounds.test.ts).
//
//   node bench/attacks-frames-presence.mjs [--frames 5] [--presence-clients 117] [--presence-seconds 10]
import { fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values: args } = parseArgs({
  options: { frames: { type: 'string', default: '5' }, 'presence-clients': { type: 'string', default: '117' }, 'presence-seconds': { type: 'string', default: '10' } },
});
const FRAMES = Number(args.frames);
const PRESENCE_CLIENTS = Number(args['presence-clients']);
const PRESENCE_SECONDS = Number(args['presence-seconds']);
const TOKEN = 'attack-token';
const MiB = 1024 * 1024;
const root = new URL('..', import.meta.url).pathname;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startGateway() {
  const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-attacks-'));
  const child = spawn(process.execPath, ['--max-old-space-size=512', join(root, 'bin/actorgate.js'), 'start', '--port', '0', '--state-dir', stateDir, '--token', TOKEN, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exited;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  const proc = (name) => readFileSync(`/proc/${child.pid}/${name}`, 'utf8');
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (!line.includes('"gateway.listening"')) continue;
        resolve({
          url: `ws://127.0.0.1:${JSON.parse(line).port}`,
          alive: () => exited === undefined,
          exited: () => exited,
          cpuMs: () => {
            const fields = proc('stat').split(') ')[1].split(' ');
            return (Number(fields[11]) + Number(fields[12])) * 10;
          },
          peakRssMiB: () => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(proc('status'))[1]) / 1024),
          async stop() {
            child.kill('SIGTERM');
            await exit;
            rmSync(stateDir, { recursive: true, force: true });
          },
        });
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    exit.then(() => reject(new Error('gateway exited before listening')));
  });
}

function startHealthy(url) {
  const child = fork(join(root, 'test/helpers/healthy-client.mjs'), [url, TOKEN, '200'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = new Promise((resolve) => child.on('message', (message) => message.handshakeMs && resolve(message)));
  return {
    ready: new Promise((resolve) => child.once('message', resolve)),
    stop: () => (child.send('stop'), report),
  };
}

function quantiles(values) {
  if (values.length === 0) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p99: Math.round(sorted[Math.ceil(0.99 * sorted.length) - 1]), max: Math.round(sorted.at(-1)) };
}

function between(report, from, to) {
  const keep = report.startedAt.map((at) => at >= from && at < to);
  return { handshake: quantiles(report.handshakeMs.filter((_, i) => keep[i])), health: quantiles(report.healthMs.filter((_, i) => keep[i])) };
}

/** A ready socket: resolves with it and its hello-ok frame's size. */
function connect(url, params) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    const waiting = new Map();
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const head = data.toString('latin1', 0, 64);
      if (head.startsWith('{"type":"event","event":"connect.challenge"')) {
        ws.send(JSON.stringify({ type: 'req', id: 'c', method: 'connect', params: { minProtocol: 3, maxProtocol: 4, auth: { token: TOKEN }, role: 'operator', ...params } }));
      } else if (head.startsWith('{"type":"res","id":"c"')) {
        const frame = JSON.parse(data.toString());
        if (!frame.ok) reject(new Error(JSON.stringify(frame.error)));
        resolve({ ws, helloBytes: data.length, answer: (id) => new Promise((done) => waiting.set(id, done)) });
      } else if (head.startsWith('{"type":"res"')) {
        const frame = JSON.parse(data.toString());
        waiting.get(frame.id)?.(frame);
        waiting.delete(frame.id);
      }
    });
    ws.once('close', (code) => reject(new Error(`closed ${code} before hello-ok`)));
  });
}

const client = (mode = 'test') => ({ id: 'attacker', version: '1.0.0', platform: 'linux', mode, instanceId: randomUUID() });
const emptyObjects = (bytes) => `[${'{},'.repeat(Math.floor(bytes / 3) - 1)}{}]`;

async function frameAttack(gateway, name, scopes, text) {
  const frame = Buffer.from(text);
  const cpuBefore = gateway.cpuMs();
  const outcomes = [];
  const from = Date.now();
  let socket;
  for (let i = 0; i < FRAMES && gateway.alive(); i++) {
    socket ??= await connect(gateway.url, { client: client(), scopes });
    const sent = Date.now();
    const closed = new Promise((resolve) => socket.ws.once('close', (code) => resolve({ closed: code })));
    socket.ws.send(frame, { binary: false });
    const outcome = await Promise.race([socket.answer('x'), closed]);
    outcomes.push({ ms: Date.now() - sent, result: outcome.closed ?? outcome.error?.details?.code ?? (outcome.ok ? 'ok' : outcome.error?.code) });
    if (outcome.closed !== undefined) socket = undefined;
  }
  socket?.ws.terminate();
  return { name, frameMiB: +(frame.length / MiB).toFixed(1), outcomes, cpuMsPerFrame: Math.round((gateway.cpuMs() - cpuBefore) / Math.max(1, outcomes.length)), from, to: Date.now() };
}

async function presenceAttack(gateway) {
  const fat = (n, tail = '') => '\u0001'.repeat(n - tail.length) + tail;
  const params = () => ({
    client: { id: fat(128), displayName: fat(256), version: fat(128), platform: fat(128), deviceFamily: fat(128), modelIdentifier: fat(128), mode: 'ui', instanceId: fat(128, randomUUID()) },
    scopes: Array.from({ length: 16 }, (_, i) => fat(64, `s${i}`)),
  });
  let presenceBytes = 0;
  const from = Date.now();
  const sockets = [];
  for (let i = 0; i < PRESENCE_CLIENTS; i += 20) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(20, PRESENCE_CLIENTS - i) }, () => connect(gateway.url, params())))));
  }
  for (const { ws } of sockets) ws.on('message', (data) => data.toString('latin1', 0, 40).startsWith('{"type":"event","event":"presence"') && (presenceBytes += data.length));
  const joined = Date.now();
  await sleep(PRESENCE_SECONDS * 1000);
  for (const { ws } of sockets) ws.terminate();
  const seconds = (Date.now() - joined) / 1000;
  return {
    name: `${PRESENCE_CLIENTS} tracked clients, every presence field at its cap`,
    largestHelloKiB: Math.round(Math.max(...sockets.map((s) => s.helloBytes)) / 1024),
    presenceMiBPerSecondAfterJoins: +(presenceBytes / MiB / seconds).toFixed(1),
    joinMs: joined - from,
    from,
    to: Date.now(),
  };
}

const gateway = await startGateway();
const healthy = startHealthy(gateway.url);
await healthy.ready;
await sleep(2_000);
const baselineTo = Date.now();
const results = [];
const attacks = [
  ['read-only operator: health with 25 MiB of empty objects', ['operator.read'], `{"type":"req","id":"x","method":"health","params":{"a":${emptyObjects(25 * MiB - 100)}}}`],
  ['writer: health padded to 25 MiB', ['operator.write'], `{"type":"req","id":"x","method":"health","params":{"pad":"${'x'.repeat(25 * MiB - 100)}"}}`],
  ['writer: node.invoke with 25 MiB of empty objects', ['operator.write'], `{"type":"req","id":"x","method":"node.invoke","params":{"nodeId":"n","command":"c","idempotencyKey":"k","params":${emptyObjects(25 * MiB - 200)}}}`],
];
for (const [name, scopes, text] of attacks) {
  if (!gateway.alive()) break;
  results.push(await frameAttack(gateway, name, scopes, text));
  await sleep(500);
}
if (gateway.alive()) results.push(await presenceAttack(gateway));
const report = await healthy.stop();
const summary = {
  baseline: between(report, 0, baselineTo),
  attacks: results.map(({ from, to, ...rest }) => ({ ...rest, healthy: between(report, from, to) })),
  healthyFailures: report.failures.length,
  gatewayAlive: gateway.alive(),
  gatewayExit: gateway.exited(),
  peakRssMiB: gateway.alive() ? gateway.peakRssMiB() : undefined,
};
console.log(JSON.stringify(summary, null, 2));
await gateway.stop();
