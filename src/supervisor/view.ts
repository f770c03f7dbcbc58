// The supervisor as everything else in the runtime reads it: presence, nodes, pairing, the pairing state's
// revision, and counts. The only file outside machines/ that reads the supervisor's context, so the
// context can change shape without the runtime noticing.
import type { DevicePairings } from '../auth/device-pairing.js';
import { describeNode, listNodes, nodeIdClaimRefusal, type NodeIdRefusal, type NodeListEntry } from '../../machines/nodes.js';
import {
  deviceTokenScopes,
  decideDeviceAccess,
  listDevicePairing,
  listNodePairing,
  pairingStateOf,
  pairRequestRoom,
  type PairRequestRoom,
  pendingRequestFor,
  publicDevice,
  type PublicDevice,
  type DeviceAccess,
  type PairingMode,
  type PairingState,
} from '../../machines/pairing.js';
import type { PresenceEntry, Role, Session, StateVersion } from '../../machines/protocol.js';
import { listPresence, type SupervisorContext } from '../../machines/supervisor.js';
import type { SupervisorActor } from './supervisor.js';
import { boundedPresence } from './presence-budget.js';

/** What an embedding program may read of the gateway's shared state (no secrets). */
export interface GatewayState {
  /** Tracked clients, newest first, the gateway's own entry last: what `system-presence` answers. */
  presence(): PresenceEntry[];
  stateVersion(): StateVersion;
  /** Connected and paired nodes: what `node.list` answers. */
  nodes(): NodeListEntry[];
  node(nodeId: string): NodeListEntry | undefined;
  /** Pending and paired devices, without their tokens: what `device.pair.list` answers. */
  devicePairing(): ReturnType<typeof listDevicePairing>;
  nodePairing(): ReturnType<typeof listNodePairing>;
}

export interface SupervisorCounts {
  /** Tracked clients in presence (the gateway itself is not counted). */
  presenceEntries: number;
  nodesConnected: number;
  invokesInFlight: number;
  /** Invoke actors alive (one per invoke in flight; they run beside the supervisor, not as its children). */
  children: number;
}

export class SupervisorView implements GatewayState {
  private invokeActors: () => number = () => 0;

  constructor(private readonly supervisor: SupervisorActor) {}

  /** Where the count of invoke actors comes from (the runtime's invoke runner). */
  countInvokeActors(count: () => number): void {
    this.invokeActors = count;
  }

  private get context(): SupervisorContext {
    return this.supervisor.getSnapshot().context;
  }

  /** Whether the supervisor still takes events (it stops at the end of a shutdown). */
  isActive(): boolean {
    return this.supervisor.getSnapshot().status === 'active';
  }

  /** Presence as clients are sent it: at most ProtocolLimits.maxPresenceBytes of it (./presence-budget.ts). */
  presence(): PresenceEntry[] {
    return boundedPresence(listPresence(this.context));
  }

  stateVersion(): StateVersion {
    return this.context.stateVersion;
  }

  nodes(): NodeListEntry[] {
    return listNodes(this.context);
  }

  node(nodeId: string): NodeListEntry | undefined {
    return describeNode(this.context, nodeId);
  }

  /** The node id a node connection speaks for. */
  nodeIdOf(connId: string): string | undefined {
    return this.context.nodes.get(connId)?.nodeId;
  }

  /** Why a node session may not speak for the node id it claims; undefined when it may. */
  nodeIdClaimRefusal(session: Session): NodeIdRefusal | undefined {
    return nodeIdClaimRefusal(this.context, session);
  }

  devicePairing() {
    return listDevicePairing(this.context);
  }

  nodePairing() {
    return listNodePairing(this.context);
  }

  /** The hash of a paired device's live token (the token is never kept): for its reconnects, never for display. */
  deviceTokenHashOf(deviceId: string): string | undefined {
    return this.context.pairedDevices.get(deviceId)?.tokenHash;
  }

  /** A paired device as operators see it (no token, no hash). */
  pairedDevice(deviceId: string): PublicDevice | undefined {
    const device = this.context.pairedDevices.get(deviceId);
    return device ? publicDevice(device) : undefined;
  }

  /** Whether a node is paired (approved). */
  nodeIsPaired(nodeId: string): boolean {
    return this.context.pairedNodes.has(nodeId);
  }

  /** The role and scopes a paired device's token opens: its approval, or less once a rotation narrowed it. */
  deviceGrantOf(deviceId: string): { role: Role; scopes: readonly string[] } | undefined {
    const device = this.context.pairedDevices.get(deviceId);
    return device === undefined ? undefined : { role: device.role, scopes: deviceTokenScopes(device) };
  }

  deviceAccess(deviceId: string, mode: PairingMode, isLocalClient: boolean): DeviceAccess {
    return decideDeviceAccess(this.context, deviceId, mode, isLocalClient);
  }

  /** The id of a device's open pairing request, if it has one. */
  pendingDeviceRequestId(deviceId: string): string | undefined {
    return pendingRequestFor(this.context.pendingDevicePairs, (request) => request.deviceId === deviceId)?.requestId;
  }

  /** Whether a new device pairing request from this address may be filed now. */
  devicePairRequestRoom(remoteAddr: string): PairRequestRoom {
    return pairRequestRoom(this.context.pendingDevicePairs, remoteAddr, this.context.pairingLimits);
  }

  /** Whether one more device may be paired. */
  mayPairAnotherDevice(): boolean {
    return this.context.pairedDevices.size < this.context.pairingLimits.maxPairedDevices;
  }

  /** Whether a node with this id would be paired silently on connect: neither paired nor asked for. */
  nodeWouldPairSilently(nodeId: string): boolean {
    const { pairedNodes, pendingNodePairs } = this.context;
    return !pairedNodes.has(nodeId) && pendingRequestFor(pendingNodePairs, (request) => request.nodeId === nodeId) === undefined;
  }

  /** What the admission's pairing gate reads, bound to this view, with where its reports go. */
  devicePairings(report: DevicePairings['report']): DevicePairings {
    return {
      deviceAccess: (deviceId, mode, isLocalClient) => this.deviceAccess(deviceId, mode, isLocalClient),
      pendingDeviceRequestId: (deviceId) => this.pendingDeviceRequestId(deviceId),
      deviceTokenHashOf: (deviceId) => this.deviceTokenHashOf(deviceId),
      deviceGrantOf: (deviceId) => this.deviceGrantOf(deviceId),
      devicePairRequestRoom: (remoteAddr) => this.devicePairRequestRoom(remoteAddr),
      mayPairAnotherDevice: () => this.mayPairAnotherDevice(),
      nodeWouldPairSilently: (nodeId) => this.nodeWouldPairSilently(nodeId),
      report,
    };
  }

  /** The newest revision of the pairing state (every change makes one). */
  pairingRevision(): number {
    return this.context.persistence.revision;
  }

  /** The newest revision with the state it holds: what a save writes. */
  pairingSnapshot(): { revision: number; state: PairingState } {
    const context = this.context;
    return { revision: context.persistence.revision, state: pairingStateOf(context) };
  }

  counts(): SupervisorCounts {
    const { context } = this.supervisor.getSnapshot();
    return {
      presenceEntries: context.presence.size,
      nodesConnected: context.nodes.size,
      invokesInFlight: context.invokes.size,
      children: this.invokeActors(),
    };
  }
}
