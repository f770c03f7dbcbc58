// The model specs of the gateway's machines: a registry, one entry per machine.
import { SimulatedClock, createActor } from 'xstate';
import { clientMachine, type ClientContext, type ClientEvent, type ClientInput } from '../../machines/client.js';
import { connectionMachine, type ConnectionEvent, type ConnectionInput } from '../../machines/connection.js';
import { invokeMachine, type InvokeEvent, type InvokeInput } from '../../machines/invoke.js';
import type { PairedDevice } from '../../machines/pairing.js';
import type { ClientMode, ConnectParams, HandshakeRejection, Session } from '../../machines/protocol.js';
import {
  supervisorMachine,
  type SupervisorContext,
  type SupervisorEvent,
  type SupervisorInput,
} from '../../machines/supervisor.js';
import { defineModel, type ModelSpec } from './graph.js';

function session(mode: ClientMode, deviceId?: string): Session {
  return {
    protocol: 4,
    role: 'operator',
    scopes: ['operator.read'],
    client: { id: `${mode}-client`, version: '1.0.0', platform: 'linux', mode },
    ...(deviceId ? { deviceId } : {}),
    caps: [],
    commands: [],
    connectedAt: 1_000,
  };
}

function connectParams(minProtocol: number, maxProtocol: number): ConnectParams {
  return { minProtocol, maxProtocol, client: { id: 'ui-client', version: '1.0.0', platform: 'linux', mode: 'ui' } };
}

const supervisorInput: SupervisorInput = { self: { reason: 'self', ts: 0 }, tickIntervalMs: 30_000 };

/** A real supervisor for the connection to report to; its clock is simulated so it arms no real timer. */
function startSupervisor() {
  return createActor(supervisorMachine, { id: 'supervisor', input: supervisorInput, clock: new SimulatedClock() }).start();
}

function connectionInput(overrides: Partial<ConnectionInput>): () => ConnectionInput {
  return () => ({
    connId: 'conn-1',
    remoteAddr: '203.0.113.7',
    isLoopback: false,
    challengeNonce: 'nonce-1',
    openedAt: 1_000,
    handshakeTimeoutMs: 10_000,
    supervisor: startSupervisor(),
    unauthorizedCallLimit: 1,
    ...overrides,
  });
}

const rejection: HandshakeRejection = {
  error: { code: 'INVALID_REQUEST', message: 'unauthorized: gateway token mismatch', details: { code: 'AUTH_TOKEN_MISMATCH' } },
  closeCode: 1008,
  closeReason: 'unauthorized: gateway token mismatch',
};

const connectionEvents: ConnectionEvent[] = [
  { type: 'frame.connect', id: 'connect-v3-4', params: connectParams(3, 4) },
  { type: 'frame.connect', id: 'connect-v5-6', params: connectParams(5, 6) },
  { type: 'frame.connectInvalid', id: 'connect-invalid', message: 'client is required' },
  { type: 'frame.request', id: 'health-1', method: 'health' },
  { type: 'frame.malformed', id: 'malformed-1', message: 'params must be an object' },
  { type: 'frame.malformed', message: 'not JSON' },
  { type: 'frame.tooLarge', bytes: 70_000, limit: 65_536 },
  { type: 'socket.slowConsumer', bufferedBytes: 60_000_000, limit: 52_428_800 },
  { type: 'socket.error', message: 'ECONNRESET' },
  { type: 'socket.closed', code: 1006, reason: '' },
  { type: 'auth.passed', session: session('ui') },
  { type: 'auth.passed', session: { ...session('ui', 'device-1'), deviceToken: 'device-1-token' }, awaitPairingRevision: 1 },
  { type: 'pairing.persisted', revision: 1 },
  { type: 'pairing.persistFailed', message: 'EIO: i/o error' },
  { type: 'socket.pongTimeout', intervalMs: 30_000 },
  { type: 'request.unauthorized', method: 'device.pair.approve', code: 'MISSING_SCOPE', at: 2_000 },
  { type: 'auth.failed', rejection },
  { type: 'gateway.shutdown', reason: 'restart', restartExpectedMs: 5_000 },
  { type: 'credentials.revoked', reason: 'device removed' },
];

const connectionModel = defineModel({
  name: 'connection',
  machine: connectionMachine,
  inputs: [
    { name: 'remote client', create: connectionInput({}) },
    {
      name: 'loopback swiftpm helper',
      create: connectionInput({ remoteAddr: '127.0.0.1', isLoopback: true, userAgent: 'SwiftPM-Testing-Helper/6.1' }),
    },
  ],
  events: () => connectionEvents,
  provideEffects: (record) =>
    connectionMachine.provide({
      actions: {
        sendFrame: (_, frame) => record('sendFrame', frame),
        closeSocket: (_, close) => record('closeSocket', close),
        terminateSocket: () => record('terminateSocket'),
        log: (_, entry) => record('log', entry),
        checkCredentials: (_, request) => record('checkCredentials', request),
        sendHelloOk: () => record('sendHelloOk'),
        dispatchRequest: (_, request) => record('dispatchRequest', request),
        releaseConnection: () => record('releaseConnection'),
        awaitPairingSaved: (_, revision) => record('awaitPairingSaved', revision),
      },
    }),
});

/** A cli-mode client (never in presence), and one device connecting twice: the second takes its entry over. */
const joins = [
  { connId: 'cli-1', session: session('cli') },
  { connId: 'device-old', session: session('ui', 'device-1') },
  { connId: 'device-new', session: session('ui', 'device-1') },
];

/**
 * A node host (node id `node-1`, a device id) connecting twice: the second connection speaks for the node
 * until it leaves, then the first again.
 */
function nodeSession(): Session {
  return {
    protocol: 4,
    role: 'node',
    scopes: [],
    client: { id: 'node-host', version: '1.0.0', platform: 'linux', mode: 'node' },
    deviceId: 'node-1',
    caps: ['system'],
    commands: ['system.run'],
    connectedAt: 1_000,
  };
}
const nodeJoins = ['node-old', 'node-new'];
const IMPOSTOR = 'node-impostor';

/** A node with only the gateway secret that claims node-1's id as its client id: never node-1. */
function impostorSession(): Session {
  const { deviceId: _deviceId, ...session } = nodeSession();
  return { ...session, client: { ...session.client, id: 'node-1' } };
}

/** Pairing limits of one of each: a second node or device finds no room to be filed or paired. */
const LIMITS_OF_ONE = { maxPending: 1, maxPendingPerAddress: 1, maxPairedDevices: 1, maxPairedNodes: 1 };
const SECOND_NODE_CONN = 'node-2-conn';

/**
 * Ids are a function of the context: the smallest `id-<n>` that no pending request or invoke holds.
 * (The supervisor calls `context.createId()`, so `this` is the context.) A counter would hand out other
 * ids on each branch of the traversal, and a path's events name the ids of the snapshot they were drawn from.
 */
function freeId(this: SupervisorContext): string {
  for (let n = 1; ; n++) {
    const id = `id-${n}`;
    if (!this.pendingNodePairs.has(id) && !this.pendingDevicePairs.has(id) && !this.invokes.has(id)) return id;
  }
}

const MODEL_NOW = 1_700_000_000_000;

/**
 * The model's timers fire one at a time, the one due first; a request's expiry and the tick are due
 * together or one interval apart, which keeps the number of distinct "time left" values small.
 */
const modelSupervisorInput = (overrides: Partial<SupervisorInput>) => (): SupervisorInput => ({
  ...supervisorInput,
  pairingRequestTtlMs: 30_000,
  now: () => MODEL_NOW,
  createId: freeId,
  ...overrides,
});

// The supervisor runs no invoke actors itself (it emits `invoke.start` and `invoke.signal` for the runtime),
// so the model sends `invoke.settled` itself, as an invoke would.
const OPERATOR = { connId: 'operator', requestId: 'op-req' };
const OTHER_OPERATOR = { connId: 'operator-2', requestId: 'op-req-2' };
const MISSING_REQUEST = 'no-such-request';

const deviceRequest = {
  deviceId: 'device-1',
  publicKey: 'device-1-public-key',
  role: 'operator' as const,
  scopes: ['operator.read'],
  clientId: 'ui-client',
  clientMode: 'ui',
  platform: 'linux',
  remoteIp: '203.0.113.7',
};
const silentlyPairedDevice: PairedDevice = {
  deviceId: 'device-1',
  role: 'operator',
  scopes: ['operator.read'],
  clientId: 'ui-client',
  clientMode: 'ui',
  tokenHash: 'sha256:device-1-token-hash',
  createdAtMs: MODEL_NOW,
  approvedAtMs: MODEL_NOW,
  silent: true,
};

/** Presence: the cli client and the device connecting twice. */
function presenceEvents(context: SupervisorContext): SupervisorEvent[] {
  return [
    ...joins
      .filter(({ connId }) => !context.connections.has(connId))
      .map(({ connId, session }) => ({ type: 'connection.joined' as const, connId, remoteAddr: '127.0.0.1', session })),
    ...[...context.connections.keys()].map((connId) => ({ type: 'connection.left' as const, connId })),
  ];
}

/** Nothing pending and nothing in flight: where requests for unknown ids are tried (once is enough). */
const isQuiet = (context: SupervisorContext) =>
  context.pendingNodePairs.size === 0 && context.pendingDevicePairs.size === 0 && context.invokes.size === 0;

/**
 * An invoke on a node no longer approved was told so when the approval was removed, and settles at once (the
 * runtime runs it synchronously): nothing else happens in between. Invokes start only on approved nodes.
 */
function settlingAfterRemoval(context: SupervisorContext): SupervisorEvent[] {
  const events: SupervisorEvent[] = [];
  for (const [invokeId, record] of context.invokes) {
    if (context.pairedNodes.has(record.nodeId)) continue;
    events.push({ type: 'invoke.settled', invokeId, outcome: { ok: false, error: { code: 'UNAVAILABLE', message: 'PAIRING_CHANGED: node pairing changed after dispatch' } } });
  }
  return events;
}

/** Node pairing and invokes: the node connecting twice from loopback, an operator approving and invoking. */
function nodeEvents(context: SupervisorContext): SupervisorEvent[] {
  // The impostor is refused as it joins; all that is left for it is to leave (nothing else is new with it there).
  if (context.connections.has(IMPOSTOR)) return [{ type: 'connection.left', connId: IMPOSTOR }];
  const settling = settlingAfterRemoval(context);
  if (settling.length > 0) return settling;
  const events: SupervisorEvent[] = [];
  for (const connId of nodeJoins) {
    if (!context.connections.has(connId)) {
      events.push({ type: 'connection.joined', connId, remoteAddr: '127.0.0.1', session: nodeSession(), isLocalClient: true });
    }
  }
  for (const connId of context.connections.keys()) events.push({ type: 'connection.left', connId });
  for (const pairRequestId of context.pendingNodePairs.keys()) {
    events.push({ type: 'node.pair.approve', pairRequestId, ...OPERATOR }, { type: 'node.pair.reject', pairRequestId, ...OPERATOR });
  }
  const invoke = (command: string): SupervisorEvent => ({
    type: 'node.invoke.requested',
    nodeId: 'node-1',
    command,
    paramsJSON: '{"command":["uname"]}',
    timeoutMs: 10_000,
    ...OPERATOR,
  });
  // Two invokes at most: enough for one per node connection.
  if (context.invokes.size < 2) events.push(invoke('system.run'));
  if (context.nodeConnById.has('node-1') && context.pairedNodes.has('node-1')) events.push(invoke('camera.snap'));
  // Removal with at most one invoke in flight (which it ends): more multiplies the state space for no new
  // transition. The caller leaving with its invoke in flight likewise (it never joined here: the supervisor
  // keys invokes by the caller's connId).
  const oneInvokeOneConnection = context.invokes.size === 1 && context.connections.size === 1;
  if (context.pairedNodes.has('node-1') && context.invokes.size <= 1 && context.nodeConnById.size > 0) {
    events.push({ type: 'node.pair.remove', nodeId: 'node-1', ...OPERATOR });
  }
  if (oneInvokeOneConnection) events.push({ type: 'connection.left', connId: OPERATOR.connId });
  for (const [invokeId, record] of context.invokes) {
    const otherConnId = nodeJoins.find((connId) => connId !== record.nodeConnId)!;
    const result = { type: 'node.invoke.result' as const, invokeId, nodeId: 'node-1', requestId: 'node-req' };
    events.push(
      { ...result, connId: record.nodeConnId, ok: true, payloadJSON: '{"exitCode":0}' },
      { ...result, connId: otherConnId, ok: true },
      { type: 'invoke.settled', invokeId, outcome: { ok: true, payloadJSON: '{"exitCode":0}' } },
    );
  }
  if (isQuiet(context)) {
    events.push(
      { type: 'node.pair.approve', pairRequestId: MISSING_REQUEST, ...OPERATOR },
      { type: 'node.pair.reject', pairRequestId: MISSING_REQUEST, ...OPERATOR },
      { type: 'node.invoke.result', invokeId: 'no-such-invoke', nodeId: 'node-1', ok: true, connId: 'node-old', requestId: 'node-req' },
      { type: 'node.pair.remove', nodeId: 'no-such-node', ...OPERATOR },
    );
    for (const connId of context.nodes.keys()) {
      // From the connection that speaks for node-1, and from one a newer connection took node-1 over from.
      events.push({ type: 'node.hostStats.reported', stats: { cpuCount: 4, memoryTotalBytes: 8, memoryFreeBytes: 2 }, connId, requestId: 'node-req' });
    }
    if (context.nodeConnById.has('node-1')) {
      events.push({ type: 'connection.joined', connId: IMPOSTOR, remoteAddr: '203.0.113.66', session: impostorSession() });
    }
  }
  return events;
}

/**
 * Limits of one: node-1 and node-2 (both loopback, so auto-local pairs them silently) coming and going and
 * their requests approved; the second finds no room for its request, or no room to be paired. Invokes are
 * left out: the other node inputs take their transitions, and here they would only multiply the states.
 */
function nodeLimitEvents(context: SupervisorContext): SupervisorEvent[] {
  const events: SupervisorEvent[] = [];
  for (const [connId, nodeId, remoteAddr] of [['node-old', 'node-1', '127.0.0.1'], [SECOND_NODE_CONN, 'node-2', '127.0.0.2']] as const) {
    if (context.connections.has(connId)) events.push({ type: 'connection.left', connId });
    else events.push({ type: 'connection.joined', connId, remoteAddr, session: { ...nodeSession(), deviceId: nodeId }, isLocalClient: true });
  }
  for (const pairRequestId of context.pendingNodePairs.keys()) events.push({ type: 'node.pair.approve', pairRequestId, ...OPERATOR });
  return events;
}

/** Limits of one: two devices asking, paired silently, approved and removed; the second finds no room. */
function deviceLimitEvents(context: SupervisorContext): SupervisorEvent[] {
  const events: SupervisorEvent[] = [];
  for (const [n, remoteIp] of [[1, '203.0.113.7'], [2, '198.51.100.2']] as const) {
    const deviceId = `device-${n}`;
    if (context.pairedDevices.has(deviceId)) {
      events.push({ type: 'device.pair.remove', deviceId, ...OPERATOR });
      continue;
    }
    events.push(
      { type: 'device.pair.requested', request: { ...deviceRequest, deviceId, remoteIp } },
      { type: 'device.pair.silentlyApproved', device: { ...silentlyPairedDevice, deviceId, tokenHash: `sha256:${deviceId}-token-hash` } },
    );
  }
  for (const pairRequestId of context.pendingDevicePairs.keys()) {
    events.push({ type: 'device.pair.approve', pairRequestId, ...OPERATOR });
  }
  return events;
}

/** The caps: a node paired silently, two callers invoking on it, their invokes settling. */
function capEvents(context: SupervisorContext): SupervisorEvent[] {
  if (!context.connections.has('node-old')) {
    return [{ type: 'connection.joined', connId: 'node-old', remoteAddr: '127.0.0.1', session: nodeSession(), isLocalClient: true }];
  }
  const invoke = (caller: typeof OPERATOR): SupervisorEvent => ({ type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', timeoutMs: 10_000, ...caller });
  const events: SupervisorEvent[] = context.invokes.size < 2 ? [invoke(OPERATOR), invoke(OTHER_OPERATOR)] : [];
  for (const invokeId of context.invokes.keys()) events.push({ type: 'invoke.settled', invokeId, outcome: { ok: true } });
  return events;
}

/** The runtime's answers to a pairing change: the newest revision saved, or its save failed. */
function persistenceEvents(context: SupervisorContext): SupervisorEvent[] {
  const { revision, persisted } = context.persistence;
  if (revision <= persisted) return [];
  return [
    { type: 'pairing.persisted', revision },
    { type: 'pairing.persistFailed', revision, message: 'EIO: i/o error' },
  ];
}

/** Once stopping, only what still reaches the nodes region: invokes asked for and settled. */
function shutdownEvents(context: SupervisorContext, stopping: boolean): SupervisorEvent[] {
  if (!stopping) return context.invokes.size > 0 ? [{ type: 'gateway.shutdown', reason: 'restart', restartExpectedMs: 5_000 }] : [];
  const events: SupervisorEvent[] = [
    { type: 'node.invoke.requested', nodeId: 'node-1', command: 'system.run', timeoutMs: 10_000, ...OPERATOR },
  ];
  for (const invokeId of context.invokes.keys()) {
    events.push({ type: 'invoke.settled', invokeId, outcome: { ok: false, error: { code: 'UNAVAILABLE', message: 'gateway shutting down' } } });
  }
  return events;
}

/** Device pairing: the operator's device asking, an operator deciding, the device connecting twice. */
function deviceEvents(context: SupervisorContext): SupervisorEvent[] {
  const events: SupervisorEvent[] = presenceEvents(context).filter((event) => !('connId' in event && event.connId === 'cli-1'));
  if (!context.pairedDevices.has('device-1')) {
    events.push({ type: 'device.pair.requested', request: deviceRequest }, { type: 'device.pair.silentlyApproved', device: silentlyPairedDevice });
  } else {
    events.push({ type: 'device.pair.remove', deviceId: 'device-1', ...OPERATOR });
  }
  for (const pairRequestId of context.pendingDevicePairs.keys()) {
    events.push(
      { type: 'device.pair.approve', pairRequestId, ...OPERATOR },
      { type: 'device.pair.reject', pairRequestId, ...OPERATOR },
    );
  }
  if (isQuiet(context)) {
    events.push(
      { type: 'device.pair.approve', pairRequestId: MISSING_REQUEST, ...OPERATOR },
      { type: 'device.pair.reject', pairRequestId: MISSING_REQUEST, ...OPERATOR },
      { type: 'device.pair.remove', deviceId: 'no-such-device', ...OPERATOR },
    );
  }
  return events;
}

/** A paired device and node to start from, fresh for every run (the machine updates its records in place). */
const tokenLifecycleInput = (): SupervisorInput => {
  const node = { nodeId: 'node-1', clientId: 'node-host', clientMode: 'node', caps: ['system'], commands: ['system.run'], createdAtMs: MODEL_NOW, approvedAtMs: MODEL_NOW, silent: false };
  return modelSupervisorInput({ pairingMode: 'manual', pairing: { version: 1, devices: [{ ...silentlyPairedDevice }], nodes: [node] } })();
};

/** Token lifecycle: the device's socket, a rotation by an operator and by the device itself, a revocation, renames. */
function tokenLifecycleEvents(context: SupervisorContext): SupervisorEvent[] {
  const joined = context.connections.has('device-old');
  const events: SupervisorEvent[] = [
    joined ? { type: 'connection.left', connId: 'device-old' } : { type: 'connection.joined', connId: 'device-old', remoteAddr: '127.0.0.1', session: session('ui', 'device-1') },
    { type: 'device.token.rotate', deviceId: 'device-1', scopes: ['operator.read'], ...OPERATOR },
    { type: 'device.token.revoke', deviceId: 'device-1', ...OPERATOR },
    { type: 'device.token.issued', deviceId: 'device-1', tokenHash: 'sha256:device-1-next-token-hash' },
    { type: 'device.token.undelivered', deviceId: 'device-1', tokenHash: 'sha256:device-1-token-hash' },
    { type: 'device.pair.rename', deviceId: 'device-1', label: 'Laptop', ...OPERATOR },
    { type: 'node.rename', nodeId: 'node-1', displayName: 'Kitchen', ...OPERATOR },
  ];
  if (joined) events.push({ type: 'device.token.rotate', deviceId: 'device-1', tokenHash: 'sha256:in-band', connId: 'device-old', requestId: 'self-req' });
  else {
    events.push(
      { type: 'device.token.rotate', deviceId: 'no-such-device', ...OPERATOR },
      { type: 'device.token.revoke', deviceId: 'no-such-device', ...OPERATOR },
      { type: 'device.pair.rename', deviceId: 'no-such-device', label: 'x', ...OPERATOR },
      { type: 'node.rename', nodeId: 'no-such-node', displayName: 'x', ...OPERATOR },
    );
  }
  return events;
}

const sortedKeys = (map: Map<string, unknown>) => [...map.keys()].sort();
const sortedPairs = <T>(map: Map<string, T>, value: (entry: T) => unknown) =>
  [...map].map(([key, entry]) => `${key}=${String(value(entry))}`).sort();

const supervisorModel = defineModel({
  name: 'supervisor',
  machine: supervisorMachine,
  inputs: [
    { name: 'presence, default cap', create: modelSupervisorInput({}) },
    { name: 'presence cap 1', create: modelSupervisorInput({ maxPresenceEntries: 1 }) },
    { name: 'nodes, manual pairing', create: modelSupervisorInput({ pairingMode: 'manual' }) },
    { name: 'nodes, auto-local pairing', create: modelSupervisorInput({ pairingMode: 'auto-local' }) },
    { name: 'devices, manual pairing', create: modelSupervisorInput({ pairingMode: 'manual' }) },
    { name: 'nodes at limits of one, manual pairing', create: modelSupervisorInput({ pairingMode: 'manual', pairingLimits: LIMITS_OF_ONE }) },
    { name: 'nodes at limits of one, auto-local pairing', create: modelSupervisorInput({ pairingMode: 'auto-local', pairingLimits: LIMITS_OF_ONE }) },
    { name: 'devices at limits of one', create: modelSupervisorInput({ pairingMode: 'manual', pairingLimits: LIMITS_OF_ONE }) },
    // One invoke per caller and per node: a second from the same caller passes its cap, from another the node's.
    { name: 'caps, one per caller and per node', create: modelSupervisorInput({ invokeLimits: { perCaller: 1, perNode: 1, total: 0 } }) },
    { name: 'caps, one in all', create: modelSupervisorInput({ invokeLimits: { perCaller: 0, perNode: 0, total: 1 } }) },
    { name: 'device tokens and labels', create: tokenLifecycleInput },
  ],
  events: (snapshot, input): SupervisorEvent[] => {
    const { context } = snapshot;
    // A change not yet on disk is answered before anything else happens: held announcements would
    // otherwise pile up without bound (the interleavings add no transition).
    const saving = persistenceEvents(context);
    if (saving.length > 0) return saving;
    if (snapshot.matches({ lifecycle: 'stopping' })) return shutdownEvents(context, true);
    if (input.startsWith('nodes at limits')) return nodeLimitEvents(context);
    if (input.startsWith('nodes')) return [...nodeEvents(context), ...shutdownEvents(context, false)];
    if (input.startsWith('devices at limits')) return deviceLimitEvents(context);
    if (input.startsWith('device tokens')) return tokenLifecycleEvents(context);
    if (input.startsWith('devices')) return deviceEvents(context);
    if (input.startsWith('caps')) return capEvents(context);
    return presenceEvents(context);
  },
  // What the guards read, registries as sorted key lists (their order is never read but for eviction,
  // which only the presence cap 1 input reaches, with one entry); the state version only ever grows.
  contextKey: (context) => ({
    connections: sortedKeys(context.connections),
    presenceKeys: sortedPairs(context.presenceKeys, (key) => key),
    presence: sortedPairs(context.presence, (slot) => slot.connId),
    nodeConnById: sortedPairs(context.nodeConnById, (connId) => connId),
    pairedNodes: sortedKeys(context.pairedNodes),
    pendingNodePairs: sortedPairs(context.pendingNodePairs, (request) => request.nodeId),
    invokes: sortedPairs(context.invokes, (record) => `${record.nodeConnId}<-${record.callerConnId}`),
    pairedDevices: sortedKeys(context.pairedDevices),
    pendingDevicePairs: sortedPairs(context.pendingDevicePairs, (request) => request.deviceId),
    // Revisions only grow: what tells states apart is whether one is unsaved, and what waits for it.
    unsaved: context.persistence.revision > context.persistence.persisted,
    held: context.persistence.held.map(({ emitted }) =>
      [emitted.type, 'event' in emitted ? emitted.event : '', 'connId' in emitted ? emitted.connId : ''].join(':'),
    ),
  }),
});

const invokeInput = (timeoutMs: number) => (): InvokeInput => ({
  invokeId: 'invoke-1',
  nodeId: 'node-1',
  nodeConnId: 'node-conn-1',
  command: 'system.run',
  timeoutMs,
});

const invokeModel = defineModel({
  name: 'invoke',
  machine: invokeMachine,
  // It reports `invoke.settled` with sendParent; paths.test.ts checks it does so once, with its outcome.
  hasParent: true,
  provideEffects: (record) => invokeMachine.provide({ actions: { tellNodeToCancel: (_, cancel) => record('tellNodeToCancel', cancel) } }),
  inputs: [{ name: 'timeout 10 s', create: invokeInput(10_000) }],
  events: (): InvokeEvent[] => [
    { type: 'invoke.delivered' },
    { type: 'invoke.result', ok: true, payloadJSON: '{"exitCode":0}' },
    { type: 'invoke.result', ok: false, error: { code: 'EXEC_FAILED', message: 'exit code 1' } },
    { type: 'node.disconnected' },
    { type: 'caller.disconnected' },
    { type: 'node.approvalRemoved' },
    { type: 'gateway.shutdown' },
  ],
});

/** The gateway's connect errors, as the client records them before the close that follows. */
const connectError = (code: string, extra: Record<string, unknown> = {}, hints: Record<string, unknown> = {}): ClientEvent => ({
  type: 'frame.connectError',
  error: { code: 'INVALID_REQUEST', message: code, details: { code, ...hints }, ...extra },
});

const clientCloses: Array<[number, string]> = [
  [1000, ''],
  [1012, 'gateway shutting down'],
  [1006, ''],
  [1002, 'protocol mismatch'],
  [1008, 'unauthorized: gateway token mismatch'],
  [1008, 'pairing required'],
  [1008, 'too many failed attempts'],
  [1008, 'handshake timeout'],
  [4001, 'device removed'],
];

function clientEvents(context: ClientContext): ClientEvent[] {
  return [
    { type: 'socket.open' },
    { type: 'frame.challenge', nonce: 'nonce-1' },
    { type: 'frame.helloOk', hello: { protocol: 4, tickIntervalMs: 1_000, connId: 'conn-1' } },
    { type: 'frame.helloOk', hello: { protocol: 3 } },
    // A hello-ok that issues a device token the client may fall back on.
    { type: 'frame.helloOk', hello: { protocol: 4, deviceToken: true } },
    // One connect error per attempt, as the gateway sends: its details decide the 1008 that follows.
    ...(context.rejection
      ? []
      : [
          connectError('AUTH_RATE_LIMITED', { retryable: true, retryAfterMs: 2_000 }),
          connectError('PAIRING_REQUIRED'),
          connectError('PAIRING_REQUIRED', {}, { requestId: 'req-1', recommendedNextStep: 'wait_then_retry', pauseReconnect: false }),
          connectError('AUTH_TOKEN_MISMATCH'),
          connectError('AUTH_TOKEN_MISMATCH', {}, { canRetryWithDeviceToken: true, recommendedNextStep: 'retry_with_device_token' }),
        ]),
    ...clientCloses.map(([code, reason]): ClientEvent => ({ type: 'socket.closed', code, reason })),
    { type: 'frame.tick' },
    // One request at a time is enough to see it sent, answered, or failed by a disconnect.
    ...(context.inFlight.length === 0 ? [{ type: 'request.send', id: 'r1', method: 'health' } as const] : []),
    { type: 'frame.response', id: 'r1', ok: true, payload: { ok: true } },
    { type: 'credentials.updated' },
    { type: 'stop' },
  ];
}

const clientInput = (overrides: ClientInput) => (): ClientInput => ({
  backoff: { baseMs: 100, factor: 2, capMs: 400 },
  handshakeTimeoutMs: 5_000,
  random: () => 0.5,
  ...overrides,
});

const clientModel = defineModel({
  name: 'client',
  machine: clientMachine,
  inputs: [
    { name: 'reconnecting', create: clientInput({}) },
    { name: 'single attempt', create: clientInput({ maxAttempts: 1 }) },
  ],
  events: ({ context }) => clientEvents(context),
  // What the guards read; the dial and retry counters only grow (the backoff's timer, in the state's
  // timers, stops growing at the cap).
  contextKey: (context) => ({
    inFlight: context.inFlight,
    rejection: (context.rejection?.details as { code?: string } | undefined)?.code ?? null,
    hinted: Object.keys((context.rejection?.details as object | undefined) ?? {}).length > 1,
    deviceToken: context.deviceToken,
    deviceTokenRetried: context.deviceTokenRetried,
    exhausted: context.maxAttempts !== undefined && context.retries + 1 >= context.maxAttempts,
    tickIntervalMs: context.tickIntervalMs ?? null,
  }),
  provideEffects: (record) =>
    clientMachine.provide({
      actions: {
        openSocket: (_, dial) => record('openSocket', dial),
        closeSocket: (_, close) => record('closeSocket', close),
        useDeviceToken: () => record('useDeviceToken', {}),
        sendConnect: (_, connect) => record('sendConnect', connect),
        sendRequest: (_, request) => record('sendRequest', request),
        settleRequest: (_, response) => record('settleRequest', response),
        failRequests: (_, failure) => record('failRequests', failure),
      },
    }),
});

export const models: ModelSpec[] = [connectionModel, supervisorModel, invokeModel, clientModel];
