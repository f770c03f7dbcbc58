// What the gateway writes to a peer that reads slower than it is sent to. Per socket, on the bytes
// its WebSocket has buffered and not yet handed to the kernel:
// - above the high watermark, coalesced frames (presence, health) are held, one per kind, the newest
//   replacing the older, and sent once the socket is back under the low watermark; skippable frames
//   (node.event) are not sent at all, and the socket's seq skips them, so the peer sees the gap;
// - everything else (responses, tick, targeted events) is always written, never dropped;
// - above the hard limit the peer is a slow consumer: nothing more is written and the socket is terminated.
// Gateway-wide, the bytes buffered for every socket together (a body shared by many sockets counted once)
// are kept under a cap by the GatewayBuffers (budget.ts): past three quarters of it, every socket with more
// than its low watermark buffered is treated as congested; past it, the largest consumers are terminated.
// No timer: held frames go out when the socket drains, or at the next write or relieve() call.
import type { FrameSink } from '../transport/types.js';
import type { GatewayBuffers } from './budget.js';
import type { EncodedBroadcast, SharedFrame } from './frames.js';

export interface Watermarks {
  /** Above this many buffered bytes droppable frames are held (coalesced to the newest) or skipped. */
  highWaterBytes: number;
  /** Held frames are sent once the buffer is back at or under this many bytes. */
  lowWaterBytes: number;
  /** Above this many buffered bytes the peer is terminated as a slow consumer. */
  maxBufferedBytes: number;
}

/** Events a congested socket is sent the newest of, once it drains: a newer one of the same kind tells the whole story. */
export const DROPPABLE_EVENTS: ReadonlySet<string> = new Set(['presence', 'health']);

/** Events a congested socket is not sent at all: its seq skips them, so the peer knows it missed some. */
export const SKIPPED_WHEN_CONGESTED: ReadonlySet<string> = new Set(['node.event']);

/** What a broadcast does for a congested socket: held (the newest of its kind), skipped, or written anyway. */
export type Congested = { hold: string } | 'skip' | undefined;

export function whenCongested(event: string): Congested {
  if (DROPPABLE_EVENTS.has(event)) return { hold: event };
  return SKIPPED_WHEN_CONGESTED.has(event) ? 'skip' : undefined;
}

/** Where frames go: a socket's write side (a `ws` WebSocket is one). */
export interface OutboundSink {
  readonly bufferedAmount: number;
  /** 1 (OPEN) while frames may be written. */
  readonly readyState: number;
  /** Buffers are sent as text frames too (`binary: false`). */
  send(data: string | Buffer, options: { binary: boolean }): void;
}

const OPEN = 1;
const TEXT = { binary: false };

/** A frame to write: text or bytes for the WebSocket, or a broadcast's own head and shared body for `frames`. */
export type Outgoing = string | Buffer | SharedFrame;

/** What the writer keeps per socket, on the gateway's record of it. */
export interface OutboundState {
  readonly socket: OutboundSink;
  /**
   * The TCP socket under `socket`, when broadcasts may be written to it as whole frames (the WebSocket layer
   * compresses nothing and queues nothing): a head of the socket's own and a body shared by every socket.
   */
  frames?: FrameSink | undefined;
  /** Droppable frames held while congested, by kind; each renders its frame when it is finally sent. */
  held?: Map<string, () => Outgoing> | undefined;
  /** Waiting for the socket's drain event. */
  awaitingDrain?: boolean;
  /** Found above the hard limit, or terminated to bring the gateway under its cap: nothing more is written. */
  slow?: boolean;
  /** Bytes of shared bodies (counted once gateway-wide) that this socket's buffers hold now. */
  sharedBytes?: number;
  /** The shared bodies this socket's buffers hold now. */
  sharedBodies?: Set<EncodedBroadcast> | undefined;
}

export interface BackpressureHooks {
  /** The socket went above the hard limit; called once per socket. */
  onSlowConsumer(state: OutboundState, bufferedBytes: number, limit: number): void;
  /** Calls back once when the socket's write buffer has drained; false when no drain is coming. */
  onceDrained(state: OutboundState, callback: () => void): boolean;
  /** The socket starts holding droppable frames (once per episode, for logs). */
  onCongested?(state: OutboundState, bufferedBytes: number): void;
}

/**
 * What a broadcast did for one socket: written, held for when it drains, skipped (never to be sent: the
 * socket's seq is to skip it), or nothing (the socket is closing).
 */
export type Delivery = 'sent' | 'held' | 'skipped' | 'none';

export function checkWatermarks(marks: Watermarks): void {
  const { highWaterBytes, lowWaterBytes, maxBufferedBytes } = marks;
  if (!(lowWaterBytes >= 0 && lowWaterBytes < highWaterBytes && highWaterBytes <= maxBufferedBytes)) {
    throw new RangeError(
      `watermarks must satisfy low < high <= max buffered bytes, got low ${lowWaterBytes}, high ${highWaterBytes}, max ${maxBufferedBytes}`,
    );
  }
}

export class Backpressure {
  constructor(
    readonly marks: Watermarks,
    private readonly hooks: BackpressureHooks,
    /** The gateway-wide cap, when there is one. */
    readonly buffers?: GatewayBuffers,
  ) {
    checkWatermarks(marks);
  }

  /** A frame that is never dropped: written now, whatever the buffer holds. */
  write(state: OutboundState, data: string | Buffer): void {
    if (state.socket.readyState !== OPEN || state.slow) return;
    state.socket.send(data, TEXT);
    this.buffers?.added(data.length);
    this.afterWrite(state);
  }

  /**
   * A droppable frame of kind `kind`: written now when the socket is not congested, else held as the
   * newest of its kind. `render` builds the frame when it is actually sent (so a per-socket seq is
   * taken only by frames that go out).
   */
  offer(state: OutboundState, kind: string, render: () => Outgoing): void {
    if (this.mustHold(state)) this.hold(state, kind, render);
    else this.emit(state, render());
  }

  /**
   * Whether a droppable frame must be held now: the socket is congested, or still holds frames and has not
   * drained to its low watermark. (Lets a caller build a frame only when it is sent.)
   */
  mustHold(state: OutboundState): boolean {
    if (state.held !== undefined) this.relieve(state);
    return state.held !== undefined || this.congested(state.socket.bufferedAmount);
  }

  /** Holds a droppable frame as the newest of its kind, to be sent once the socket drains. */
  hold(state: OutboundState, kind: string, render: () => Outgoing): void {
    if (state.socket.readyState !== OPEN || state.slow) return;
    if (state.held === undefined) {
      state.held = new Map();
      this.hooks.onCongested?.(state, state.socket.bufferedAmount);
    }
    state.held.delete(kind); // re-inserted last: held frames go out in the order of their newest
    state.held.set(kind, render);
    this.watchDrain(state);
  }

  /** Sends the held frames when the socket is back under the low watermark. Safe to call any time. */
  relieve(state: OutboundState): void {
    const held = state.held;
    if (held === undefined || state.socket.readyState !== OPEN || state.slow) return;
    if (state.socket.bufferedAmount > this.marks.lowWaterBytes) {
      this.watchDrain(state);
      return;
    }
    state.held = undefined;
    for (const render of held.values()) this.put(state, render());
    this.afterWrite(state);
  }

  /**
   * One socket's share of a fan-out, the hot path: `render(recipient, framed)` builds the frame only when
   * it is sent (taking the socket's next seq), as a head and the shared body for `state.frames` when there
   * is one, else as the whole payload. While the socket is congested a frame is held or skipped as
   * `congested` says; without either it is always written. The socket's buffer is read once, and checked
   * against the hard limit again only when this write may have crossed it.
   */
  broadcast<R>(state: OutboundState, congested: Congested, render: (recipient: R, framed: boolean) => Outgoing, recipient: R): Delivery {
    const sink = state.socket;
    if (sink.readyState !== OPEN || state.slow) return 'none';
    if (state.held !== undefined) {
      if (congested === undefined) this.emit(state, render(recipient, state.frames !== undefined));
      else if (congested === 'skip') return this.mustHold(state) ? 'skipped' : this.emit(state, render(recipient, state.frames !== undefined));
      else this.offer(state, congested.hold, () => render(recipient, state.frames !== undefined));
      return 'sent';
    }
    const buffered = sink.bufferedAmount;
    if (congested !== undefined && this.congested(buffered)) {
      if (congested === 'skip') return 'skipped';
      this.hold(state, congested.hold, () => render(recipient, state.frames !== undefined));
      return 'held';
    }
    const written = this.put(state, render(recipient, state.frames !== undefined));
    // 14 bytes: the most a WebSocket frame header adds.
    if (buffered + written + 14 > this.marks.maxBufferedBytes) this.afterWrite(state);
    return 'sent';
  }

  /** Frames held for this socket now. */
  heldCount(state: OutboundState): number {
    return state.held?.size ?? 0;
  }

  /** Above the high watermark, or above the low one while the gateway as a whole sheds. */
  private congested(buffered: number): boolean {
    return buffered > this.marks.highWaterBytes || (buffered > this.marks.lowWaterBytes && this.buffers?.shedding === true);
  }

  /** Writes a frame and then checks the socket's limits. */
  private emit(state: OutboundState, frame: Outgoing): 'sent' | 'none' {
    if (state.socket.readyState !== OPEN || state.slow) return 'none';
    this.put(state, frame);
    this.afterWrite(state);
    return 'sent';
  }

  /** Writes a frame, with no checks; returns the bytes written. */
  private put(state: OutboundState, frame: Outgoing): number {
    if (typeof frame === 'string' || Buffer.isBuffer(frame)) {
      state.socket.send(frame, TEXT);
      this.buffers?.added(frame.length);
      return frame.length;
    }
    const frames = state.frames!;
    const { head, body } = frame;
    if (body.length === 0) {
      frames.write(head);
      this.buffers?.added(head.length);
      return head.length;
    }
    const release = this.buffers?.holds(state, frame.encoded);
    // One vectored write: ws does the same for a frame of its own (its header, then the data).
    frames.cork();
    frames.write(head);
    if (release === undefined) frames.write(body);
    else frames.write(body, release);
    frames.uncork();
    this.buffers?.added(head.length);
    return head.length + body.length;
  }

  private afterWrite(state: OutboundState): void {
    const buffered = state.socket.bufferedAmount;
    if (buffered > this.marks.maxBufferedBytes) {
      if (!state.slow) {
        state.slow = true;
        state.held = undefined;
        this.hooks.onSlowConsumer(state, buffered, this.marks.maxBufferedBytes);
      }
      return;
    }
    if (state.held !== undefined && buffered <= this.marks.lowWaterBytes) this.relieve(state);
  }

  private watchDrain(state: OutboundState): void {
    if (state.awaitingDrain) return;
    const armed = this.hooks.onceDrained(state, () => {
      state.awaitingDrain = false;
      this.relieve(state);
    });
    // Without a drain to come (the buffer sits below the socket's own high-water mark), the next write
    // or the gateway's next relieve() round sends what is held.
    if (armed) state.awaitingDrain = true;
  }
}
