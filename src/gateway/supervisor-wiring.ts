// What the supervisor says, carried out: broadcasts go to the fan-out adapter (presence throttled over its
// window), targeted events and replies to their connection and request, revoked credentials to their
// connections, and every change of the pairing state to the disk.
import { map, type Subscription } from 'rxjs';
import { eventFrame } from '../../machines/protocol.js';
import type { ConnectionTable } from '../connections/connection.js';
import type { Connection } from '../connections/connection.js';
import type { Logger } from 'pino';
import { broadcastsOf, emittedBy, presenceWindowFor } from '../outbound/broadcasts.js';
import type { FanOutAdapter, Outbound } from '../outbound/outbound.js';
import type { InvokeRunner } from '../supervisor/invokes.js';
import type { SupervisorActor } from '../supervisor/supervisor.js';
import type { SupervisorRequests } from '../supervisor/requests.js';
import { boundedPresence } from '../supervisor/presence-budget.js';

/**
 * The presence window stretches so that a presence fan-out stays under this many bytes a second (in a storm),
 * however long that makes it: with the list capped at ProtocolLimits.maxPresenceBytes, presence is at most
 * readySockets x frameBytes / this late (1 s for 256 sockets at the cap; 10 ms for a few clients).
 */
export const PRESENCE_BYTES_PER_SECOND = 32 * 1024 * 1024;

export interface SupervisorWiring {
  supervisor: SupervisorActor;
  invokes: InvokeRunner;
  requests: SupervisorRequests;
  table: ConnectionTable;
  outbound: Outbound<Connection>;
  adapter: FanOutAdapter;
  /** Saves the pairing state up to this revision. */
  persist(revision: number): void;
  presenceWindowMs: number;
  logger: Logger;
}

export function wireSupervisor({ supervisor, invokes, requests, table, outbound, adapter, persist, presenceWindowMs, logger }: SupervisorWiring): Subscription[] {
  const emitted$ = emittedBy(supervisor);
  const windowMs = () => presenceWindowFor(presenceWindowMs, table.readyCount, outbound.presenceFrameBytes, PRESENCE_BYTES_PER_SECOND, Number.POSITIVE_INFINITY);
  // Presence goes out as clients are sent it everywhere: at most ProtocolLimits.maxPresenceBytes of it.
  const bounded$ = emitted$.pipe(map((emitted) => (emitted.type === 'presence.changed' ? { ...emitted, presence: boundedPresence(emitted.presence) } : emitted)));
  return [
    broadcastsOf(bounded$, windowMs).subscribe((broadcast) => adapter.broadcast(broadcast)),
    emitted$.subscribe((emitted) => {
      switch (emitted.type) {
        case 'broadcast':
          if (/^(node|device)\.pair\./.test(emitted.event)) logger.info({ event: emitted.event, ...(emitted.payload as object) }, emitted.event);
          break;
        case 'deliver': {
          const connection = table.get(emitted.connId);
          if (connection) outbound.send(connection, eventFrame(emitted.event, emitted.payload));
          break;
        }
        case 'reply':
          requests.settle(emitted);
          break;
        case 'credentials.revoked': {
          const revoke = () => {
            for (const connId of emitted.connIds) {
              const connection = table.get(connId);
              if (connection?.live) connection.actor.send({ type: 'credentials.revoked', reason: emitted.reason });
            }
          };
          // The caller's own socket: its answer (settled just before, written once its promise chain runs) goes first.
          if (emitted.afterAnswer) setImmediate(revoke);
          else revoke();
          break;
        }
        case 'pairing.changed':
          persist(emitted.revision);
          break;
        case 'pairing.refused': {
          const { type: _type, ...refusal } = emitted;
          logger.warn({ event: 'pairing.refused', ...refusal }, 'pairing refused');
          break;
        }
        case 'invoke.start':
          invokes.start(emitted.input);
          break;
        case 'invoke.signal':
          invokes.signal(emitted.invokeId, emitted.event);
          break;
      }
    }),
  ];
}
