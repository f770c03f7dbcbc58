// Pairing records: devices an operator approved (with the token they reconnect with), nodes whose
// command surface an operator approved, and the requests still waiting for an operator.
// Pure data and selectors; the supervisor owns the live registries, the runtime persists them.
import type { Role } from './protocol.js';

export type PairingMode = 'auto-local' | 'manual';

/** Who a device says it is when it asks to be paired. */
export interface DeviceIdentity {
  deviceId: string;
  publicKey?: string;
  role: Role;
  scopes: string[];
  clientId: string;
  clientMode: string;
  displayName?: string;
  platform?: string;
}

/** How a node's id was established: proven with a device key, or chosen by the client. */
export type NodeIdKind = 'device' | 'client';

/** A node and the command surface it declares. */
export interface NodeSurface {
  nodeId: string;
  /**
   * How the node id was established: `device` (proven with the device's key) or `client` (chosen by a
   * client without a device identity). An approval holds only for that identity. Absent in approvals
   * saved before it was recorded: read from the id's form then.
   */
  idKind?: NodeIdKind;
  clientId: string;
  clientMode: string;
  displayName?: string;
  platform?: string;
  version?: string;
  deviceFamily?: string;
  caps: string[];
  commands: string[];
}

interface Approval {
  createdAtMs: number;
  approvedAtMs: number;
  /** True when approved without an operator (loopback client, no browser Origin). */
  silent: boolean;
}

interface PendingRequest {
  requestId: string;
  ts: number;
}

/**
 * The device token of a paired device, as the gateway keeps it: never the token itself (32 random bytes,
 * base64url, handed over once), only its SHA-256, so a copy of the pairing state grants nothing.
 */
export interface DeviceTokenRecord {
  /** `sha256:` and the token's SHA-256 in base64url. Absent when no token is live: none handed over yet, rotated for another caller, or revoked. */
  tokenHash?: string;
  /** What the token grants, when narrower than the device's approved scopes (a rotation may narrow it). */
  tokenScopes?: string[];
  tokenRotatedAtMs?: number;
  tokenRevokedAtMs?: number;
}

export interface PairedDevice extends DeviceIdentity, Approval, DeviceTokenRecord {
  /** A name an operator gave the device (`device.pair.rename`), preferred over the one it reports. */
  operatorLabel?: string;
}

export interface PairedNode extends NodeSurface, Approval {
  /** A name an operator gave the node (`node.rename`), preferred over the one it reports. */
  operatorLabel?: string;
}

export interface PendingDevicePair extends DeviceIdentity, PendingRequest {
  remoteIp?: string;
}

export interface PendingNodePair extends NodeSurface, PendingRequest {
  remoteIp?: string;
}

/** What survives a restart. */
export interface PairingState {
  version: 1;
  devices: PairedDevice[];
  nodes: PairedNode[];
}

export const EMPTY_PAIRING_STATE: PairingState = { version: 1, devices: [], nodes: [] };

export interface PairingRegistries {
  pairedDevices: Map<string, PairedDevice>;
  pairedNodes: Map<string, PairedNode>;
  pendingDevicePairs: Map<string, PendingDevicePair>;
  pendingNodePairs: Map<string, PendingNodePair>;
}

export function pairingStateOf(registries: PairingRegistries): PairingState {
  return { version: 1, devices: [...registries.pairedDevices.values()], nodes: [...registries.pairedNodes.values()] };
}

/** The pending request of a device or node, if one is open. O(pending), which is capped. */
export function pendingRequestFor<T extends { deviceId?: string; nodeId?: string }>(
  pending: Map<string, T>,
  matches: (request: T) => boolean,
): T | undefined {
  for (const request of pending.values()) if (matches(request)) return request;
  return undefined;
}

/** The scopes a paired device's token grants: its approved scopes, or what a rotation narrowed them to. */
export function deviceTokenScopes(device: PairedDevice): string[] {
  return device.tokenScopes ?? device.scopes;
}

/** A device token as operators see it (the reference's `tokens` entry): its role, grant and history, never the token. */
export interface DeviceTokenSummary {
  role: Role;
  scopes: string[];
  createdAtMs: number;
  rotatedAtMs?: number;
  revokedAtMs?: number;
}

export type PublicDevice = Omit<PairedDevice, keyof DeviceTokenRecord> & { roles: Role[]; tokens: DeviceTokenSummary[] };

/** A paired device as operators see it: never its token, not even its hash. */
export function publicDevice(device: PairedDevice): PublicDevice {
  const { tokenHash: _hash, tokenScopes: _scopes, tokenRotatedAtMs, tokenRevokedAtMs, ...rest } = device;
  const token: DeviceTokenSummary = { role: device.role, scopes: deviceTokenScopes(device), createdAtMs: device.createdAtMs };
  if (tokenRotatedAtMs !== undefined) token.rotatedAtMs = tokenRotatedAtMs;
  if (tokenRevokedAtMs !== undefined) token.revokedAtMs = tokenRevokedAtMs;
  return { ...rest, roles: [device.role], tokens: [token] };
}

export function listDevicePairing(registries: PairingRegistries) {
  return {
    pending: [...registries.pendingDevicePairs.values()],
    paired: [...registries.pairedDevices.values()].map(publicDevice),
  };
}

export function listNodePairing(registries: PairingRegistries) {
  return {
    pending: [...registries.pendingNodePairs.values()],
    paired: [...registries.pairedNodes.values()],
  };
}

export type DeviceAccess =
  | { kind: 'paired'; device: PairedDevice }
  | { kind: 'approve-silently' }
  | { kind: 'pairing-required' };

/**
 * Whether an operator's device may in: it is paired, or it may be paired silently (auto-local
 * mode, loopback, no browser Origin), or an operator has to approve it first.
 */
export function decideDeviceAccess(
  registries: Pick<PairingRegistries, 'pairedDevices'>,
  deviceId: string,
  mode: PairingMode,
  isLocalClient: boolean,
): DeviceAccess {
  const device = registries.pairedDevices.get(deviceId);
  if (device) return { kind: 'paired', device };
  if (mode === 'auto-local' && isLocalClient) return { kind: 'approve-silently' };
  return { kind: 'pairing-required' };
}

/** How much pairing state unpaired and freshly paired clients may make the gateway keep. */
export interface PairingLimits {
  /** Pending requests of one kind (devices, nodes), all addresses together. */
  maxPending: number;
  /** Pending requests of one kind from one address: a flood from one place leaves room for the rest. */
  maxPendingPerAddress: number;
  maxPairedDevices: number;
  maxPairedNodes: number;
}

export const DEFAULT_PAIRING_LIMITS: PairingLimits = {
  maxPending: 500,
  maxPendingPerAddress: 20,
  maxPairedDevices: 1000,
  maxPairedNodes: 1000,
};

export type PairRequestRoom = 'room' | 'address-full' | 'list-full';

/**
 * Whether a new request may be filed: never by evicting another one, so a flood cannot push a genuine
 * request out unannounced. O(pending) for the per-address count; pending is capped.
 */
export function pairRequestRoom(
  pending: Map<string, { remoteIp?: string }>,
  remoteIp: string | undefined,
  limits: Pick<PairingLimits, 'maxPending' | 'maxPendingPerAddress'>,
): PairRequestRoom {
  if (pending.size >= limits.maxPending) return 'list-full';
  if (remoteIp === undefined) return 'room';
  let fromAddress = 0;
  for (const request of pending.values()) if (request.remoteIp === remoteIp && ++fromAddress >= limits.maxPendingPerAddress) return 'address-full';
  return 'room';
}
