// XState's scheduler cancels a stopping actor's delayed events by walking every delayed event pending in
// its actor system. The gateway's connection actors share one system (see src/connections/host.ts), so each connection
// that ends would walk the handshake deadlines of every connection still handshaking: O(n) per close and
// O(n^2) for a storm of n. This keeps, per actor, the ids of the events it scheduled, so that cancelling
// them all costs only that actor's few. Same behaviour: every one of the actor's pending events is
// cancelled, and an event that has fired already is cancelled as a no-op, as XState's own cancel does.
import type { ActorSystem, AnyActorRef } from 'xstate';

type AnySystem = ActorSystem<any>;
type Scheduler = AnySystem['scheduler'];

export function indexScheduledEvents(system: AnySystem): void {
  const scheduler: Scheduler = system.scheduler;
  const { schedule, cancel } = scheduler;
  // Most actors have one delayed event at a time (a connection: its handshake deadline): a lone id is kept
  // as a string, more in a Set.
  const idsBySource = new Map<AnyActorRef, string | Set<string>>();
  scheduler.schedule = (source, target, event, delay, id) => {
    // XState draws a random id when none is given; drawing it here lets the index know it.
    const eventId = id ?? Math.random().toString(36).slice(2);
    schedule(source, target, event, delay, eventId);
    const ids = idsBySource.get(source);
    if (ids === undefined) idsBySource.set(source, eventId);
    else if (typeof ids === 'string') idsBySource.set(source, new Set([ids, eventId]));
    else ids.add(eventId);
  };
  scheduler.cancel = (source, id) => {
    cancel(source, id);
    const ids = idsBySource.get(source);
    if (ids === id) idsBySource.delete(source);
    else if (typeof ids === 'object') ids.delete(id);
  };
  scheduler.cancelAll = (source) => {
    const ids = idsBySource.get(source);
    if (ids === undefined) return;
    idsBySource.delete(source);
    if (typeof ids === 'string') cancel(source, ids);
    else for (const id of ids) cancel(source, id);
  };
}
