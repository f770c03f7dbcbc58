// In-process micro benchmarks, run in a child of bench/run.mjs (node --expose-gc):
// - ed25519: verifies per second, node:crypto against @noble/ed25519, and actorgate's whole device-proof
//   check with a fresh key per proof;
// - joinLeave: the supervisor actor's cost of one join + leave with N connections already joined;
// - invokes: the cost of one invoke from request to answer (the supervisor and the invoke actor the runtime
//   runs for it) with N others in flight.
// - frameScan: the scan every inbound frame gets before it is parsed (src/protocol/frame-scan.ts), against
//   the string decoding and JSON.parse that follow it, on frames as clients send them.
// - fanOut: the outbound side's cost of one broadcast to N ready sockets (real TCP sockets on loopback, read
//   and discarded in this process), at N different seqs and at one seq, by the size of the body.
// Run alone: `node --expose-gc bench/micro.mjs fanOut [dist dir]` prints the fan-out rows as JSON (the dist
// directory of another build, to compare before and after).
import { createPublicKey, createHash, sign, verify } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as ed from '@noble/ed25519';
import { createActor } from 'xstate';
import { supervisorMachine } from '../dist/machines/supervisor.js';
import { InvokeRunner } from '../dist/src/supervisor/invokes.js';
import { buildDeviceAuthPayload, verifyDeviceProof } from '../dist/src/auth/device-proof.js';
import { nobleDeviceCrypto } from '../dist/src/auth/noble-crypto.js';
import { nodeDeviceCrypto } from '../dist/src/auth/node-crypto.js';
import { FRAME_SCAN_LIMITS } from '../dist/src/protocol/decode.js';
import { scanFrame } from '../dist/src/protocol/frame-scan.js';
import { ed25519KeyPair, median, serveRequests } from './lib.mjs';

const gc = globalThis.gc ?? (() => {});
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// ---------------------------------------------------------------------------------------------
// Ed25519.
// ---------------------------------------------------------------------------------------------

/** `count` signed device proofs, each with its own key, as a client sends them (v3). */
function makeProofs(count) {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const { publicKey, privateKey, raw } = ed25519KeyPair();
    const deviceId = createHash('sha256').update(raw).digest('hex');
    const nonce = `nonce-${i}`;
    const client = { id: 'cli', mode: 'cli', platform: 'linux', deviceFamily: 'Linux' };
    const message = Buffer.from(
      buildDeviceAuthPayload('v3', { deviceId, clientId: 'cli', clientMode: 'cli', role: 'operator', scopes: ['operator.read'], signedAtMs: now, token: 't', nonce, platform: 'linux', deviceFamily: 'Linux' }),
    );
    const signature = sign(null, message, privateKey);
    return {
      raw: new Uint8Array(raw),
      keyObject: publicKey,
      message: new Uint8Array(message),
      signature: new Uint8Array(signature),
      input: {
        device: { id: deviceId, publicKey: raw.toString('base64url'), signature: signature.toString('base64url'), signedAt: now, nonce },
        client,
        role: 'operator',
        scopes: ['operator.read'],
        auth: { token: 't' },
        challengeNonce: nonce,
        now,
      },
    };
  });
}

/** Operations per second of `op` over the proofs, for at most `maxMs` (and at most one pass). */
function rate(proofs, op, maxMs) {
  const start = performance.now();
  let done = 0;
  for (const proof of proofs) {
    if (!op(proof)) throw new Error('a valid signature did not verify');
    done++;
    if ((done & 15) === 0 && performance.now() - start > maxMs) break;
  }
  return done / ((performance.now() - start) / 1000);
}

function ed25519({ count = 3000, maxMs = 700 }) {
  const proofs = makeProofs(count);
  const cases = {
    // A KeyObject made from the raw key for every verify: what a gateway does for a key it has not seen.
    // As JWK (OpenSSL's raw-key import, what node-crypto.ts does) and as DER SPKI (its decoder, slow).
    nodeFreshKey: (p) => verify(null, p.message, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(p.raw).toString('base64url') }, format: 'jwk' }), p.signature),
    nodeFreshKeyDer: (p) => verify(null, p.message, createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, p.raw]), format: 'der', type: 'spki' }), p.signature),
    nodeCachedKey: (p) => verify(null, p.message, p.keyObject, p.signature),
    noble: (p) => ed.verify(p.signature, p.message, p.raw, { zip215: false }),
    proofNode: (p) => verifyDeviceProof(p.input, nodeDeviceCrypto).ok,
    proofNoble: (p) => verifyDeviceProof(p.input, nobleDeviceCrypto).ok,
  };
  // Warm-up on a few proofs, then each case on its own slice (fresh keys for every case).
  for (const op of Object.values(cases)) rate(proofs.slice(0, 50), op, 100);
  const result = {};
  const names = Object.keys(cases);
  const slice = Math.floor((count - 50) / names.length);
  names.forEach((name, i) => {
    gc();
    result[name] = rate(proofs.slice(50 + i * slice, 50 + (i + 1) * slice), cases[name], maxMs);
  });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Supervisor join + leave.
// ---------------------------------------------------------------------------------------------

// Tracked clients (CLI ones are not tracked), a third each node / ui / backend, each with its own
// instance id so that every one gets a presence entry (capped at 200). Nodes are paired already, so a
// node join is a known node coming online, not a pairing request.
const KINDS = [
  { mode: 'node', role: 'node', id: 'node-host', caps: ['system.run'], commands: ['system.run'] },
  { mode: 'ui', role: 'operator', id: 'control-ui', caps: [], commands: [] },
  { mode: 'backend', role: 'operator', id: 'backend-svc', caps: [], commands: [] },
];
const OFFLINE_NODES = 100;

function joinEvent(connId, i, nodeId) {
  const kind = KINDS[i % KINDS.length];
  const session = {
    protocol: 3,
    role: kind.role,
    scopes: kind.role === 'node' ? [] : ['operator.read', 'operator.write'],
    client: { id: kind.id, displayName: `${kind.id}-${i}`, version: '1.0.0', platform: 'linux', mode: kind.mode, instanceId: `inst-${connId}` },
    caps: kind.caps,
    commands: kind.commands,
    connectedAt: 1_700_000_000_000 + i,
  };
  if (kind.role === 'node') session.deviceId = nodeId;
  return { type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session, isLocalClient: false };
}

const pairedNode = (nodeId) => ({
  nodeId,
  clientId: 'node-host',
  clientMode: 'node',
  platform: 'linux',
  version: '1.0.0',
  caps: KINDS[0].caps,
  commands: KINDS[0].commands,
  createdAtMs: 1_700_000_000_000,
  approvedAtMs: 1_700_000_000_000,
  silent: false,
});

function registrySizes(actor) {
  const sizes = {};
  for (const [key, value] of Object.entries(actor.getSnapshot().context)) if (value instanceof Map || value instanceof Set) sizes[key] = value.size;
  return sizes;
}

let extra = 0;
function pairsBatch(count) {
  const joins = [];
  const leaves = [];
  for (let i = 0; i < count; i++) {
    const seq = extra++;
    joins.push(joinEvent(`x${seq}`, seq, `node-offline-${seq % OFFLINE_NODES}`));
    leaves.push({ type: 'connection.left', connId: `x${seq}` });
  }
  return { joins, leaves };
}

function timePairs(actor, { joins, leaves }) {
  const start = performance.now();
  for (let i = 0; i < joins.length; i++) {
    actor.send(joins[i]);
    actor.send(leaves[i]);
  }
  return ((performance.now() - start) * 1e6) / joins.length;
}

function measureJoinLeave(n, pairs, reps) {
  gc();
  const nodes = [];
  for (let i = 0; i < n; i += KINDS.length) nodes.push(pairedNode(`node-dev-${i}`));
  for (let i = 0; i < OFFLINE_NODES; i++) nodes.push(pairedNode(`node-offline-${i}`));
  const actor = createActor(supervisorMachine, {
    input: {
      self: { host: 'bench', ip: '127.0.0.1', version: 'bench', platform: process.platform, mode: 'gateway', reason: 'self', ts: Date.now() },
      tickIntervalMs: 3_600_000,
      pairing: { version: 1, devices: [], nodes },
    },
  });
  actor.on('*', () => {}); // the gateway listens to every emitted event
  actor.start();
  for (let i = 0; i < n; i++) actor.send(joinEvent(`c${i}`, i, `node-dev-${i}`));
  timePairs(actor, pairsBatch(1_000));
  const before = registrySizes(actor);
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    const batch = pairsBatch(pairs);
    gc();
    samples.push(timePairs(actor, batch));
  }
  const after = registrySizes(actor);
  actor.stop();
  const leaks = Object.keys(after).filter((key) => after[key] !== before[key]).map((key) => `${key} ${before[key]} -> ${after[key]}`);
  return { n, nsPerPair: median(samples), leaks };
}

function joinLeave({ sizes = [1_000, 10_000], pairs = 3_000, reps = 5 }) {
  measureJoinLeave(1_000, 1_000, 2); // JIT warm-up
  return sizes.map((n) => measureJoinLeave(n, pairs, reps));
}

// ---------------------------------------------------------------------------------------------
// Invoke start + settle.
// ---------------------------------------------------------------------------------------------

const BENCH_NODE = 'node-bench';

/** A supervisor with one paired node connected and `inFlight` invokes waiting on it (no caps), run as the gateway runs it. */
function invokeRig(inFlight) {
  let ids = 0;
  const actor = createActor(supervisorMachine, {
    input: {
      self: { host: 'bench', ip: '127.0.0.1', version: 'bench', platform: process.platform, mode: 'gateway', reason: 'self', ts: Date.now() },
      tickIntervalMs: 3_600_000,
      pairing: { version: 1, devices: [], nodes: [pairedNode(BENCH_NODE)] },
      invokeLimits: { perCaller: 0, perNode: 0, total: 0 },
      createId: () => `inv-${++ids}`,
    },
  });
  const runner = new InvokeRunner({ report: (event) => actor.send(event), tellNodeToCancel: () => {}, onActorError: (_id, error) => { throw error; } });
  actor.on('*', (emitted) => {
    if (emitted.type === 'invoke.start') runner.start(emitted.input);
    else if (emitted.type === 'invoke.signal') runner.signal(emitted.invokeId, emitted.event);
  });
  actor.start();
  actor.send({ ...joinEvent('node-conn', 0, BENCH_NODE), connId: 'node-conn' });
  const request = (caller) =>
    actor.send({ type: 'node.invoke.requested', connId: caller, requestId: 'r', nodeId: BENCH_NODE, command: 'system.run', paramsJSON: '{}', timeoutMs: 3_600_000 });
  for (let i = 0; i < inFlight; i++) request(`waiting-${i % 100}`);
  /** One invoke from request to the node's answer; returns ns per invoke over `count`. */
  const time = (count) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      request('caller');
      actor.send({ type: 'node.invoke.result', connId: 'node-conn', requestId: 'n', invokeId: `inv-${ids}`, nodeId: BENCH_NODE, ok: true, payloadJSON: '{}' });
    }
    return ((performance.now() - start) * 1e6) / count;
  };
  const stop = () => {
    const left = { invokes: actor.getSnapshot().context.invokes.size, actors: runner.size };
    runner.stop();
    actor.stop();
    return left;
  };
  return { time, stop };
}

function measureInvokes(n, count, reps) {
  gc();
  const rig = invokeRig(n);
  rig.time(500);
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    gc();
    samples.push(rig.time(count));
  }
  const left = rig.stop();
  const leaks = left.invokes !== n || left.actors !== n ? [`${n} in flight before, ${left.invokes} invokes and ${left.actors} actors after`] : [];
  return { n, nsPerInvoke: median(samples), leaks };
}

function invokes({ sizes = [100, 8_000], count = 2_000, reps = 5 }) {
  measureInvokes(100, 1_000, 2); // JIT warm-up
  return sizes.map((n) => measureInvokes(n, count, reps));
}

// ---------------------------------------------------------------------------------------------
// Frame scan.
// ---------------------------------------------------------------------------------------------

/** Frames as clients send them: a health request, a connect, a node.invoke with small params, a 64 KiB result. */
function sampleFrames() {
  const connect = {
    type: 'req',
    id: 'c1',
    method: 'connect',
    params: {
      minProtocol: 3,
      maxProtocol: 4,
      client: { id: 'cli', displayName: 'laptop', version: '2026.9.6', platform: 'darwin', deviceFamily: 'Mac', mode: 'cli', instanceId: '5b0f3c9e-1f7a-4d52-9a57-8e2c1d0b6a11' },
      role: 'operator',
      scopes: ['operator.read', 'operator.write'],
      auth: { token: 'x'.repeat(48) },
      device: { id: 'd'.repeat(64), publicKey: 'k'.repeat(43), signature: 's'.repeat(86), signedAt: 1_700_000_000_000, nonce: 'n'.repeat(36) },
      locale: 'en-US',
      userAgent: 'openclaw/2026.9.6',
    },
  };
  const invoke = { type: 'req', id: 'i1', method: 'node.invoke', params: { nodeId: 'node-1', command: 'system.run', idempotencyKey: 'k1', params: { argv: ['ls', '-la', '/tmp'], env: { A: '1', B: '2' }, timeoutMs: 30_000 } } };
  const result = { type: 'req', id: 'r1', method: 'node.invoke.result', params: { id: 'i1', nodeId: 'node-1', ok: true, payloadJSON: JSON.stringify({ stdout: 'x'.repeat(64 * 1024 - 100), exitCode: 0 }) } };
  const health = { type: 'req', id: 'h1', method: 'health' };
  return { health, connect, invoke, result64k: result };
}

/** Nanoseconds per call of `op` on `bytes`, the median of `reps` timed batches. */
function nsPer(op, bytes, reps = 7) {
  let n = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < n; i++) op(bytes);
    if (performance.now() - start > 20) break;
    n *= 2;
  }
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) op(bytes);
    samples.push(((performance.now() - start) * 1e6) / n);
  }
  return median(samples);
}

let sink = 0;
function frameScan() {
  const result = {};
  for (const [name, frame] of Object.entries(sampleFrames())) {
    const bytes = Buffer.from(JSON.stringify(frame));
    gc();
    result[name] = {
      bytes: bytes.length,
      scanNs: nsPer((b) => (sink += scanFrame(b, FRAME_SCAN_LIMITS).values), bytes),
      parseNs: nsPer((b) => (sink += JSON.parse(b.toString('utf8')).id.length), bytes),
    };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Broadcast fan-out.
// ---------------------------------------------------------------------------------------------

/** `count` server-side sockets of loopback connections whose client sides read and discard everything. */
async function socketPairs(count) {
  const accepted = [];
  const server = createServer((socket) => accepted.push(socket));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const clients = [];
  for (let i = 0; i < count; i++) {
    const client = connect(port, '127.0.0.1');
    client.on('data', () => {});
    clients.push(client);
  }
  while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
  return { accepted, close: () => [...clients, ...accepted].forEach((socket) => socket.destroy()) || server.close() };
}

/** A ready operator as the outbound side sees it, over a raw socket (what ws's WebSocket gives it). */
function recipientOn(raw, seq, textFrame) {
  const socket = {
    get bufferedAmount() {
      return raw.writableLength;
    },
    readyState: 1,
    send: (data) => raw.write(textFrame(Buffer.from(data))),
  };
  return { socket, frames: raw, held: undefined, awaitingDrain: false, slow: false, sharedBytes: 0, sharedBodies: undefined, role: 'operator', scopes: ['operator.read'], seq };
}

const drained = async (sockets) => {
  while (sockets.some((socket) => socket.writableLength > 0)) await new Promise((resolve) => setTimeout(resolve, 1));
};

async function fanOut({ sockets = 1_000, sizes = [256, 4 * 1024, 64 * 1024, 1024 * 1024], reps = 30, dist = '../dist' } = {}) {
  const root = pathToFileURL(resolvePath(new URL('.', import.meta.url).pathname, dist) + '/').href;
  const { Outbound } = await import(`${root}src/outbound/outbound.js`);
  const { Backpressure } = await import(`${root}src/outbound/backpressure.js`);
  const { textFrame } = await import(`${root}src/outbound/frames.js`);
  const pairs = await socketPairs(sockets);
  const marks = { highWaterBytes: 64 * 1024, lowWaterBytes: 16 * 1024, maxBufferedBytes: 2 ** 40 };
  const backpressure = new Backpressure(marks, { onSlowConsumer: () => {}, onceDrained: () => false });
  const rows = [];
  try {
    for (const bytes of sizes) {
      // An operator-only event (never held), its payload a string of about `bytes`.
      const frame = { type: 'event', event: 'demo.fanout', payload: { blob: 'x'.repeat(bytes) } };
      const row = { bytes, sockets };
      for (const seqs of ['distinct', 'same']) {
        const recipients = pairs.accepted.map((raw, i) => recipientOn(raw, seqs === 'distinct' ? i * 3 : 0, textFrame));
        const outbound = new Outbound(backpressure, () => recipients);
        const rounds = Math.max(5, Math.min(reps, Math.floor((256 * 1024 * 1024) / (bytes * sockets))));
        const samples = [];
        for (let round = 0; round < rounds + 2; round++) {
          gc();
          const before = process.cpuUsage();
          outbound.fanOut({ audience: 'operator.read', frame });
          const used = process.cpuUsage(before);
          if (round >= 2) samples.push((used.user + used.system) / 1000); // two rounds of warm-up
          await drained(pairs.accepted);
        }
        row[seqs] = median(samples);
      }
      rows.push(row);
    }
  } finally {
    pairs.close();
  }
  return rows;
}

if (process.argv[2] === 'fanOut') {
  const rows = await fanOut({ dist: process.argv[3] ?? '../dist' });
  console.log(JSON.stringify(rows));
  process.exit(0);
} else {
  serveRequests({ ed25519, joinLeave, invokes, frameScan, fanOut });
  process.send({ ready: true, pid: process.pid });
}
