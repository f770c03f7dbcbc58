// Cost of one join + leave on the supervisor actor, with N connections already joined.
//
// The supervisor's registries (connections, presence, and any registry keyed by connection id) are
// Maps mutated in place, so a join and a leave must cost O(1) whatever N is. This script measures
// the median ns per join+leave at several N and fails (exit 1) when cost(10k) / cost(1k) exceeds
// MAX_RATIO, or when a Map or Set of the supervisor's context changed size over the timed join+leave
// pairs (a leak), so it doubles as a regression check.
//
//   npm run build && node --expose-gc bench/supervisor-join-leave.mjs
//
// Environment: BENCH_PAIRS (join+leave pairs per repetition, default 5000), BENCH_REPS (default 9),
// BENCH_MAX_RATIO (default 3). BENCH_SIMULATE_ON=1 swaps in a registerConnection that copies the
// connections Map on every join (the O(N) mistake the supervisor once had) to show the check fails.
import { performance } from 'node:perf_hooks';
import { assign, createActor } from 'xstate';
import { supervisorMachine } from '../dist/machines/supervisor.js';
import { formatNumber as fmt, machineLine, midpointMedian, runInfo } from './lib.mjs';

const SIZES = [100, 1_000, 10_000];
const PAIRS = Number(process.env.BENCH_PAIRS ?? 5_000);
const WARMUP_PAIRS = 2_000;
const REPS = Number(process.env.BENCH_REPS ?? 9);
const MAX_RATIO = Number(process.env.BENCH_MAX_RATIO ?? 3);

const SIMULATE_ON = process.env.BENCH_SIMULATE_ON === '1';

const gc = globalThis.gc ?? (() => {});
if (!globalThis.gc) console.warn('warning: run with node --expose-gc for stable numbers');

// Three kinds of tracked clients (CLI-mode clients are not tracked in presence), each with its own
// instance id so every one gets a presence entry (presence is capped at 200, oldest evicted).
// Role 'node' sessions exercise the node registries keyed by connection id. Every node has its own
// device id (its node id) and is already paired (the supervisor's `pairing` input), so a node join
// is the steady-state path of a known node coming online, not a pairing request.
const KINDS = [
  { mode: 'node', role: 'node', id: 'node-host', caps: ['system.run'], commands: ['system.run', 'canvas.snapshot'] },
  { mode: 'ui', role: 'operator', id: 'control-ui', caps: [], commands: [] },
  { mode: 'backend', role: 'operator', id: 'backend-svc', caps: [], commands: [] },
];
const isNode = (i) => KINDS[i % KINDS.length].role === 'node';
/** Extra node connections are reconnects of this many paired, offline nodes, in turn. */
const OFFLINE_NODES = 100;
const preJoinedNodeId = (i) => `node-dev-${i}`;
const offlineNodeId = (i) => `node-offline-${i % OFFLINE_NODES}`;

function joinEvent(connId, i, nodeId) {
  const kind = KINDS[i % KINDS.length];
  /** @type {import('../dist/machines/protocol.js').Session} */
  const session = {
    protocol: 3,
    role: kind.role,
    scopes: kind.role === 'node' ? [] : ['operator.read', 'operator.write'],
    client: {
      id: kind.id,
      displayName: `${kind.id}-${i}`,
      version: '1.0.0',
      platform: 'linux',
      mode: kind.mode,
      instanceId: `inst-${connId}`,
    },
    caps: kind.caps,
    commands: kind.commands,
    connectedAt: 1_700_000_000_000 + i,
  };
  if (kind.role === 'node') session.deviceId = nodeId;
  return { type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session, isLocalClient: false };
}

function pairedNode(nodeId) {
  const kind = KINDS[0];
  return {
    nodeId,
    clientId: kind.id,
    clientMode: kind.mode,
    platform: 'linux',
    version: '1.0.0',
    caps: kind.caps,
    commands: kind.commands,
    createdAtMs: 1_700_000_000_000,
    approvedAtMs: 1_700_000_000_000,
    silent: false,
  };
}

const machine = SIMULATE_ON
  ? supervisorMachine.provide({
      actions: {
        registerConnection: assign(({ context, event }) => {
          if (event.type !== 'connection.joined') return {};
          const connections = new Map(context.connections);
          connections.set(event.connId, { role: event.session.role, clientMode: event.session.client.mode, scopes: event.session.scopes });
          return { connections };
        }),
      },
    })
  : supervisorMachine;

function createSupervisor(n) {
  const nodes = [];
  for (let i = 0; i < n; i++) if (isNode(i)) nodes.push(pairedNode(preJoinedNodeId(i)));
  for (let i = 0; i < OFFLINE_NODES; i++) nodes.push(pairedNode(offlineNodeId(i)));
  const actor = createActor(machine, {
    input: {
      self: { host: 'bench', ip: '127.0.0.1', version: 'bench', platform: process.platform, mode: 'gateway', reason: 'self', ts: Date.now() },
      tickIntervalMs: 3_600_000,
      pairing: { version: 1, devices: [], nodes },
    },
  });
  // The gateway listens to every emitted event (broadcasts); mirror that with a no-op listener.
  actor.on('*', () => {});
  actor.start();
  return actor;
}

/** Sizes of every Map and Set in the supervisor's context: its registries, whatever they are named. */
function registrySizes(actor) {
  const sizes = {};
  for (const [key, value] of Object.entries(actor.getSnapshot().context)) {
    if (value instanceof Map || value instanceof Set) sizes[key] = value.size;
  }
  return sizes;
}

let extraSeq = 0;
function makePairs(count) {
  const joins = new Array(count);
  const leaves = new Array(count);
  for (let i = 0; i < count; i++) {
    const seq = extraSeq++;
    const connId = `x${seq}`;
    joins[i] = joinEvent(connId, seq, offlineNodeId(seq));
    leaves[i] = { type: 'connection.left', connId };
  }
  return { joins, leaves };
}

/** ns per join+leave pair over one batch of prepared events. */
function timePairs(actor, { joins, leaves }) {
  const start = performance.now();
  for (let i = 0; i < joins.length; i++) {
    actor.send(joins[i]);
    actor.send(leaves[i]);
  }
  return ((performance.now() - start) * 1e6) / joins.length;
}

function measure(n) {
  gc();
  const actor = createSupervisor(n);
  const preStart = performance.now();
  for (let i = 0; i < n; i++) actor.send(joinEvent(`c${i}`, i, preJoinedNodeId(i)));
  const preJoinMs = performance.now() - preStart;
  const context = actor.getSnapshot().context;
  if (context.connections.size !== n) throw new Error(`expected ${n} registered connections, found ${context.connections.size}`);

  timePairs(actor, makePairs(WARMUP_PAIRS));
  const sizesBefore = registrySizes(actor);
  const samples = [];
  for (let rep = 0; rep < REPS; rep++) {
    const batch = makePairs(PAIRS);
    gc();
    samples.push(timePairs(actor, batch));
  }
  const after = actor.getSnapshot().context;
  const presenceSize = after.presence.size;
  const sizesAfter = registrySizes(actor);
  // join+leave pairs must leave every registry as they found it.
  const grown = Object.keys(sizesAfter).filter((key) => sizesAfter[key] !== sizesBefore[key]);
  const leaks = grown.map((key) => `${key} ${sizesBefore[key]} -> ${sizesAfter[key]}`);
  actor.stop();
  return { n, preJoinMs, presenceSize, sizes: sizesAfter, leaks, samples, medianNs: midpointMedian(samples), minNs: Math.min(...samples) };
}

// JIT warmup on a throwaway supervisor so the first measured size is not penalised.
measure(1_000);

const results = SIZES.map(measure);
const byN = new Map(results.map((r) => [r.n, r]));
const ratio = byN.get(10_000).medianNs / byN.get(1_000).medianNs;
const ratioBaseline = byN.get(1_000).medianNs / byN.get(100).medianNs;
const leaks = results.flatMap((r) => r.leaks.map((leak) => `N=${r.n}: ${leak}`));
const pass = ratio <= MAX_RATIO && leaks.length === 0;

console.log(`supervisor join+leave: ${PAIRS} pairs x ${REPS} reps (after ${WARMUP_PAIRS} warmup pairs), node ${process.version}`);
console.log(machineLine());
if (SIMULATE_ON) console.log('  BENCH_SIMULATE_ON=1: registerConnection copies the connections Map per join (expected to FAIL)');
console.log('');
console.log('  N (already joined) | pre-join N (ms) | presence entries | median ns/join+leave | min ns | ops/s (pairs)');
console.log('  -------------------|-----------------|------------------|----------------------|--------|--------------');
for (const r of results) {
  console.log(
    `  ${fmt(r.n).padStart(18)} | ${fmt(r.preJoinMs, 1).padStart(15)} | ${String(r.presenceSize).padStart(16)} | ${fmt(r.medianNs).padStart(20)} | ${fmt(r.minNs).padStart(6)} | ${fmt(1e9 / r.medianNs).padStart(12)}`,
  );
}
console.log('');
console.log(`  ratio cost(10k)/cost(1k) = ${ratio.toFixed(2)}  (check: must be <= ${MAX_RATIO}; ~1 means O(1) join/leave)`);
console.log(`  ratio cost(1k)/cost(100) = ${ratioBaseline.toFixed(2)}  (informational: at N=100 presence holds ~100 entries, at 1k+ it is capped at 200,`);
console.log('                                 and every tracked join/leave emits the presence list, so this one may exceed 1)');
console.log('');
console.log('  registries (Maps/Sets in the supervisor context) after the timed pairs:');
for (const r of results) {
  console.log(`    N=${String(r.n).padEnd(6)} ${Object.entries(r.sizes).map(([key, size]) => `${key}=${size}`).join(' ')}`);
}
if (leaks.length) console.log(`  LEAK: join+leave pairs changed registry sizes: ${leaks.join('; ')}`);
else console.log('  every registry has the same size before and after the timed join+leave pairs (no leak)');
const growth = ratio <= MAX_RATIO;
console.log(`  ${pass ? 'PASS' : 'FAIL'}: join+leave cost ${growth ? 'does not grow' : 'GROWS'} with the number of connected clients${leaks.length ? ', but registries leak' : ''}`);
console.log(
  JSON.stringify({
    bench: 'supervisor-join-leave',
    ...runInfo(),
    pairs: PAIRS,
    reps: REPS,
    results: results.map(({ n, medianNs, minNs, preJoinMs, presenceSize, sizes }) => ({
      n,
      medianNsPerJoinLeave: Math.round(medianNs),
      minNsPerJoinLeave: Math.round(minNs),
      preJoinMs: Number(preJoinMs.toFixed(1)),
      presenceEntries: presenceSize,
      registries: sizes,
    })),
    leaks,
    ratio10kOver1k: Number(ratio.toFixed(3)),
    ratio1kOver100: Number(ratioBaseline.toFixed(3)),
    maxRatio: MAX_RATIO,
    simulatedOn: SIMULATE_ON,
    pass,
  }),
);
if (!growth) console.error(`FAIL: cost(10k)/cost(1k) = ${ratio.toFixed(2)} exceeds ${MAX_RATIO}`);
if (leaks.length) console.error(`FAIL: registries leaked: ${leaks.join('; ')}`);
if (!pass) process.exitCode = 1;
