// The supervisor owns what is shared between connections: who is connected, presence, nodes,
// pairing and the invokes in flight. Connections report joins and leaves, the runtime forwards the
// requests that touch shared state, and the supervisor decides what is answered, delivered and
// broadcast; it says so with emitted events, which the runtime turns into frames.
// Registries are Maps mutated in place so that a join or a leave costs O(1) whatever the number
// of connections (copying a registry per join made 10k joins take seconds). An update that only
// mutates them is an `enqueueActions` that enqueues nothing: it runs while the transition is computed,
// as an `assign` does, but makes no new context, so no new snapshot (an `assign` copies the context and
// re-derives the value of every parallel region). `assign` is kept for values that are replaced
// (the state version), at most one per event: a CLI client's join and leave make no new snapshot.
import { and, assign, emit, enqueueActions, raise, setup, stateIn } from 'xstate';
import type { InvokeEvent, InvokeInput, InvokeOutcome, InvokeSettled } from './invoke.js';
import { allowedCommands, connectedNode, nodeIdClaimRefusal, nodeIdOf, nodeSessionOf, type NodeHostStats, type NodeSession } from './nodes.js';
import {
  pendingRequestFor,
  publicDevice,
  DEFAULT_PAIRING_LIMITS,
  pairRequestRoom,
  type PairedDevice,
  type PairingLimits,
  type PairRequestRoom,
  type PairedNode,
  type PairingMode,
  type PairingState,
  type PendingDevicePair,
  type PendingNodePair,
} from './pairing.js';
import { DetailCode, ProtocolLimits, type ErrorShape, type PresenceEntry, type Role, type Session, type StateVersion } from './protocol.js';

export interface SupervisorInput {
  /** The gateway's own presence entry (always listed, reason "self"). */
  self: PresenceEntry;
  tickIntervalMs: number;
  maxPresenceEntries?: number;
  /** auto-local pairs loopback clients without a browser Origin silently (default); manual asks an operator. */
  pairingMode?: PairingMode;
  /** How long a pairing request waits for an operator before it expires (5 minutes). */
  pairingRequestTtlMs?: number;
  /** Approved devices and nodes from the last run. */
  pairing?: PairingState;
  /** Caps on pending requests (in all and per address) and on paired devices and nodes. */
  pairingLimits?: Partial<PairingLimits>;
  /** Invokes in flight at once, per caller, per node and in all (0: no cap); ProtocolLimits' by default. */
  invokeLimits?: Partial<InvokeLimits>;
  /** Time and ids come from outside so the machine stays deterministic under test. */
  now?: () => number;
  createId?: () => string;
}

/**
 * One presence entry and the live connections that share its key: the entry is the newest one's (the
 * owner's), and when the owner leaves the newest of the others files it again.
 */
interface PresenceSlot {
  connId: string;
  entry: PresenceEntry;
  /** Every live connection holding this key with the entry it would show, oldest first (the owner's is last). */
  members: Map<string, PresenceEntry>;
}

export interface ConnectionRecord {
  role: Role;
  clientMode: string;
  scopes: string[];
  deviceId?: string;
}

export interface InvokeRecord {
  invokeId: string;
  callerConnId: string;
  requestId: string;
  nodeId: string;
  nodeConnId: string;
  command: string;
}

/** How many invokes may be in flight at once; 0 is no cap. */
export interface InvokeLimits {
  perCaller: number;
  perNode: number;
  total: number;
}

/** Which cap refused an invoke. */
export type InvokeLimit = keyof InvokeLimits;

export interface SupervisorContext {
  self: PresenceEntry;
  tickIntervalMs: number;
  maxPresenceEntries: number;
  pairingMode: PairingMode;
  pairingRequestTtlMs: number;
  pairingLimits: PairingLimits;
  now: () => number;
  createId: () => string;
  connections: Map<string, ConnectionRecord>;
  /**
   * Keyed by device id, else client instance id, else connection id, each in a namespace of its own
   * (`device:`, `instance:`, `conn:`), so that a client-chosen instance id never meets a device id;
   * insertion order is age.
   */
  presence: Map<string, PresenceSlot>;
  /** The presence key each connection holds, while it holds one. */
  presenceKeys: Map<string, string>;
  /** Live node sessions by connection id. */
  nodes: Map<string, NodeSession>;
  /** The connection that currently speaks for a node id (the newest of its live connections). */
  nodeConnById: Map<string, string>;
  /** Every live connection of a node id, oldest first: routing falls back to the newest that remains. */
  nodeConnsById: Map<string, Set<string>>;
  nodeLastSeen: Map<string, number>;
  nodeHostStats: Map<string, NodeHostStats>;
  pairedDevices: Map<string, PairedDevice>;
  pairedNodes: Map<string, PairedNode>;
  pendingDevicePairs: Map<string, PendingDevicePair>;
  pendingNodePairs: Map<string, PendingNodePair>;
  /**
   * Invokes in flight, and the same ids by the node connection they went to, by the caller's connection and
   * by node id: what a node's or a caller's leave, an approval's removal and the caps look up, each O(1).
   * The invoke actors themselves are not children of the supervisor: the runtime runs them (`invoke.start`,
   * `invoke.signal`), so that starting and settling one costs the same whatever else is in flight.
   */
  invokes: Map<string, InvokeRecord>;
  invokesByNodeConn: Map<string, Set<string>>;
  invokesByCaller: Map<string, Set<string>>;
  invokesByNode: Map<string, Set<string>>;
  invokeLimits: InvokeLimits;
  stateVersion: StateVersion;
  /** Which revision of the pairing state is on disk, and what waits for a newer one. Mutated in place. */
  persistence: PairingPersistence;
}

/**
 * Every change of the pairing state is a new revision, emitted as `pairing.changed` for the runtime to
 * save; it answers with `pairing.persisted` (or `pairing.persistFailed`). What announces a change (the
 * approve's answer, `*.pair.resolved`) is held until the revision holding it is on disk.
 */
export interface PairingPersistence {
  revision: number;
  persisted: number;
  held: Array<{ revision: number; emitted: SupervisorEmitted }>;
}

/** A request from a ready connection; the supervisor answers it with a `reply` to the same ids. */
interface FromRequest {
  connId: string;
  requestId: string;
}

export type SupervisorEvent =
  | { type: 'connection.joined'; connId: string; remoteAddr: string; session: Session; isLocalClient?: boolean }
  | { type: 'connection.left'; connId: string }
  | ({
      type: 'node.invoke.requested';
      nodeId: string;
      command: string;
      paramsJSON?: string;
      timeoutMs: number;
      idempotencyKey?: string;
    } & FromRequest)
  | ({
      type: 'node.invoke.result';
      invokeId: string;
      nodeId: string;
      ok: boolean;
      payloadJSON?: string;
      error?: { code?: string; message?: string };
    } & FromRequest)
  /** A node's `node.host.stats` event, its payload checked (the gateway stamps the time). */
  | ({ type: 'node.hostStats.reported'; stats: Omit<NodeHostStats, 'updatedAtMs'> } & FromRequest)
  /** `commands`: the part of the declared surface to approve (the gateway's policy may withhold some); all when absent. */
  | ({ type: 'node.pair.approve'; pairRequestId: string; commands?: string[] } & FromRequest)
  | ({ type: 'node.pair.reject'; pairRequestId: string } & FromRequest)
  | ({ type: 'node.pair.remove'; nodeId: string } & FromRequest)
  | ({ type: 'device.pair.approve'; pairRequestId: string } & FromRequest)
  | ({ type: 'device.pair.reject'; pairRequestId: string } & FromRequest)
  | ({ type: 'device.pair.remove'; deviceId: string } & FromRequest)
  | ({ type: 'device.pair.rename'; deviceId: string; label: string } & FromRequest)
  /**
   * A new token for a paired device (the caller was checked already). With `tokenHash` it was minted for the
   * device itself, which gets it in the answer; without one the old token just stops and the device gets a
   * new one on its next connect.
   */
  | ({ type: 'device.token.rotate'; deviceId: string; scopes?: string[]; tokenHash?: string } & FromRequest)
  | ({ type: 'device.token.revoke'; deviceId: string } & FromRequest)
  /** A paired device was handed a new token in hello-ok; its hash is kept. */
  | { type: 'device.token.issued'; deviceId: string; tokenHash: string }
  /** The hello-ok carrying that token never went out (the peer left, or the save failed): the token is dropped, so the next connect gets one. */
  | { type: 'device.token.undelivered'; deviceId: string; tokenHash: string }
  | ({ type: 'node.rename'; nodeId: string; displayName: string } & FromRequest)
  | { type: 'device.pair.requested'; request: Omit<PendingDevicePair, 'requestId' | 'ts'> }
  | { type: 'device.pair.silentlyApproved'; device: PairedDevice }
  | { type: 'device.pair.expired'; requestId: string }
  | { type: 'node.pair.expired'; requestId: string }
  | { type: 'node.connected'; connId: string; nodeId: string; isLocalClient: boolean }
  /** The pairing state up to this revision is on disk. */
  | { type: 'pairing.persisted'; revision: number }
  /** Saving this revision failed (and no later save covers it). */
  | { type: 'pairing.persistFailed'; revision: number; message: string }
  /** The gateway stops: invokes in flight are answered UNAVAILABLE, ticks stop, new invokes are refused. */
  | { type: 'gateway.shutdown'; reason: string; restartExpectedMs?: number }
  | InvokeSettled;

/** Who a broadcast is for: every ready client, or operators holding a scope (admin holds all). */
export type Audience = 'everyone' | 'operator.read' | 'operator.pairing';

export type SupervisorEmitted =
  | { type: 'presence.changed'; presence: PresenceEntry[]; stateVersion: StateVersion }
  | { type: 'tick' }
  | { type: 'broadcast'; audience: Audience; event: string; payload: unknown }
  | { type: 'deliver'; connId: string; event: string; payload: unknown }
  | ({ type: 'reply' } & FromRequest & ({ ok: true; payload: unknown } | { ok: false; error: ErrorShape }))
  /** The pairing state changed: revision `revision` is to be saved (the runtime reads the state when it writes). */
  | { type: 'pairing.changed'; revision: number }
  /** These connections lose their credentials (4001); `afterAnswer` ones once the answer they wait for is written. */
  | { type: 'credentials.revoked'; connIds: string[]; reason: string; afterAnswer?: boolean }
  /** A pairing was not filed or made because a limit was reached; nothing already filed was dropped for it. */
  | { type: 'pairing.refused'; kind: PairKind; subject: string; remoteIp?: string; reason: PairingRefusal }
  /** An invoke begins: the runtime starts its actor (the invoke machine) with this input. */
  | { type: 'invoke.start'; input: InvokeInput }
  /** What the invoke actor is to be told. */
  | { type: 'invoke.signal'; invokeId: string; event: InvokeEvent };

/** Why a pairing was refused: the address's share or the whole list of pending requests, or the paired cap. */
export type PairingRefusal = Exclude<PairRequestRoom, 'room'> | 'paired-full';

const DEFAULT_MAX_PRESENCE_ENTRIES = 200;
export const DEFAULT_PAIRING_REQUEST_TTL_MS = 5 * 60_000;

/** A connection's presence key, namespaced by kind: a client's instance id can never take a device's key. */
export function presenceKey(connId: string, session: Session): string {
  if (session.deviceId !== undefined) return `device:${session.deviceId}`;
  if (session.client.instanceId !== undefined) return `instance:${session.client.instanceId}`;
  return `conn:${connId}`;
}

/** The newest of a non-empty Map's or Set's items (both keep insertion order). O(size), which is small. */
function newestOf<T>(items: Iterable<T>): T {
  let newest: T | undefined;
  for (const item of items) newest = item;
  return newest!;
}

/** CLI-mode clients come and go per command; they are not shown in presence. */
export function isTrackedSession(session: Session): boolean {
  return session.client.mode !== 'cli';
}

function presenceEntryFor(remoteAddr: string, session: Session): PresenceEntry {
  const { client } = session;
  const entry: PresenceEntry = {
    host: client.displayName ?? client.id,
    ip: remoteAddr,
    version: client.version,
    platform: client.platform,
    mode: client.mode,
    reason: 'connect',
    ts: session.connectedAt,
    roles: [session.role],
    scopes: session.scopes,
  };
  if (client.deviceFamily) entry.deviceFamily = client.deviceFamily;
  if (client.modelIdentifier) entry.modelIdentifier = client.modelIdentifier;
  if (session.deviceId) entry.deviceId = session.deviceId;
  if (client.instanceId) entry.instanceId = client.instanceId;
  return entry;
}

/** The presence slot a connection holds a key of, while it holds one. */
function presenceSlotOf(context: SupervisorContext, connId: string): PresenceSlot | undefined {
  const key = context.presenceKeys.get(connId);
  return key === undefined ? undefined : context.presence.get(key);
}

/** Drops the oldest entry to make room; its connections stay connected, out of presence. */
function evictOldestPresenceEntry(presence: Map<string, PresenceSlot>, presenceKeys: Map<string, string>): void {
  const oldestKey = presence.keys().next().value as string;
  const evicted = presence.get(oldestKey)!;
  presence.delete(oldestKey);
  for (const connId of evicted.members.keys()) presenceKeys.delete(connId);
}

/** Presence as clients see it: newest first, the gateway's own entry last. */
export function listPresence(context: SupervisorContext): PresenceEntry[] {
  const entries: PresenceEntry[] = [];
  for (const slot of context.presence.values()) entries.push(slot.entry);
  entries.reverse();
  entries.push(context.self);
  return entries;
}

const expiryTimerId = (kind: PairKind, requestId: string) => `expire-${kind}-pair:${requestId}`;

function nextPresenceVersion(context: SupervisorContext): StateVersion {
  return { ...context.stateVersion, presence: context.stateVersion.presence + 1 };
}

function reply(event: FromRequest, payload: unknown): SupervisorEmitted {
  return { type: 'reply', connId: event.connId, requestId: event.requestId, ok: true, payload };
}

function refuse(event: FromRequest, error: ErrorShape): SupervisorEmitted {
  return { type: 'reply', connId: event.connId, requestId: event.requestId, ok: false, error };
}

function parsePayload(payloadJSON: string | undefined): unknown {
  if (payloadJSON === undefined) return null;
  try {
    return JSON.parse(payloadJSON) as unknown;
  } catch {
    return null;
  }
}

/** The operator's answer to `node.invoke`, from the invoke's outcome. */
export function invokeAnswer(record: InvokeRecord, outcome: InvokeOutcome) {
  if (!outcome.ok) return { ok: false as const, error: outcome.error };
  const payload = { ok: true, nodeId: record.nodeId, command: record.command, payload: parsePayload(outcome.payloadJSON) };
  return { ok: true as const, payload: outcome.payloadJSON === undefined ? payload : { ...payload, payloadJSON: outcome.payloadJSON } };
}

/** The device an event would add to the paired devices, if it would add one. */
function pairedDeviceSubject(context: SupervisorContext, event: SupervisorEvent): string | undefined {
  if (event.type === 'device.pair.silentlyApproved') return event.device.deviceId;
  if (event.type === 'device.pair.approve') return context.pendingDevicePairs.get(event.pairRequestId)?.deviceId;
  return undefined;
}

/** The node an event would add to the paired nodes, if it would add one. */
function pairedNodeSubject(context: SupervisorContext, event: SupervisorEvent): string | undefined {
  if (event.type === 'node.connected') return event.nodeId;
  if (event.type === 'node.pair.approve') return context.pendingNodePairs.get(event.pairRequestId)?.nodeId;
  return undefined;
}

/** Adds an invoke id to the set filed under `key`. */
function fileUnder(index: Map<string, Set<string>>, key: string, invokeId: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(invokeId);
}

/** Removes an invoke id from the set filed under `key`, and the set once empty. */
function unfileFrom(index: Map<string, Set<string>>, key: string, invokeId: string): void {
  const ids = index.get(key);
  ids?.delete(invokeId);
  if (ids?.size === 0) index.delete(key);
}

/** Whether one more invoke would pass `limit` (0: no cap). */
function wouldExceed(inFlight: number, limit: number): boolean {
  return limit > 0 && inFlight >= limit;
}

const INVOKE_LIMIT_WORDS: Record<InvokeLimit, string> = {
  perCaller: 'for this connection',
  perNode: 'on this node',
  total: 'on the gateway',
};

function pendingNodePairOf(context: SupervisorContext, nodeId: string) {
  return pendingRequestFor(context.pendingNodePairs, (request) => request.nodeId === nodeId);
}

function pendingDevicePairOf(context: SupervisorContext, deviceId: string) {
  return pendingRequestFor(context.pendingDevicePairs, (request) => request.deviceId === deviceId);
}

/**
 * A new revision of the pairing state, to be saved. The state itself is not copied here: the runtime
 * reads it when a write starts, so a burst of changes costs one copy per write, not one per change.
 */
function pairingChanged(context: SupervisorContext): SupervisorEmitted {
  context.persistence.revision += 1;
  return { type: 'pairing.changed', revision: context.persistence.revision };
}

/** Emits now when the current pairing revision is on disk, else once it is. */
function emitWhenSaved(context: SupervisorContext, enqueue: Pick<PairingEffects, 'emit'>, emitted: SupervisorEmitted): void {
  const { persistence } = context;
  if (persistence.persisted >= persistence.revision) enqueue.emit(emitted);
  else persistence.held.push({ revision: persistence.revision, emitted });
}

/** Pairing effects whose announcements wait for the current revision to be on disk. */
function whenSaved(context: SupervisorContext, effects: PairingEffects): PairingEffects {
  return {
    cancel: (id) => effects.cancel(id),
    raise: (event, options) => effects.raise(event, options),
    emit: (emitted) => emitWhenSaved(context, effects, emitted),
  };
}

/** Takes the held emissions of revisions up to `revision` out of the queue. */
function takeHeld(persistence: PairingPersistence, revision: number): SupervisorEmitted[] {
  const released: SupervisorEmitted[] = [];
  const still: PairingPersistence['held'] = [];
  for (const held of persistence.held) {
    if (held.revision <= revision) released.push(held.emitted);
    else still.push(held);
  }
  persistence.held = still;
  return released;
}

/** The effects pairing helpers enqueue; structurally what `enqueueActions` hands its callback. */
interface PairingEffects {
  cancel(id: string): void;
  raise(event: SupervisorEvent, options: { id: string; delay: number }): void;
  emit(event: SupervisorEmitted): void;
}

export type PairKind = 'device' | 'node';

/** Files a new pending request (the guards made sure there is room), arms its expiry and tells operators. */
function openPairRequest<T extends { requestId: string }>(
  kind: PairKind,
  pending: Map<string, T>,
  request: T,
  ttlMs: number,
  effects: PairingEffects,
): void {
  pending.set(request.requestId, request);
  const expired = { type: `${kind}.pair.expired` as const, requestId: request.requestId } as SupervisorEvent;
  effects.raise(expired, { id: expiryTimerId(kind, request.requestId), delay: ttlMs });
  effects.emit({ type: 'broadcast', audience: 'operator.pairing', event: `${kind}.pair.requested`, payload: request });
}

/** Closes a request left open from elsewhere once its subject was paired silently. */
function closeRequestPairedSilently<T extends { requestId: string }>(
  kind: PairKind,
  pending: Map<string, T>,
  request: T | undefined,
  subject: Record<string, string>,
  now: number,
  effects: PairingEffects,
): void {
  if (!request) return;
  pending.delete(request.requestId);
  effects.cancel(expiryTimerId(kind, request.requestId));
  const resolved = { requestId: request.requestId, ...subject, decision: 'approved', ts: now };
  effects.emit({ type: 'broadcast', audience: 'operator.pairing', event: `${kind}.pair.resolved`, payload: resolved });
}

function pairedNodeFrom(source: Omit<PendingNodePair, 'requestId' | 'ts'>, now: number, silent: boolean): PairedNode {
  const node: PairedNode = {
    nodeId: source.nodeId,
    clientId: source.clientId,
    clientMode: source.clientMode,
    caps: source.caps,
    commands: source.commands,
    createdAtMs: now,
    approvedAtMs: now,
    silent,
  };
  for (const key of ['displayName', 'platform', 'version', 'deviceFamily'] as const) {
    const value = source[key];
    if (value !== undefined) node[key] = value;
  }
  if (source.idKind !== undefined) node.idKind = source.idKind;
  return node;
}

/**
 * A device's token changed: its live sockets lose their credentials at once (4001), except the caller's own,
 * which is closed once it has its answer; the answer waits until the change is on disk.
 */
function revokeDeviceConnections(
  context: SupervisorContext,
  event: FromRequest & { deviceId: string },
  role: Role,
  reason: string,
  effects: Pick<PairingEffects, 'emit'>,
  answer: unknown,
): void {
  const others: string[] = [];
  let caller = false;
  for (const [connId, record] of context.connections) {
    if (record.deviceId !== event.deviceId || record.role !== role) continue;
    if (connId === event.connId) caller = true;
    else others.push(connId);
  }
  if (others.length > 0) effects.emit({ type: 'credentials.revoked', connIds: others, reason });
  emitWhenSaved(context, effects, reply(event, answer));
  if (caller) emitWhenSaved(context, effects, { type: 'credentials.revoked', connIds: [event.connId], reason, afterAnswer: true });
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actions: {
    registerConnection: enqueueActions(({ context, event }) => {
      if (event.type !== 'connection.joined') return;
      const { session } = event;
      const record: ConnectionRecord = { role: session.role, clientMode: session.client.mode, scopes: session.scopes };
      if (session.deviceId) record.deviceId = session.deviceId;
      context.connections.set(event.connId, record);
    }),
    /**
     * Files the entry (the newest) and bumps the presence version: the one assign of a tracked join. A key
     * already filed keeps its other connections, behind this newest one.
     */
    addPresenceEntry: assign(({ context, event }) => {
      if (event.type !== 'connection.joined') return {};
      const key = presenceKey(event.connId, event.session);
      const { presence, presenceKeys } = context;
      const entry = presenceEntryFor(event.remoteAddr, event.session);
      const slot = presence.get(key);
      // A refreshed key moves to the newest position.
      presence.delete(key);
      if (!slot && presence.size >= context.maxPresenceEntries) evictOldestPresenceEntry(presence, presenceKeys);
      const members = slot?.members ?? new Map<string, PresenceEntry>();
      members.set(event.connId, entry);
      presence.set(key, { connId: event.connId, entry, members });
      presenceKeys.set(event.connId, key);
      return { stateVersion: nextPresenceVersion(context) };
    }),
    /** Drops the entry and bumps the presence version: a tracked leave of the key's last connection. */
    removeOwnedPresenceEntry: assign(({ context, event }) => {
      if (event.type !== 'connection.left') return {};
      const key = context.presenceKeys.get(event.connId);
      if (key !== undefined) context.presence.delete(key);
      context.presenceKeys.delete(event.connId);
      return { stateVersion: nextPresenceVersion(context) };
    }),
    /** The owner left and others share its key: the newest of them files the entry again (as the newest). */
    refilePresenceEntry: assign(({ context, event }) => {
      if (event.type !== 'connection.left') return {};
      const key = context.presenceKeys.get(event.connId)!;
      const slot = context.presence.get(key)!;
      context.presenceKeys.delete(event.connId);
      slot.members.delete(event.connId);
      const [connId, entry] = newestOf(slot.members);
      context.presence.delete(key);
      context.presence.set(key, { connId, entry, members: slot.members });
      return { stateVersion: nextPresenceVersion(context) };
    }),
    /** A connection that shares a key but does not show its entry left: nobody sees a change. */
    forgetPresenceMember: enqueueActions(({ context, event }) => {
      if (event.type !== 'connection.left') return;
      const key = context.presenceKeys.get(event.connId);
      if (key !== undefined) context.presence.get(key)?.members.delete(event.connId);
      context.presenceKeys.delete(event.connId);
    }),
    unregisterConnection: enqueueActions(({ context, event }) => {
      if (event.type === 'connection.left') context.connections.delete(event.connId);
    }),
    broadcastPresence: emit(({ context }) => ({
      type: 'presence.changed' as const,
      presence: listPresence(context),
      stateVersion: context.stateVersion,
    })),
    broadcastTick: emit({ type: 'tick' as const }),

    // Nodes -------------------------------------------------------------------------------------
    /** The newest connection of a node id speaks for it; the others stay behind it, oldest first. */
    registerNodeSession: enqueueActions(({ context, event }) => {
      if (event.type !== 'connection.joined') return;
      const node = nodeSessionOf(event.connId, event.remoteAddr, event.session);
      context.nodes.set(event.connId, node);
      let connIds = context.nodeConnsById.get(node.nodeId);
      if (!connIds) context.nodeConnsById.set(node.nodeId, (connIds = new Set()));
      connIds.add(event.connId);
      context.nodeConnById.set(node.nodeId, event.connId);
      context.nodeLastSeen.set(node.nodeId, node.connectedAtMs);
    }),
    /**
     * A node connection claims an id it may not speak for (the handshake refuses this; two handshakes in
     * flight at once can still race past it): it is not registered as a node, and its connection is closed.
     */
    refuseNodeIdClaim: emit(({ context, event }) => {
      const joined = event as Extract<SupervisorEvent, { type: 'connection.joined' }>;
      const refusal = nodeIdClaimRefusal(context, joined.session)!;
      return { type: 'credentials.revoked' as const, connIds: [joined.connId], reason: refusal.closeReason };
    }),
    checkNodePairing: raise(({ event }) => {
      const joined = event as Extract<SupervisorEvent, { type: 'connection.joined' }>;
      return {
        type: 'node.connected' as const,
        connId: joined.connId,
        nodeId: nodeIdOf(joined.session),
        isLocalClient: joined.isLocalClient ?? false,
      };
    }),
    /** The node id's last connection left: the node is disconnected (and seen last now). */
    releaseNodeSession: enqueueActions(({ context, event }) => {
      if (event.type !== 'connection.left') return;
      const node = context.nodes.get(event.connId);
      if (!node) return;
      context.nodes.delete(event.connId);
      context.nodeConnsById.delete(node.nodeId);
      context.nodeConnById.delete(node.nodeId);
      context.nodeLastSeen.set(node.nodeId, context.now());
    }),
    /** Other connections of the node id remain: the newest of them speaks for it from now on. */
    releaseNodeConnection: enqueueActions(({ context, event }) => {
      if (event.type !== 'connection.left') return;
      const node = context.nodes.get(event.connId);
      if (!node) return;
      context.nodes.delete(event.connId);
      const connIds = context.nodeConnsById.get(node.nodeId)!;
      connIds.delete(event.connId);
      if (context.nodeConnById.get(node.nodeId) === event.connId) context.nodeConnById.set(node.nodeId, newestOf(connIds));
    }),
    failInvokesOfNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection.left') return;
      const inFlight = context.invokesByNodeConn.get(event.connId);
      if (!inFlight) return;
      for (const invokeId of inFlight) enqueue.emit({ type: 'invoke.signal', invokeId, event: { type: 'node.disconnected' } });
    }),
    /** The caller is gone: its invokes end, and their nodes are told to stop (by the invokes). */
    abandonInvokesOfCaller: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection.left') return;
      const inFlight = context.invokesByCaller.get(event.connId);
      if (!inFlight) return;
      for (const invokeId of inFlight) enqueue.emit({ type: 'invoke.signal', invokeId, event: { type: 'caller.disconnected' } });
    }),
    pairNodeSilently: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.connected') return;
      const node = context.nodes.get(event.connId);
      if (!node) return;
      context.pairedNodes.set(node.nodeId, pairedNodeFrom(node, context.now(), true));
      enqueue.emit(pairingChanged(context));
      const pending = pendingNodePairOf(context, node.nodeId);
      closeRequestPairedSilently('node', context.pendingNodePairs, pending, { nodeId: node.nodeId }, context.now(), whenSaved(context, enqueue));
    }),
    refreshPendingNodePair: assign(({ context, event }) => {
      if (event.type !== 'node.connected') return {};
      const node = context.nodes.get(event.connId);
      const pending = pendingNodePairOf(context, event.nodeId);
      // The request keeps its age (and its expiry); only who asks and the declared surface are brought up to date.
      if (node && pending) Object.assign(pending, { idKind: node.idKind, caps: node.caps, commands: node.commands });
      return {};
    }),
    openNodePairRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.connected') return;
      const node = context.nodes.get(event.connId);
      if (!node) return;
      const { connId: _connId, pathEnv: _pathEnv, connectedAtMs: _connectedAtMs, ...declared } = node;
      const request: PendingNodePair = { requestId: context.createId(), ...declared, ts: context.now() };
      openPairRequest('node', context.pendingNodePairs, request, context.pairingRequestTtlMs, enqueue);
    }),
    resolveNodePair: enqueueActions(({ context, event, enqueue }, decision: 'approved' | 'rejected' | 'expired') => {
      if (event.type !== 'node.pair.approve' && event.type !== 'node.pair.reject' && event.type !== 'node.pair.expired') return;
      const requestId = event.type === 'node.pair.expired' ? event.requestId : event.pairRequestId;
      const request = context.pendingNodePairs.get(requestId);
      if (!request) return;
      context.pendingNodePairs.delete(requestId);
      if (event.type !== 'node.pair.expired') enqueue.cancel(expiryTimerId('node', requestId));
      const now = context.now();
      const resolved = { requestId, nodeId: request.nodeId, decision, ts: now };
      if (decision === 'approved') {
        const { requestId: _requestId, ts: _ts, ...declared } = request;
        const approvedOnly = event.type === 'node.pair.approve' ? event.commands : undefined;
        if (approvedOnly) declared.commands = declared.commands.filter((command) => approvedOnly.includes(command));
        const node = pairedNodeFrom(declared, now, false);
        context.pairedNodes.set(node.nodeId, node);
        enqueue.emit(pairingChanged(context));
        if (event.type === 'node.pair.approve') emitWhenSaved(context, enqueue, reply(event, { requestId, node }));
      } else if (event.type === 'node.pair.reject') {
        enqueue.emit(reply(event, { requestId, nodeId: request.nodeId, decision }));
      }
      // An approval is announced once it is on disk; a rejection or an expiry changes nothing on disk,
      // but still waits behind an earlier change not yet saved, so that announcements keep their order.
      emitWhenSaved(context, enqueue, { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved });
      const nodeConnId = context.nodeConnById.get(request.nodeId);
      if (nodeConnId !== undefined) emitWhenSaved(context, enqueue, { type: 'deliver', connId: nodeConnId, event: 'node.pair.resolved', payload: resolved });
    }),
    /** Forgets an approved node; its live connections lose their credentials (4001) and reconnect as new. */
    removeNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.pair.remove') return;
      context.pairedNodes.delete(event.nodeId);
      context.nodeHostStats.delete(event.nodeId);
      enqueue.emit(pairingChanged(context));
      // Access ends at once; the answer and the announcement wait until the removal is on disk. Its invokes
      // in flight end first, so that the node is told to stop them before its connections are closed.
      for (const invokeId of context.invokesByNode.get(event.nodeId) ?? []) {
        enqueue.emit({ type: 'invoke.signal', invokeId, event: { type: 'node.approvalRemoved' } });
      }
      const connIds: string[] = [];
      for (const node of context.nodes.values()) if (node.nodeId === event.nodeId) connIds.push(node.connId);
      if (connIds.length > 0) enqueue.emit({ type: 'credentials.revoked', connIds, reason: 'node removed' });
      const resolved = { requestId: '', nodeId: event.nodeId, decision: 'removed', ts: context.now() };
      emitWhenSaved(context, enqueue, { type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.resolved', payload: resolved });
      emitWhenSaved(context, enqueue, reply(event, { nodeId: event.nodeId }));
    }),
    refuseUnknownNode: emit(({ event }) => {
      const request = event as Extract<SupervisorEvent, { type: 'node.pair.remove' | 'node.rename' }>;
      return refuse(request, {
        code: 'INVALID_REQUEST',
        message: 'unknown nodeId',
        details: { code: DetailCode.NODE_NOT_FOUND, nodeId: request.nodeId },
      });
    }),
    refuseUnknownPairRequest: emit(({ event }) => {
      const request = event as Extract<SupervisorEvent, { pairRequestId: string }>;
      // The openclaw CLI recognises exactly this message.
      return refuse(request, {
        code: 'INVALID_REQUEST',
        message: 'unknown requestId',
        details: { code: DetailCode.APPROVAL_NOT_FOUND, requestId: request.pairRequestId },
      });
    }),

    // Invokes -----------------------------------------------------------------------------------
    refuseInvokeNodeNotConnected: emit(({ event }) => {
      const request = event as Extract<SupervisorEvent, { type: 'node.invoke.requested' }>;
      // The reference's words, which the openclaw CLI prints as they are (`nodes invoke failed: node not connected`).
      return refuse(request, {
        code: 'UNAVAILABLE',
        message: 'node not connected',
        details: {
          code: DetailCode.NOT_CONNECTED,
          nodeId: request.nodeId,
          nodeError: { code: 'NOT_CONNECTED', message: 'node not connected' },
          nodeCommandDispatched: false,
        },
      });
    }),
    refuseInvokeNodeNotApproved: emit(({ context, event }) => {
      const request = event as Extract<SupervisorEvent, { type: 'node.invoke.requested' }>;
      const pending = pendingNodePairOf(context, request.nodeId);
      return refuse(request, {
        code: 'NOT_PAIRED',
        message: `node ${request.nodeId} is awaiting operator approval`,
        details: { code: DetailCode.NODE_NOT_APPROVED, nodeId: request.nodeId, ...(pending ? { requestId: pending.requestId } : {}) },
      });
    }),
    refuseInvokeCommandNotAllowed: emit(({ context, event }) => {
      const request = event as Extract<SupervisorEvent, { type: 'node.invoke.requested' }>;
      const live = connectedNode(context, request.nodeId);
      const allowed = allowedCommands(live, context.pairedNodes.get(request.nodeId));
      // The reference's words for the two cases (its rejection hint), as the openclaw CLI prints them.
      const declared = live?.commands.includes(request.command) ?? false;
      const message = declared
        ? `node command not allowed: "${request.command}" is not in the node's approved command surface`
        : `node command not allowed: the node (platform: ${live?.platform ?? 'unknown'}) does not support "${request.command}"`;
      const reason = declared ? 'command not allowlisted' : 'command not declared by node';
      return refuse(request, {
        code: 'INVALID_REQUEST',
        message,
        details: { code: DetailCode.COMMAND_NOT_ALLOWED, reason, command: request.command, allowed },
      });
    }),
    refuseInvokeOverLimit: emit(({ context, event }, limit: InvokeLimit) => {
      const request = event as Extract<SupervisorEvent, { type: 'node.invoke.requested' }>;
      const max = context.invokeLimits[limit];
      return refuse(request, {
        code: 'UNAVAILABLE',
        message: `too many invokes in flight ${INVOKE_LIMIT_WORDS[limit]} (${max}); retry once some have been answered`,
        retryable: true,
        details: { code: DetailCode.TOO_MANY_INVOKES, limit, max, nodeId: request.nodeId },
      });
    }),
    startInvoke: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.invoke.requested') return;
      const node = connectedNode(context, event.nodeId);
      if (!node) return;
      const invokeId = context.createId();
      const record: InvokeRecord = {
        invokeId,
        callerConnId: event.connId,
        requestId: event.requestId,
        nodeId: event.nodeId,
        nodeConnId: node.connId,
        command: event.command,
      };
      context.invokes.set(invokeId, record);
      fileUnder(context.invokesByNodeConn, node.connId, invokeId);
      fileUnder(context.invokesByCaller, event.connId, invokeId);
      fileUnder(context.invokesByNode, event.nodeId, invokeId);
      const input: InvokeInput = { invokeId, nodeId: event.nodeId, nodeConnId: node.connId, command: event.command, timeoutMs: event.timeoutMs };
      enqueue.emit({ type: 'invoke.start', input });
      const request = {
        id: invokeId,
        nodeId: event.nodeId,
        command: event.command,
        paramsJSON: event.paramsJSON ?? null,
        timeoutMs: event.timeoutMs,
        ...(event.idempotencyKey !== undefined ? { idempotencyKey: event.idempotencyKey } : {}),
      };
      enqueue.emit({ type: 'deliver', connId: node.connId, event: 'node.invoke.request', payload: request });
      enqueue.emit({ type: 'invoke.signal', invokeId, event: { type: 'invoke.delivered' } });
    }),
    acknowledgeIgnoredResult: emit(({ event }) =>
      reply(event as Extract<SupervisorEvent, { type: 'node.invoke.result' }>, { ok: true, ignored: true }),
    ),
    rejectResultFromOtherNode: emit(({ event }) => {
      const result = event as Extract<SupervisorEvent, { type: 'node.invoke.result' }>;
      return refuse(result, {
        code: 'INVALID_REQUEST',
        message: `invoke ${result.invokeId} was not sent to this node`,
        details: { code: DetailCode.NODE_MISMATCH, invokeId: result.invokeId },
      });
    }),
    forwardResultToInvoke: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'node.invoke.result') return;
      const result = {
        type: 'invoke.result' as const,
        ok: event.ok,
        ...(event.payloadJSON !== undefined ? { payloadJSON: event.payloadJSON } : {}),
        ...(event.error !== undefined ? { error: event.error } : {}),
      };
      enqueue.emit({ type: 'invoke.signal', invokeId: event.invokeId, event: result });
      enqueue.emit(reply(event, { ok: true }));
    }),
    answerInvokeCaller: emit(({ context, event }) => {
      const settled = event as InvokeSettled;
      const record = context.invokes.get(settled.invokeId)!;
      const answer = invokeAnswer(record, settled.outcome);
      const ids = { connId: record.callerConnId, requestId: record.requestId };
      return answer.ok ? reply(ids, answer.payload) : refuse(ids, answer.error);
    }),
    /** The invoke is over (its actor has ended itself): out of every index. */
    forgetInvoke: enqueueActions(({ context, event }) => {
      if (event.type !== 'invoke.settled') return;
      const record = context.invokes.get(event.invokeId);
      if (!record) return;
      context.invokes.delete(event.invokeId);
      unfileFrom(context.invokesByNodeConn, record.nodeConnId, event.invokeId);
      unfileFrom(context.invokesByCaller, record.callerConnId, event.invokeId);
      unfileFrom(context.invokesByNode, record.nodeId, event.invokeId);
    }),
    /** The reference's shape: `hostStats` in node.list and node.describe, and a `node.hostStats` event to readers. */
    recordHostStats: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.hostStats.reported') return;
      const nodeId = context.nodes.get(event.connId)!.nodeId;
      const hostStats: NodeHostStats = { ...event.stats, updatedAtMs: context.now() };
      context.nodeHostStats.set(nodeId, hostStats);
      enqueue.emit({ type: 'broadcast', audience: 'operator.read', event: 'node.hostStats', payload: { nodeId, hostStats } });
      enqueue.emit(reply(event, { ok: true, event: 'node.host.stats', handled: true, reason: 'updated' }));
    }),
    /** From a connection that no longer speaks for its node id (a newer one does): kept out, as the reference does. */
    ignoreStaleHostStats: emit(({ event }) =>
      reply(event as Extract<SupervisorEvent, { type: 'node.hostStats.reported' }>, {
        ok: true,
        event: 'node.host.stats',
        handled: false,
        reason: 'stale_connection',
      }),
    ),

    // Devices -----------------------------------------------------------------------------------
    openDevicePairRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.pair.requested') return;
      const request: PendingDevicePair = { requestId: context.createId(), ...event.request, ts: context.now() };
      openPairRequest('device', context.pendingDevicePairs, request, context.pairingRequestTtlMs, enqueue);
    }),
    pairDeviceSilently: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.pair.silentlyApproved') return;
      context.pairedDevices.set(event.device.deviceId, event.device);
      enqueue.emit(pairingChanged(context));
      const { deviceId } = event.device;
      const pending = pendingDevicePairOf(context, deviceId);
      closeRequestPairedSilently('device', context.pendingDevicePairs, pending, { deviceId }, context.now(), whenSaved(context, enqueue));
    }),
    resolveDevicePair: enqueueActions(({ context, event, enqueue }, decision: 'approved' | 'rejected' | 'expired') => {
      if (event.type !== 'device.pair.approve' && event.type !== 'device.pair.reject' && event.type !== 'device.pair.expired') return;
      const requestId = event.type === 'device.pair.expired' ? event.requestId : event.pairRequestId;
      const request = context.pendingDevicePairs.get(requestId);
      if (!request) return;
      context.pendingDevicePairs.delete(requestId);
      if (event.type !== 'device.pair.expired') enqueue.cancel(expiryTimerId('device', requestId));
      const now = context.now();
      if (event.type === 'device.pair.approve') {
        const { requestId: _requestId, ts: _ts, remoteIp: _remoteIp, ...identity } = request;
        // No token yet: one is minted when the device next connects, and only its hash is kept.
        const device: PairedDevice = { ...identity, createdAtMs: now, approvedAtMs: now, silent: false };
        const label = context.pairedDevices.get(device.deviceId)?.operatorLabel;
        if (label !== undefined) device.operatorLabel = label;
        context.pairedDevices.set(device.deviceId, device);
        enqueue.emit(pairingChanged(context));
        emitWhenSaved(context, enqueue, reply(event, { requestId, device: publicDevice(device) }));
      } else if (event.type === 'device.pair.reject') {
        enqueue.emit(reply(event, { requestId, deviceId: request.deviceId, decision }));
      }
      const resolved = { requestId, deviceId: request.deviceId, decision, ts: now };
      emitWhenSaved(context, enqueue, { type: 'broadcast', audience: 'operator.pairing', event: 'device.pair.resolved', payload: resolved });
    }),
    removeDevice: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.pair.remove') return;
      context.pairedDevices.delete(event.deviceId);
      enqueue.emit(pairingChanged(context));
      const connIds: string[] = [];
      for (const [connId, record] of context.connections) if (record.deviceId === event.deviceId) connIds.push(connId);
      if (connIds.length > 0) enqueue.emit({ type: 'credentials.revoked', connIds, reason: 'device removed' });
      emitWhenSaved(context, enqueue, reply(event, { deviceId: event.deviceId, removed: true, revokedConnections: connIds.length }));
    }),
    renameDevice: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.pair.rename') return;
      const device = context.pairedDevices.get(event.deviceId);
      if (!device) return;
      device.operatorLabel = event.label;
      enqueue.emit(pairingChanged(context));
      emitWhenSaved(context, enqueue, { type: 'broadcast', audience: 'operator.pairing', event: 'device.pair.changed', payload: {} });
      emitWhenSaved(context, enqueue, reply(event, { deviceId: event.deviceId, label: event.label }));
    }),
    /** The old token stops at once: the device's live sockets lose their credentials, the caller's after its answer. */
    rotateDeviceToken: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.token.rotate') return;
      const device = context.pairedDevices.get(event.deviceId);
      if (!device) return;
      const now = context.now();
      if (event.tokenHash !== undefined) device.tokenHash = event.tokenHash;
      else delete device.tokenHash;
      if (event.scopes !== undefined) device.tokenScopes = event.scopes;
      device.tokenRotatedAtMs = now;
      delete device.tokenRevokedAtMs;
      enqueue.emit(pairingChanged(context));
      const scopes = device.tokenScopes ?? device.scopes;
      const tokenDelivery = event.tokenHash !== undefined ? 'in-band' : 'withheld-cross-device';
      revokeDeviceConnections(context, event, device.role, 'device token rotated', enqueue, { deviceId: device.deviceId, role: device.role, scopes, rotatedAtMs: now, tokenDelivery });
    }),
    revokeDeviceToken: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.token.revoke') return;
      const device = context.pairedDevices.get(event.deviceId);
      if (!device) return;
      const now = context.now();
      delete device.tokenHash;
      device.tokenRevokedAtMs = now;
      enqueue.emit(pairingChanged(context));
      revokeDeviceConnections(context, event, device.role, 'device token revoked', enqueue, { deviceId: device.deviceId, role: device.role, revokedAtMs: now });
    }),
    keepIssuedDeviceToken: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.token.issued') return;
      const device = context.pairedDevices.get(event.deviceId);
      if (!device) return;
      device.tokenHash = event.tokenHash;
      delete device.tokenRevokedAtMs;
      enqueue.emit(pairingChanged(context));
    }),
    dropUndeliveredDeviceToken: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.token.undelivered') return;
      const device = context.pairedDevices.get(event.deviceId);
      if (!device) return;
      delete device.tokenHash;
      enqueue.emit(pairingChanged(context));
    }),
    renameNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.rename') return;
      const node = context.pairedNodes.get(event.nodeId);
      if (!node) return;
      node.operatorLabel = event.displayName;
      enqueue.emit(pairingChanged(context));
      emitWhenSaved(context, enqueue, reply(event, { nodeId: event.nodeId, displayName: event.displayName }));
    }),
    // Persistence and lifecycle --------------------------------------------------------------------
    releaseSaved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'pairing.persisted') return;
      const { persistence } = context;
      if (event.revision > persistence.persisted) persistence.persisted = event.revision;
      for (const emitted of takeHeld(persistence, persistence.persisted)) enqueue.emit(emitted);
    }),
    /** The change is in memory but not on disk: its answers become errors, its announcements still go. */
    refuseUnsaved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'pairing.persistFailed') return;
      for (const emitted of takeHeld(context.persistence, event.revision)) {
        if (emitted.type !== 'reply' || !emitted.ok) {
          enqueue.emit(emitted);
          continue;
        }
        enqueue.emit(
          refuse(emitted, { code: 'UNAVAILABLE', message: `could not save the pairing state: ${event.message}`, retryable: true }),
        );
      }
    }),
    failInvokesForShutdown: enqueueActions(({ context, enqueue }) => {
      for (const invokeId of context.invokes.keys()) enqueue.emit({ type: 'invoke.signal', invokeId, event: { type: 'gateway.shutdown' } });
    }),
    refuseInvokeShuttingDown: emit(({ event }) =>
      refuse(event as Extract<SupervisorEvent, { type: 'node.invoke.requested' }>, {
        code: 'UNAVAILABLE',
        message: 'gateway shutting down',
        retryable: true,
      }),
    ),
    refuseNodePairing: emit(({ context, event }, reason: 'paired-full' | 'no-room'): SupervisorEmitted => {
      const { connId, nodeId } = event as Extract<SupervisorEvent, { type: 'node.connected' }>;
      const remoteIp = context.nodes.get(connId)?.remoteIp;
      const why = reason === 'paired-full' ? 'paired-full' : (pairRequestRoom(context.pendingNodePairs, remoteIp, context.pairingLimits) as PairingRefusal);
      return { type: 'pairing.refused', kind: 'node', subject: nodeId, ...(remoteIp !== undefined ? { remoteIp } : {}), reason: why };
    }),
    refuseDevicePairRequest: emit(({ context, event }): SupervisorEmitted => {
      const { request } = event as Extract<SupervisorEvent, { type: 'device.pair.requested' }>;
      const reason = pairRequestRoom(context.pendingDevicePairs, request.remoteIp, context.pairingLimits) as PairingRefusal;
      return { type: 'pairing.refused', kind: 'device', subject: request.deviceId, ...(request.remoteIp !== undefined ? { remoteIp: request.remoteIp } : {}), reason };
    }),
    refuseSilentDevicePairing: emit(({ event }): SupervisorEmitted => {
      const { device } = event as Extract<SupervisorEvent, { type: 'device.pair.silentlyApproved' }>;
      return { type: 'pairing.refused', kind: 'device', subject: device.deviceId, reason: 'paired-full' };
    }),
    /** At the paired cap an approval is refused and its request stays pending: removing a paired one makes room. */
    refuseApprovalAtLimit: emit(({ context, event }) => {
      const request = event as Extract<SupervisorEvent, { pairRequestId: string }>;
      const kind = request.type === 'node.pair.approve' ? 'nodes' : 'devices';
      const limit = kind === 'nodes' ? context.pairingLimits.maxPairedNodes : context.pairingLimits.maxPairedDevices;
      return refuse(request, {
        code: 'INVALID_REQUEST',
        message: `pairing limit reached: ${limit} paired ${kind}; remove one first`,
        details: { code: DetailCode.PAIRING_LIMIT_REACHED, requestId: request.pairRequestId, limit },
      });
    }),
    refuseUnknownDevice: emit(({ event }) => {
      const request = event as Extract<SupervisorEvent, { type: 'device.pair.remove' | 'device.pair.rename' | 'device.token.rotate' | 'device.token.revoke' }>;
      return refuse(request, {
        code: 'INVALID_REQUEST',
        message: `unknown device: ${request.deviceId}`,
        details: { code: DetailCode.DEVICE_NOT_FOUND, deviceId: request.deviceId },
      });
    }),
  },
  guards: {
    isTrackedClient: ({ event }) => event.type === 'connection.joined' && isTrackedSession(event.session),
    /** A node's connection: by its role when it joins, by its node session when it leaves (operators have none). */
    isNodeConnection: ({ context, event }) =>
      event.type === 'connection.joined' ? event.session.role === 'node' : event.type === 'connection.left' && context.nodes.has(event.connId),
    /** The leaving connection shows a presence entry (it is the newest of its key's connections). */
    ownsPresenceEntry: ({ context, event }) => event.type === 'connection.left' && presenceSlotOf(context, event.connId)?.connId === event.connId,
    /** ...and other live connections share that key. */
    ownsSharedPresenceEntry: ({ context, event }) => {
      if (event.type !== 'connection.left') return false;
      const slot = presenceSlotOf(context, event.connId);
      return slot?.connId === event.connId && slot.members.size > 1;
    },
    /** The leaving connection shares a key whose entry another (newer) connection shows. */
    sharesPresenceEntry: ({ context, event }) => event.type === 'connection.left' && presenceSlotOf(context, event.connId) !== undefined,
    /** A node joins with an id it may not speak for (see `nodeIdClaimRefusal`; an operator never does). */
    claimsNodeIdOfAnotherIdentity: ({ context, event }) =>
      event.type === 'connection.joined' && nodeIdClaimRefusal(context, event.session) !== undefined,
    /** A node connection leaves and other live connections of its node id remain. */
    leavesOtherNodeConnections: ({ context, event }) => {
      if (event.type !== 'connection.left') return false;
      const node = context.nodes.get(event.connId);
      return node !== undefined && (context.nodeConnsById.get(node.nodeId)?.size ?? 0) > 1;
    },
    nodeIsPaired: ({ context, event }) => event.type === 'node.connected' && context.pairedNodes.has(event.nodeId),
    nodeMayPairSilently: ({ context, event }) =>
      event.type === 'node.connected' && context.pairingMode === 'auto-local' && event.isLocalClient,
    nodePairIsPending: ({ context, event }) =>
      event.type === 'node.connected' && pendingNodePairOf(context, event.nodeId) !== undefined,
    pairedNodesAreFull: ({ context, event }) => {
      const nodeId = pairedNodeSubject(context, event);
      return nodeId !== undefined && !context.pairedNodes.has(nodeId) && context.pairedNodes.size >= context.pairingLimits.maxPairedNodes;
    },
    nodePairRequestHasNoRoom: ({ context, event }) =>
      event.type === 'node.connected' &&
      pairRequestRoom(context.pendingNodePairs, context.nodes.get(event.connId)?.remoteIp, context.pairingLimits) !== 'room',
    nodePairRequestIsUnknown: ({ context, event }) =>
      (event.type === 'node.pair.approve' || event.type === 'node.pair.reject') && !context.pendingNodePairs.has(event.pairRequestId),
    nodeIsNotPaired: ({ context, event }) => (event.type === 'node.pair.remove' || event.type === 'node.rename') && !context.pairedNodes.has(event.nodeId),
    nodePairRequestIsPending: ({ context, event }) =>
      event.type === 'node.pair.expired' && context.pendingNodePairs.has(event.requestId),
    nodeIsNotConnected: ({ context, event }) =>
      event.type === 'node.invoke.requested' && !context.nodeConnById.has(event.nodeId),
    nodeIsNotApproved: ({ context, event }) =>
      event.type === 'node.invoke.requested' && !context.pairedNodes.has(event.nodeId),
    commandIsNotAllowed: ({ context, event }) =>
      event.type === 'node.invoke.requested' &&
      !allowedCommands(connectedNode(context, event.nodeId), context.pairedNodes.get(event.nodeId)).includes(event.command),
    callerHasTooManyInvokes: ({ context, event }) =>
      event.type === 'node.invoke.requested' &&
      wouldExceed(context.invokesByCaller.get(event.connId)?.size ?? 0, context.invokeLimits.perCaller),
    nodeHasTooManyInvokes: ({ context, event }) =>
      event.type === 'node.invoke.requested' && wouldExceed(context.invokesByNode.get(event.nodeId)?.size ?? 0, context.invokeLimits.perNode),
    gatewayHasTooManyInvokes: ({ context, event }) =>
      event.type === 'node.invoke.requested' && wouldExceed(context.invokes.size, context.invokeLimits.total),
    callerHasInvokesInFlight: ({ context, event }) => event.type === 'connection.left' && context.invokesByCaller.has(event.connId),
    invokeIsUnknown: ({ context, event }) => event.type === 'node.invoke.result' && !context.invokes.has(event.invokeId),
    resultIsFromOtherNode: ({ context, event }) => {
      if (event.type !== 'node.invoke.result') return false;
      const record = context.invokes.get(event.invokeId);
      return record !== undefined && (record.nodeConnId !== event.connId || record.nodeId !== event.nodeId);
    },
    speaksForItsNode: ({ context, event }) => {
      if (event.type !== 'node.hostStats.reported') return false;
      const node = context.nodes.get(event.connId);
      return node !== undefined && context.nodeConnById.get(node.nodeId) === event.connId;
    },
    invokeIsInFlight: ({ context, event }) => event.type === 'invoke.settled' && context.invokes.has(event.invokeId),
    devicePairIsPending: ({ context, event }) =>
      event.type === 'device.pair.requested' && pendingDevicePairOf(context, event.request.deviceId) !== undefined,
    devicePairRequestIsUnknown: ({ context, event }) =>
      (event.type === 'device.pair.approve' || event.type === 'device.pair.reject') &&
      !context.pendingDevicePairs.has(event.pairRequestId),
    devicePairRequestIsPending: ({ context, event }) =>
      event.type === 'device.pair.expired' && context.pendingDevicePairs.has(event.requestId),
    /** Approving or silently pairing one more device would pass the cap (a re-pairing of a paired device does not). */
    pairedDevicesAreFull: ({ context, event }) => {
      const deviceId = pairedDeviceSubject(context, event);
      return deviceId !== undefined && !context.pairedDevices.has(deviceId) && context.pairedDevices.size >= context.pairingLimits.maxPairedDevices;
    },
    devicePairRequestHasNoRoom: ({ context, event }) =>
      event.type === 'device.pair.requested' &&
      pairRequestRoom(context.pendingDevicePairs, event.request.remoteIp, context.pairingLimits) !== 'room',
    /** The undelivered token is still the device's live one (not replaced since by a rotation or another hand-over). */
    deviceTokenIsLive: ({ context, event }) =>
      event.type === 'device.token.undelivered' && context.pairedDevices.get(event.deviceId)?.tokenHash === event.tokenHash,
    deviceIsUnknown: ({ context, event }) =>
      (event.type === 'device.pair.remove' || event.type === 'device.pair.rename' || event.type === 'device.token.rotate' || event.type === 'device.token.revoke') &&
      !context.pairedDevices.has(event.deviceId),
  },
  delays: {
    tickInterval: ({ context }) => context.tickIntervalMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    self: input.self,
    tickIntervalMs: input.tickIntervalMs,
    maxPresenceEntries: input.maxPresenceEntries ?? DEFAULT_MAX_PRESENCE_ENTRIES,
    pairingMode: input.pairingMode ?? 'auto-local',
    pairingRequestTtlMs: input.pairingRequestTtlMs ?? DEFAULT_PAIRING_REQUEST_TTL_MS,
    pairingLimits: { ...DEFAULT_PAIRING_LIMITS, ...input.pairingLimits },
    now: input.now ?? (() => Date.now()),
    createId: input.createId ?? (() => globalThis.crypto.randomUUID()),
    connections: new Map(),
    presence: new Map(),
    presenceKeys: new Map(),
    nodes: new Map(),
    nodeConnById: new Map(),
    nodeConnsById: new Map(),
    nodeLastSeen: new Map(),
    nodeHostStats: new Map(),
    pairedDevices: new Map((input.pairing?.devices ?? []).map((device) => [device.deviceId, device])),
    pairedNodes: new Map((input.pairing?.nodes ?? []).map((node) => [node.nodeId, node])),
    pendingDevicePairs: new Map(),
    pendingNodePairs: new Map(),
    invokes: new Map(),
    invokesByNodeConn: new Map(),
    invokesByCaller: new Map(),
    invokesByNode: new Map(),
    invokeLimits: {
      perCaller: input.invokeLimits?.perCaller ?? ProtocolLimits.maxInvokesPerCaller,
      perNode: input.invokeLimits?.perNode ?? ProtocolLimits.maxInvokesPerNode,
      total: input.invokeLimits?.total ?? ProtocolLimits.maxInvokesInFlight,
    },
    stateVersion: { presence: 1, health: 1 },
    persistence: { revision: 0, persisted: 0, held: [] },
  }),
  // Each concern is a region of its own; an event that concerns several (a join, a leave) is taken by each,
  // in this order, with every guard judged on the registries as they were before the event.
  type: 'parallel',
  states: {
    lifecycle: {
      initial: 'running',
      states: {
        running: {
          on: { 'gateway.shutdown': { target: 'stopping', actions: 'failInvokesForShutdown' } },
        },
        stopping: {},
      },
    },
    connections: {
      initial: 'tracking',
      states: {
        tracking: {
          on: {
            'connection.joined': { actions: 'registerConnection' },
            'connection.left': { actions: 'unregisterConnection' },
          },
        },
      },
    },
    presence: {
      initial: 'broadcasting',
      states: {
        broadcasting: {
          on: {
            'connection.joined': {
              guard: 'isTrackedClient',
              actions: ['addPresenceEntry', 'broadcastPresence'],
            },
            'connection.left': [
              { guard: 'ownsSharedPresenceEntry', actions: ['refilePresenceEntry', 'broadcastPresence'] },
              { guard: 'ownsPresenceEntry', actions: ['removeOwnedPresenceEntry', 'broadcastPresence'] },
              { guard: 'sharesPresenceEntry', actions: 'forgetPresenceMember' },
            ],
          },
        },
      },
    },
    keepalive: {
      initial: 'ticking',
      states: {
        ticking: {
          after: {
            tickInterval: { target: 'ticking', reenter: true, actions: 'broadcastTick' },
          },
          on: { 'gateway.shutdown': 'stopped' },
        },
        stopped: {},
      },
    },
    nodes: {
      initial: 'routing',
      states: {
        routing: {
          on: {
            'connection.joined': [
              { guard: 'claimsNodeIdOfAnotherIdentity', actions: 'refuseNodeIdClaim' },
              { guard: 'isNodeConnection', actions: ['registerNodeSession', 'checkNodePairing'] },
            ],
            'connection.left': [
              { guard: 'leavesOtherNodeConnections', actions: ['releaseNodeConnection', 'failInvokesOfNode'] },
              { guard: 'isNodeConnection', actions: ['releaseNodeSession', 'failInvokesOfNode'] },
              { guard: 'callerHasInvokesInFlight', actions: 'abandonInvokesOfCaller' },
            ],
            'node.invoke.requested': [
              { guard: stateIn({ lifecycle: 'stopping' }), actions: 'refuseInvokeShuttingDown' },
              { guard: 'nodeIsNotConnected', actions: 'refuseInvokeNodeNotConnected' },
              { guard: 'nodeIsNotApproved', actions: 'refuseInvokeNodeNotApproved' },
              { guard: 'commandIsNotAllowed', actions: 'refuseInvokeCommandNotAllowed' },
              { guard: 'callerHasTooManyInvokes', actions: { type: 'refuseInvokeOverLimit', params: 'perCaller' } },
              { guard: 'nodeHasTooManyInvokes', actions: { type: 'refuseInvokeOverLimit', params: 'perNode' } },
              { guard: 'gatewayHasTooManyInvokes', actions: { type: 'refuseInvokeOverLimit', params: 'total' } },
              { actions: 'startInvoke' },
            ],
            'node.invoke.result': [
              { guard: 'invokeIsUnknown', actions: 'acknowledgeIgnoredResult' },
              { guard: 'resultIsFromOtherNode', actions: 'rejectResultFromOtherNode' },
              { actions: 'forwardResultToInvoke' },
            ],
            'invoke.settled': { guard: 'invokeIsInFlight', actions: ['answerInvokeCaller', 'forgetInvoke'] },
            'node.hostStats.reported': [{ guard: 'speaksForItsNode', actions: 'recordHostStats' }, { actions: 'ignoreStaleHostStats' }],
          },
        },
      },
    },
    nodePairing: {
      initial: 'awaitingDecisions',
      states: {
        awaitingDecisions: {
          on: {
            'node.connected': [
              { guard: 'nodeIsPaired' },
              { guard: and(['nodeMayPairSilently', 'pairedNodesAreFull']), actions: { type: 'refuseNodePairing', params: 'paired-full' } },
              { guard: 'nodeMayPairSilently', actions: 'pairNodeSilently' },
              { guard: 'nodePairIsPending', actions: 'refreshPendingNodePair' },
              { guard: 'nodePairRequestHasNoRoom', actions: { type: 'refuseNodePairing', params: 'no-room' } },
              { actions: 'openNodePairRequest' },
            ],
            'node.pair.approve': [
              { guard: 'nodePairRequestIsUnknown', actions: 'refuseUnknownPairRequest' },
              { guard: 'pairedNodesAreFull', actions: 'refuseApprovalAtLimit' },
              { actions: { type: 'resolveNodePair', params: 'approved' } },
            ],
            'node.pair.reject': [
              { guard: 'nodePairRequestIsUnknown', actions: 'refuseUnknownPairRequest' },
              { actions: { type: 'resolveNodePair', params: 'rejected' } },
            ],
            'node.pair.expired': { guard: 'nodePairRequestIsPending', actions: { type: 'resolveNodePair', params: 'expired' } },
            'node.pair.remove': [{ guard: 'nodeIsNotPaired', actions: 'refuseUnknownNode' }, { actions: 'removeNode' }],
            'node.rename': [{ guard: 'nodeIsNotPaired', actions: 'refuseUnknownNode' }, { actions: 'renameNode' }],
          },
        },
      },
    },
    persistence: {
      initial: 'awaitingSaves',
      states: {
        awaitingSaves: {
          on: {
            'pairing.persisted': { actions: 'releaseSaved' },
            'pairing.persistFailed': { actions: 'refuseUnsaved' },
          },
        },
      },
    },
    devicePairing: {
      initial: 'awaitingDecisions',
      states: {
        awaitingDecisions: {
          on: {
            'device.pair.requested': [
              { guard: 'devicePairIsPending' },
              { guard: 'devicePairRequestHasNoRoom', actions: 'refuseDevicePairRequest' },
              { actions: 'openDevicePairRequest' },
            ],
            'device.pair.silentlyApproved': [
              { guard: 'pairedDevicesAreFull', actions: 'refuseSilentDevicePairing' },
              { actions: 'pairDeviceSilently' },
            ],
            'device.pair.approve': [
              { guard: 'devicePairRequestIsUnknown', actions: 'refuseUnknownPairRequest' },
              { guard: 'pairedDevicesAreFull', actions: 'refuseApprovalAtLimit' },
              { actions: { type: 'resolveDevicePair', params: 'approved' } },
            ],
            'device.pair.reject': [
              { guard: 'devicePairRequestIsUnknown', actions: 'refuseUnknownPairRequest' },
              { actions: { type: 'resolveDevicePair', params: 'rejected' } },
            ],
            'device.pair.expired': {
              guard: 'devicePairRequestIsPending',
              actions: { type: 'resolveDevicePair', params: 'expired' },
            },
            'device.pair.remove': [{ guard: 'deviceIsUnknown', actions: 'refuseUnknownDevice' }, { actions: 'removeDevice' }],
            'device.pair.rename': [{ guard: 'deviceIsUnknown', actions: 'refuseUnknownDevice' }, { actions: 'renameDevice' }],
            'device.token.rotate': [{ guard: 'deviceIsUnknown', actions: 'refuseUnknownDevice' }, { actions: 'rotateDeviceToken' }],
            'device.token.revoke': [{ guard: 'deviceIsUnknown', actions: 'refuseUnknownDevice' }, { actions: 'revokeDeviceToken' }],
            'device.token.issued': { actions: 'keepIssuedDeviceToken' },
            'device.token.undelivered': { guard: 'deviceTokenIsLive', actions: 'dropUndeliveredDeviceToken' },
          },
        },
      },
    },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
