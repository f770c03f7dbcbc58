// The supervisor's emitted events as streams: broadcasts become frames for an audience, presence
// changes that land in the same moment are sent once (the newest snapshot), and each ready socket
// numbers what it is sent with its own seq.
import { Observable, asyncScheduler, auditTime, filter, map, merge, share } from 'rxjs';
import type { AnyActorRef } from 'xstate';
import { eventFrame, type EventFrame, type Role } from '../machines/protocol.js';
import type { Audience, SupervisorEmitted } from '../machines/supervisor.js';
import { hasScope } from './methods.js';

export interface Broadcast {
  audience: Audience;
  frame: EventFrame;
}

/** Who a socket is, as far as broadcasts care, and the seq of the last broadcast it was sent. */
export interface Recipient {
  role: Role;
  scopes: string[];
  seq: number;
}

/** The supervisor's emitted events as an Observable shared by every subscriber. */
export function emittedBy(supervisor: Pick<AnyActorRef, 'on'>): Observable<SupervisorEmitted> {
  return new Observable<SupervisorEmitted>((subscriber) => {
    const subscription = supervisor.on('*', (emitted: SupervisorEmitted) => subscriber.next(emitted));
    return () => subscription.unsubscribe();
  }).pipe(share());
}

function toBroadcast(emitted: SupervisorEmitted): Broadcast | undefined {
  switch (emitted.type) {
    case 'tick':
      return { audience: 'everyone', frame: eventFrame('tick', { ts: Date.now() }) };
    case 'presence.changed':
      return {
        audience: 'everyone',
        frame: { ...eventFrame('presence', { presence: emitted.presence }), stateVersion: emitted.stateVersion },
      };
    case 'broadcast':
      return { audience: emitted.audience, frame: eventFrame(emitted.event, emitted.payload) };
    default:
      return undefined;
  }
}

/**
 * Every broadcast to send. Presence snapshots that follow each other within `presenceWindowMs` go out
 * once, as the newest (its stateVersion is the highest): a burst of joins costs one presence frame per
 * socket instead of one per join, and every join and leave is still in the next frame sent.
 */
export function broadcastsOf(emitted$: Observable<SupervisorEmitted>, presenceWindowMs = 0): Observable<Broadcast> {
  const presence$ = emitted$.pipe(
    filter((emitted) => emitted.type === 'presence.changed'),
    auditTime(presenceWindowMs, asyncScheduler),
  );
  const others$ = emitted$.pipe(filter((emitted) => emitted.type !== 'presence.changed'));
  return merge(presence$, others$).pipe(
    map(toBroadcast),
    filter((broadcast): broadcast is Broadcast => broadcast !== undefined),
  );
}

export function reaches(recipient: Recipient, audience: Audience): boolean {
  if (audience === 'everyone') return true;
  return recipient.role === 'operator' && hasScope(recipient.scopes, audience);
}

/**
 * Sends a broadcast to every recipient in its audience with that recipient's next seq. The frame is
 * serialised once; each socket's seq is spliced onto its end.
 */
export function fanOut<R extends Recipient>(recipients: Iterable<R>, { audience, frame }: Broadcast, write: (recipient: R, data: string) => void): void {
  const body = JSON.stringify(frame).slice(0, -1);
  for (const recipient of recipients) {
    if (reaches(recipient, audience)) write(recipient, `${body},"seq":${++recipient.seq}}`);
  }
}
