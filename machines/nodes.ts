// Nodes as the supervisor knows them: live node connections (keyed by connection id) and the node
// list operators see, merged from live connections and approved pairings. Pure selectors.
//
// A node id is established one of two ways, and the two never mix: a device id, proven by a signature
// with the device's key, or an id the client chose (`client.id`, for a node without a device identity,
// which anyone holding the gateway secret may send). Device ids are the SHA-256 of a public key in hex,
// so ids of that form are the device namespace: a client-chosen id may not take that form, an approval
// records which way its node id was established, and an id spoken for by live connections of one kind is
// refused to the other. Connections of the same identity (a reconnect, a second socket of the same device)
// share the id; the newest is routed to, and when it leaves the newest one still open takes over.
import type { NodeIdKind, PairedNode, PendingNodePair } from './pairing.js';
import { DetailCode, type Session } from './protocol.js';

export type { NodeIdKind } from './pairing.js';

/** A connected node: one per node connection, so a reconnect and its old connection never share one. */
export interface NodeSession {
  connId: string;
  nodeId: string;
  idKind: NodeIdKind;
  clientId: string;
  clientMode: string;
  displayName?: string;
  platform: string;
  version: string;
  deviceFamily?: string;
  caps: string[];
  commands: string[];
  pathEnv?: string;
  remoteIp: string;
  connectedAtMs: number;
}

/**
 * What a node host reports of its machine (`node.event` `node.host.stats`, every 60 s), as the reference keeps it:
 * the payload, checked, with the gateway's time of receipt. `openclaw nodes status` shows load, memory and disk from it.
 */
export interface NodeHostStats {
  cpuCount: number;
  loadAverage?: [number, number, number];
  memoryTotalBytes: number;
  memoryFreeBytes: number;
  diskTotalBytes?: number;
  diskAvailableBytes?: number;
  updatedAtMs: number;
}

export type ApprovalState = 'approved' | 'pending-approval' | 'unapproved';

export interface NodeListEntry {
  nodeId: string;
  displayName?: string;
  platform?: string;
  version?: string;
  clientId?: string;
  clientMode?: string;
  deviceFamily?: string;
  caps: string[];
  commands: string[];
  pathEnv?: string;
  approvalState: ApprovalState;
  paired: boolean;
  connected: boolean;
  connectedAtMs?: number;
  lastConnectedAtMs?: number;
  remoteIp?: string;
  lastSeenAtMs?: number;
  approvedAtMs?: number;
  pendingRequestId?: string;
  pendingDeclaredCaps?: string[];
  pendingDeclaredCommands?: string[];
  /** The node's latest host stats (the last known ones once it is disconnected). */
  hostStats?: NodeHostStats;
}

export interface NodeRegistries {
  /** Live node sessions by connection id. */
  nodes: Map<string, NodeSession>;
  /** The connection that currently speaks for a node id (the newest one). */
  nodeConnById: Map<string, string>;
  /** Every live connection of a node id, oldest first: where routing falls back to when the newest leaves. */
  nodeConnsById: Map<string, Set<string>>;
  nodeLastSeen: Map<string, number>;
  /** The latest host stats by node id, from the connection that speaks for it. */
  nodeHostStats: Map<string, NodeHostStats>;
  pairedNodes: Map<string, PairedNode>;
  pendingNodePairs: Map<string, PendingNodePair>;
}

/** `device.id` when the node proved a device identity, else its client id. */
export function nodeIdOf(session: Session): string {
  return session.deviceId ?? session.client.id;
}

export function nodeIdKindOf(session: Session): NodeIdKind {
  return session.deviceId !== undefined ? 'device' : 'client';
}

/** Device ids are the SHA-256 of the device's public key, in lowercase hex. */
const DEVICE_ID_FORM = /^[0-9a-f]{64}$/;

/** Whether an id has the form of a device id: such ids belong to the device namespace. */
export function hasDeviceIdForm(id: string): boolean {
  return DEVICE_ID_FORM.test(id);
}

/** How an approved node's id was established (approvals saved before this was recorded: by the id's form). */
export function pairedIdKindOf(paired: Pick<PairedNode, 'nodeId' | 'idKind'>): NodeIdKind {
  return paired.idKind ?? (hasDeviceIdForm(paired.nodeId) ? 'device' : 'client');
}

/** Why a node connection may not speak for the node id it claims. */
export interface NodeIdRefusal {
  code: typeof DetailCode.NODE_ID_RESERVED | typeof DetailCode.NODE_ID_IN_USE;
  message: string;
  nodeId: string;
  /** The close reason the refused connection gets. */
  closeReason: 'node id reserved' | 'node id in use';
}

function reserved(nodeId: string, message: string): NodeIdRefusal {
  return { code: DetailCode.NODE_ID_RESERVED, nodeId, message, closeReason: 'node id reserved' };
}

/**
 * Whether a node connection may speak for its node id: undefined when it may (an operator's is never
 * refused). Judged at the handshake, and again by the supervisor when the connection joins.
 */
export function nodeIdClaimRefusal(registries: Pick<NodeRegistries, 'nodes' | 'nodeConnById' | 'pairedNodes'>, session: Session): NodeIdRefusal | undefined {
  if (session.role !== 'node') return undefined;
  const nodeId = nodeIdOf(session);
  const kind = nodeIdKindOf(session);
  if (kind === 'client' && hasDeviceIdForm(nodeId)) {
    return reserved(nodeId, `node id ${nodeId} is a device id: only that device, proving its key, may use it`);
  }
  const paired = registries.pairedNodes.get(nodeId);
  if (paired && pairedIdKindOf(paired) !== kind) {
    const approvedFor = kind === 'client' ? 'a device key' : 'a client-chosen id';
    return reserved(nodeId, `node id ${nodeId} was approved for ${approvedFor}, not this identity`);
  }
  const owner = connectedNode(registries, nodeId);
  if (owner && owner.idKind !== kind) {
    const message = `node id ${nodeId} is in use by a connection with another identity`;
    return { code: DetailCode.NODE_ID_IN_USE, nodeId, message, closeReason: 'node id in use' };
  }
  return undefined;
}

export function nodeSessionOf(connId: string, remoteIp: string, session: Session): NodeSession {
  const { client } = session;
  const node: NodeSession = {
    connId,
    nodeId: nodeIdOf(session),
    idKind: nodeIdKindOf(session),
    clientId: client.id,
    clientMode: client.mode,
    platform: client.platform,
    version: client.version,
    caps: session.caps,
    commands: session.commands,
    remoteIp,
    connectedAtMs: session.connectedAt,
  };
  if (client.displayName !== undefined) node.displayName = client.displayName;
  if (client.deviceFamily !== undefined) node.deviceFamily = client.deviceFamily;
  if (session.pathEnv !== undefined) node.pathEnv = session.pathEnv;
  return node;
}

export function connectedNode(registries: Pick<NodeRegistries, 'nodes' | 'nodeConnById'>, nodeId: string): NodeSession | undefined {
  const connId = registries.nodeConnById.get(nodeId);
  return connId === undefined ? undefined : registries.nodes.get(connId);
}

function pendingPairOf(registries: NodeRegistries, nodeId: string): PendingNodePair | undefined {
  for (const request of registries.pendingNodePairs.values()) if (request.nodeId === nodeId) return request;
  return undefined;
}

/** An approval holds for the identity it was given to: a live connection established another way gets nothing. */
function isApprovedIdentity(live: NodeSession, paired: PairedNode): boolean {
  return live.idKind === pairedIdKindOf(paired);
}

/** What a node may be asked to run: what it declares now, within what an operator approved. */
export function allowedCommands(live: NodeSession | undefined, paired: PairedNode | undefined): string[] {
  if (!paired) return [];
  if (!live) return paired.commands;
  if (!isApprovedIdentity(live, paired)) return [];
  const approved = new Set(paired.commands);
  return live.commands.filter((command) => approved.has(command));
}

function allowedCaps(live: NodeSession | undefined, paired: PairedNode | undefined): string[] {
  if (!paired) return [];
  if (!live) return paired.caps;
  if (!isApprovedIdentity(live, paired)) return [];
  const approved = new Set(paired.caps);
  return live.caps.filter((cap) => approved.has(cap));
}

export function describeNode(registries: NodeRegistries, nodeId: string): NodeListEntry | undefined {
  const live = connectedNode(registries, nodeId);
  const paired = registries.pairedNodes.get(nodeId);
  if (!live && !paired) return undefined;
  const pending = paired ? undefined : pendingPairOf(registries, nodeId);
  const source = live ?? paired!;
  const entry: NodeListEntry = {
    nodeId,
    caps: allowedCaps(live, paired),
    commands: allowedCommands(live, paired),
    approvalState: paired ? 'approved' : pending ? 'pending-approval' : 'unapproved',
    paired: paired !== undefined,
    connected: live !== undefined,
  };
  for (const key of ['displayName', 'platform', 'version', 'clientId', 'clientMode', 'deviceFamily'] as const) {
    const value = source[key];
    if (value !== undefined) entry[key] = value;
  }
  // A name an operator gave the node wins over the one it reports.
  if (paired?.operatorLabel !== undefined) entry.displayName = paired.operatorLabel;
  if (live?.pathEnv !== undefined) entry.pathEnv = live.pathEnv;
  if (live) {
    entry.connectedAtMs = live.connectedAtMs;
    entry.lastConnectedAtMs = live.connectedAtMs;
    entry.remoteIp = live.remoteIp;
  }
  const lastSeen = registries.nodeLastSeen.get(nodeId);
  if (lastSeen !== undefined) entry.lastSeenAtMs = lastSeen;
  const hostStats = registries.nodeHostStats.get(nodeId);
  if (hostStats !== undefined) entry.hostStats = hostStats;
  if (paired) entry.approvedAtMs = paired.approvedAtMs;
  if (pending) {
    entry.pendingRequestId = pending.requestId;
    entry.pendingDeclaredCaps = pending.caps;
    entry.pendingDeclaredCommands = pending.commands;
  }
  return entry;
}

/** Every node that is connected or paired, connected ones first. */
export function listNodes(registries: NodeRegistries): NodeListEntry[] {
  const ids = new Set<string>(registries.nodeConnById.keys());
  for (const nodeId of registries.pairedNodes.keys()) ids.add(nodeId);
  const entries: NodeListEntry[] = [];
  for (const nodeId of ids) {
    const entry = describeNode(registries, nodeId);
    if (entry) entries.push(entry);
  }
  return entries.sort((a, b) => Number(b.connected) - Number(a.connected) || a.nodeId.localeCompare(b.nodeId));
}
