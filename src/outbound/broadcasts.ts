// The supervisor's emitted events as streams: broadcasts become frames for an audience, a lone
// presence change goes out at once and the changes that follow it within a short window are sent
// once at its end (the newest snapshot), and each ready socket numbers what it is sent with its own seq.
import { Observable, asyncScheduler, filter, map, merge, share, throttle, timer } from 'rxjs';
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

export function reaches(recipient: Recipient, audience: Audience): boolean {
  if (audience === 'everyone') return true;
  return recipient.role === 'operator' && hasScope(recipient.scopes, audience);
}

/**
 * A broadcast frame serialised and UTF-8 encoded once. `at(seq)` is its bytes with that seq spliced onto
 * its end, built once per distinct seq: recipients that were sent the same broadcasts so far share a
 * seq, so a fan-out to N sockets usually encodes one buffer and writes it N times.
 */
export interface EncodedBroadcast {
  at(seq: number): Buffer;
  /** The same as a whole WebSocket text frame (header and payload), built once per distinct seq. */
  framedAt(seq: number): Buffer;
  /** Distinct seqs encoded so far. */
  readonly encodings: number;
  /** The frame's size without its seq. */
  readonly bytes: number;
}

export function encodeBroadcast(frame: EventFrame): EncodedBroadcast {
  const body = Buffer.from(JSON.stringify(frame).slice(0, -1));
  const bySeq = new Map<number, Buffer>();
  const framedBySeq = new Map<number, Buffer>();
  const at = (seq: number) => {
    let bytes = bySeq.get(seq);
    if (bytes === undefined) {
      bytes = Buffer.concat([body, Buffer.from(`,"seq":${seq}}`)]);
      bySeq.set(seq, bytes);
    }
    return bytes;
  };
  return {
    at,
    framedAt(seq) {
      let bytes = framedBySeq.get(seq);
      if (bytes === undefined) {
        bytes = textFrame(at(seq));
        framedBySeq.set(seq, bytes);
      }
      return bytes;
    },
    get encodings() {
      return bySeq.size;
    },
    bytes: body.length,
  };
}

/**
 * A whole WebSocket text frame as a server sends it (RFC 6455 section 5.2): FIN and opcode 1, no mask, the
 * payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits, then the payload. Written as is to a
 * socket whose WebSocket layer has nothing queued (no compression), it is what `ws.send` would write.
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/**
 * Sends a broadcast to every recipient in its audience with that recipient's next seq. The frame is
 * serialised and encoded once (per distinct seq, see encodeBroadcast); `write` gets the bytes to send
 * as a text frame.
 */
export function fanOut<R extends Recipient>(recipients: Iterable<R>, { audience, frame }: Broadcast, write: (recipient: R, data: Buffer) => void): void {
  const encoded = encodeBroadcast(frame);
  for (const recipient of recipients) {
    if (reaches(recipient, audience)) write(recipient, encoded.at(++recipient.seq));
  }
}
