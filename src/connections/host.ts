// Connection actors share one actor system, this host's: a root actor would get a system of its own
// (its closures, maps and timer tables) per connection. The host keeps no state; a connection actor that
// fails reports here (its done events land here too and are ignored).
import { createActor, fromTransition, type AnyActorRef, type AnyEventObject, type InspectionEvent } from 'xstate';
import type { CountingClock } from '../actors/clock.js';
import { indexScheduledEvents } from '../actors/scheduler-index.js';
import type { Logger } from 'pino';

export function startConnectionHost(clock: CountingClock, logger: Logger, inspect?: (event: InspectionEvent) => void): AnyActorRef {
  const host = createActor(
    fromTransition((state: null, event: AnyEventObject) => {
      if (event.type.startsWith('xstate.error.actor')) logger.error({ event: event.type, err: (event as { error?: unknown }).error }, 'connection actor failed');
      return state;
    }, null),
    { clock, ...(inspect ? { inspect } : {}) },
  );
  host.start();
  // Without this, every connection that ends walks every handshake deadline pending in the shared system.
  indexScheduledEvents(host.system);
  return host;
}
