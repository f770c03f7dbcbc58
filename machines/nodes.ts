// Nodes as the supervisor knows them: live node connections (keyed by connection id) and the node
// list operators see, merged from live connections and approved pairings. Pure selectors.
import type { PairedNode, PendingNodePair } from './pairing.js';
import type { Session } from './protocol.js';

/** A connected node: one per node connection, so a reconnect and its old connection never share one. */
export interface NodeSession {
  connId: string;
  nodeId: string;
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
}

export interface NodeRegistries {
  /** Live node sessions by connection id. */
  nodes: Map<string, NodeSession>;
  /** The connection that currently speaks for a node id (the newest one). */
  nodeConnById: Map<string, string>;
  nodeLastSeen: Map<string, number>;
  pairedNodes: Map<string, PairedNode>;
  pendingNodePairs: Map<string, PendingNodePair>;
}

/** `device.id` when the node proved a device identity, else its client id. */
export function nodeIdOf(session: Session): string {
  return session.deviceId ?? session.client.id;
}

export function nodeSessionOf(connId: string, remoteIp: string, session: Session): NodeSession {
  const { client } = session;
  const node: NodeSession = {
    connId,
    nodeId: nodeIdOf(session),
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

export function connectedNode(registries: NodeRegistries, nodeId: string): NodeSession | undefined {
  const connId = registries.nodeConnById.get(nodeId);
  return connId === undefined ? undefined : registries.nodes.get(connId);
}

function pendingPairOf(registries: NodeRegistries, nodeId: string): PendingNodePair | undefined {
  for (const request of registries.pendingNodePairs.values()) if (request.nodeId === nodeId) return request;
  return undefined;
}

/** What a node may be asked to run: what it declares now, within what an operator approved. */
export function allowedCommands(live: NodeSession | undefined, paired: PairedNode | undefined): string[] {
  if (!paired) return [];
  if (!live) return paired.commands;
  const approved = new Set(paired.commands);
  return live.commands.filter((command) => approved.has(command));
}

function allowedCaps(live: NodeSession | undefined, paired: PairedNode | undefined): string[] {
  if (!paired) return [];
  if (!live) return paired.caps;
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
