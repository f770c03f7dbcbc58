// The supervisor owns what is shared between connections: who is connected, and presence.
// Connections report joins and leaves; the supervisor decides what is broadcast and emits it.
// Registries are Maps mutated in place so that a join or a leave costs O(1) whatever the number
// of connections (copying a registry per join made 10k joins take seconds).
import { assign, emit, setup } from 'xstate';
import type { PresenceEntry, Role, Session, StateVersion } from './protocol.js';

export interface SupervisorInput {
  /** The gateway's own presence entry (always listed, reason "self"). */
  self: PresenceEntry;
  tickIntervalMs: number;
  maxPresenceEntries?: number;
}

interface PresenceSlot {
  connId: string;
  entry: PresenceEntry;
}

export interface ConnectionRecord {
  role: Role;
  clientMode: string;
  presenceKey?: string;
}

export interface SupervisorContext {
  self: PresenceEntry;
  tickIntervalMs: number;
  maxPresenceEntries: number;
  connections: Map<string, ConnectionRecord>;
  /** Keyed by device id, else client instance id, else connection id; insertion order is age. */
  presence: Map<string, PresenceSlot>;
  stateVersion: StateVersion;
}

export type SupervisorEvent =
  | { type: 'connection.joined'; connId: string; remoteAddr: string; session: Session }
  | { type: 'connection.left'; connId: string };

export type SupervisorEmitted =
  | { type: 'presence.changed'; presence: PresenceEntry[]; stateVersion: StateVersion }
  | { type: 'tick' };

const DEFAULT_MAX_PRESENCE_ENTRIES = 200;

export function presenceKey(connId: string, session: Session): string {
  return session.deviceId ?? session.client.instanceId ?? connId;
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

/** Presence as clients see it: newest first, the gateway's own entry last. */
export function listPresence(context: SupervisorContext): PresenceEntry[] {
  const entries: PresenceEntry[] = [];
  for (const slot of context.presence.values()) entries.push(slot.entry);
  entries.reverse();
  entries.push(context.self);
  return entries;
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actions: {
    registerConnection: assign(({ context, event }) => {
      if (event.type !== 'connection.joined') return {};
      context.connections.set(event.connId, { role: event.session.role, clientMode: event.session.client.mode });
      return {};
    }),
    addPresenceEntry: assign(({ context, event }) => {
      if (event.type !== 'connection.joined') return {};
      const key = presenceKey(event.connId, event.session);
      const { presence, connections } = context;
      // A refreshed key moves to the newest position.
      presence.delete(key);
      if (presence.size >= context.maxPresenceEntries) {
        const oldestKey = presence.keys().next().value as string;
        const evicted = presence.get(oldestKey);
        presence.delete(oldestKey);
        const evictedRecord = evicted && connections.get(evicted.connId);
        if (evictedRecord) delete evictedRecord.presenceKey;
      }
      presence.set(key, { connId: event.connId, entry: presenceEntryFor(event.remoteAddr, event.session) });
      const record = connections.get(event.connId);
      if (record) record.presenceKey = key;
      return {};
    }),
    removeOwnedPresenceEntry: assign(({ context, event }) => {
      if (event.type !== 'connection.left') return {};
      const key = context.connections.get(event.connId)?.presenceKey;
      if (key !== undefined) context.presence.delete(key);
      return {};
    }),
    unregisterConnection: assign(({ context, event }) => {
      if (event.type !== 'connection.left') return {};
      context.connections.delete(event.connId);
      return {};
    }),
    bumpPresenceVersion: assign(({ context }) => ({
      stateVersion: { ...context.stateVersion, presence: context.stateVersion.presence + 1 },
    })),
    broadcastPresence: emit(({ context }) => ({
      type: 'presence.changed' as const,
      presence: listPresence(context),
      stateVersion: context.stateVersion,
    })),
    broadcastTick: emit({ type: 'tick' as const }),
  },
  guards: {
    isTrackedClient: ({ event }) => event.type === 'connection.joined' && isTrackedSession(event.session),
    /** Only the connection that owns a presence entry removes it: a reconnect may own it now. */
    ownsPresenceEntry: ({ context, event }) => {
      if (event.type !== 'connection.left') return false;
      const key = context.connections.get(event.connId)?.presenceKey;
      return key !== undefined && context.presence.get(key)?.connId === event.connId;
    },
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
    connections: new Map(),
    presence: new Map(),
    stateVersion: { presence: 1, health: 1 },
  }),
  initial: 'running',
  states: {
    running: {
      after: {
        tickInterval: { target: 'running', reenter: true, actions: 'broadcastTick' },
      },
      on: {
        'connection.joined': [
          {
            guard: 'isTrackedClient',
            actions: ['registerConnection', 'addPresenceEntry', 'bumpPresenceVersion', 'broadcastPresence'],
          },
          { actions: 'registerConnection' },
        ],
        'connection.left': [
          {
            guard: 'ownsPresenceEntry',
            actions: ['removeOwnedPresenceEntry', 'unregisterConnection', 'bumpPresenceVersion', 'broadcastPresence'],
          },
          { actions: 'unregisterConnection' },
        ],
      },
    },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
