// The supervisor as everything else in the runtime reads it: presence, nodes, pairing, the pairing state's
// revision, and counts. The only file outside machines/ that reads the supervisor's context, so the
// context can change shape without the runtime noticing.
import { describeNode, listNodes, type NodeListEntry } from '../../machines/nodes.js';
import {
  decideDeviceAccess,
  listDevicePairing,
  listNodePairing,
  pairingStateOf,
  pendingRequestFor,
  type DeviceAccess,
  type PairingMode,
  type PairingState,
} from '../../machines/pairing.js';
import type { PresenceEntry, StateVersion } from '../../machines/protocol.js';
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
  /** The supervisor's spawned children (one per invoke in flight). */
  children: number;
}

export class SupervisorView implements GatewayState {
  constructor(private readonly supervisor: SupervisorActor) {}

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

  devicePairing() {
    return listDevicePairing(this.context);
  }

  nodePairing() {
    return listNodePairing(this.context);
  }

  /** The token a paired device was issued: for its reconnects, never for display. */
  deviceTokenOf(deviceId: string): string | undefined {
    return this.context.pairedDevices.get(deviceId)?.token;
  }

  deviceAccess(deviceId: string, mode: PairingMode, isLocalClient: boolean): DeviceAccess {
    return decideDeviceAccess(this.context, deviceId, mode, isLocalClient);
  }

  /** The id of a device's open pairing request, if it has one. */
  pendingDeviceRequestId(deviceId: string): string | undefined {
    return pendingRequestFor(this.context.pendingDevicePairs, (request) => request.deviceId === deviceId)?.requestId;
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
    const snapshot = this.supervisor.getSnapshot();
    const { context } = snapshot;
    return {
      presenceEntries: context.presence.size,
      nodesConnected: context.nodes.size,
      invokesInFlight: context.invokes.size,
      children: Object.keys(snapshot.children).length,
    };
  }
}
