// The supervisor's emitted events as streams: broadcasts become frames for an audience, a lone
// presence change goes out at once and the changes that follow it within a short window are sent
// once at its end (the newest snapshot), and each ready socket numbers what it is sent with its own seq.
import { Observable, asyncScheduler, filter, map, merge, share, throttle, timer } from 'rxjs';
import type { AnyActorRef } from 'xstate';
import { eventFrame, hasScope, type EventFrame, type OperatorScope, type Role } from '../../machines/protocol.js';
import type { SupervisorEmitted } from '../../machines/supervisor.js';

/**
 * Who a broadcast is for: every ready socket, every node, or the operators holding a scope (admin holds
 * all, write holds read). The supervisor's audiences are some of these.
 */
export type Audience = 'everyone' | 'nodes' | OperatorScope;

export interface Broadcast {
  audience: Audience;
  frame: EventFrame;
}

/** Who a socket is, as far as broadcasts care, and the seq of the last broadcast it was sent. */
export interface Recipient {
  role: Role | undefined;
  scopes: readonly string[];
  seq: number;
}

/** The supervisor's emitted events as an Observable shared by every subscriber. */
export function emittedBy(supervisor: Pick<AnyActorRef, 'on'>): Observable<SupervisorEmitted> {
  return new Observable<SupervisorEmitted>((subscriber) => {
    const subscription = supervisor.on('*', (emitted: SupervisorEmitted) => subscriber.next(emitted));
    return () => subscription.unsubscribe();
  }).pipe(share());
}

/**
 * Who sees presence (events, and the roster in hello-ok): operators who may read, as in the reference.
 * Nodes and pairing-only operators get an empty roster and no presence events.
 */
export const PRESENCE_AUDIENCE: Audience = 'operator.read';

function toBroadcast(emitted: SupervisorEmitted): Broadcast | undefined {
  switch (emitted.type) {
    case 'tick':
      return { audience: 'everyone', frame: eventFrame('tick', { ts: Date.now() }) };
    case 'presence.changed':
      return {
        audience: PRESENCE_AUDIENCE,
        frame: { ...eventFrame('presence', { presence: emitted.presence }), stateVersion: emitted.stateVersion },
      };
    case 'broadcast':
      return { audience: emitted.audience, frame: eventFrame(emitted.event, emitted.payload) };
    default:
      return undefined;
  }
}

/**
 * Every broadcast to send. Presence is throttled, leading and trailing: a change with no presence frame
 * sent in the window before it goes out at once and opens a window; changes within the window are held,
 * and at its end the newest snapshot (the highest stateVersion) goes out once and opens the next window.
 * A lone join reaches everyone without delay; a burst of joins costs at most one presence frame per
 * socket per window (plus the first), and every join and leave is still in the next frame sent.
 * `presenceWindowMs` is the window's length, or a function read as each window opens.
 */
export function broadcastsOf(emitted$: Observable<SupervisorEmitted>, presenceWindowMs: number | (() => number) = 0): Observable<Broadcast> {
  const windowMs = typeof presenceWindowMs === 'number' ? () => presenceWindowMs : presenceWindowMs;
  const presence$ = emitted$.pipe(
    filter((emitted) => emitted.type === 'presence.changed'),
    throttle(() => timer(windowMs(), asyncScheduler), { leading: true, trailing: true }),
  );
  const others$ = emitted$.pipe(filter((emitted) => emitted.type !== 'presence.changed'));
  return merge(presence$, others$).pipe(
    map(toBroadcast),
    filter((broadcast): broadcast is Broadcast => broadcast !== undefined),
  );
}

/**
 * The presence window in force: at least `minMs`, stretched so that fanning the last presence frame out
 * to every ready socket once per window stays within `bytesPerSecond`, and never past `maxMs`. A few
 * clients get presence within `minMs`; a storm of joins among hundreds costs a bounded byte rate instead
 * of one full list per join per client.
 */
export function presenceWindowFor(minMs: number, readySockets: number, frameBytes: number, bytesPerSecond: number, maxMs: number): number {
  const paced = Math.ceil((readySockets * frameBytes * 1000) / bytesPerSecond);
  return Math.max(minMs, Math.min(maxMs, paced));
}

export function reaches(recipient: Pick<Recipient, 'role' | 'scopes'>, audience: Audience): boolean {
  if (audience === 'everyone') return true;
  if (audience === 'nodes') return recipient.role === 'node';
  return recipient.role === 'operator' && hasScope(recipient.scopes, audience);
}
