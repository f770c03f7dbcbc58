// What the gateway writes to a peer that reads slower than it is sent to. Per socket, on the bytes
// its WebSocket has buffered and not yet handed to the kernel:
// - above the high watermark, droppable frames (presence, health) are held, one per kind, the newest
//   replacing the older, and sent once the socket is back under the low watermark;
// - everything else (responses, tick, targeted events) is always written, never dropped;
// - above the hard limit the peer is a slow consumer and the socket is closed (1008).
// No timer: held frames go out when the socket drains, or at the next write or relieve() call.
import type { FrameSink } from '../transport/types.js';

export interface Watermarks {
  /** Above this many buffered bytes droppable frames are held (coalesced to the newest). */
  highWaterBytes: number;
  /** Held frames are sent once the buffer is back at or under this many bytes. */
  lowWaterBytes: number;
  /** Above this many buffered bytes the peer is closed as a slow consumer. */
  maxBufferedBytes: number;
}

/** Events a congested socket may skip: a newer one of the same kind tells the whole story. */
export const DROPPABLE_EVENTS: ReadonlySet<string> = new Set(['presence', 'health']);

/** Where frames go: a socket's write side (a `ws` WebSocket is one). */
export interface OutboundSink {
  readonly bufferedAmount: number;
  /** 1 (OPEN) while frames may be written. */
  readonly readyState: number;
  /** Buffers are sent as text frames too (`binary: false`): a broadcast is encoded once for many sockets. */
  send(data: string | Buffer, options: { binary: boolean }): void;
}

const OPEN = 1;
const TEXT = { binary: false };

/** What the writer keeps per socket, on the gateway's record of it. */
export interface OutboundState {
  readonly socket: OutboundSink;
  /**
   * The TCP socket under `socket`, when broadcasts may be written to it as frames built once for every socket
   * (the WebSocket layer compresses nothing and queues nothing): one write per socket, no framing each time.
   */
  frames?: FrameSink;
  /** Droppable frames held while congested, by kind; each renders its frame when it is finally sent. */
  held?: Map<string, () => string | Buffer>;
  /** Waiting for the socket's drain event. */
  awaitingDrain?: boolean;
  /** Found above the hard limit once: it is being closed. */
  slow?: boolean;
}

export interface BackpressureHooks {
  /** The socket went above the hard limit; called once per socket. */
  onSlowConsumer(state: OutboundState, bufferedBytes: number, limit: number): void;
  /** Calls back once when the socket's write buffer has drained; false when no drain is coming. */
  onceDrained(state: OutboundState, callback: () => void): boolean;
  /** The socket starts holding droppable frames (once per episode, for logs). */
  onCongested?(state: OutboundState, bufferedBytes: number): void;
}

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
  ) {
    checkWatermarks(marks);
  }

  /** A frame that is never dropped: written now, whatever the buffer holds. */
  write(state: OutboundState, data: string | Buffer): void {
    if (state.socket.readyState !== OPEN) return;
    state.socket.send(data, TEXT);
    this.afterWrite(state);
  }

  /**
   * A droppable frame of kind `kind`: written now when the socket is not congested, else held as the
   * newest of its kind. `render` builds the frame when it is actually sent (so a per-socket seq is
   * taken only by frames that go out).
   */
  offer(state: OutboundState, kind: string, render: () => string | Buffer): void {
    if (this.mustHold(state)) this.hold(state, kind, render);
    else this.write(state, render());
  }

  /**
   * Whether a droppable frame must be held now: the socket is above its high watermark, or still holds
   * frames and has not drained to its low watermark. (Lets a caller build a frame only when it is sent.)
   */
  mustHold(state: OutboundState): boolean {
    if (state.held !== undefined) this.relieve(state);
    return state.held !== undefined || state.socket.bufferedAmount > this.marks.highWaterBytes;
  }

  /** Holds a droppable frame as the newest of its kind, to be sent once the socket drains. */
  hold(state: OutboundState, kind: string, render: () => string | Buffer): void {
    if (state.socket.readyState !== OPEN) return;
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
    if (held === undefined || state.socket.readyState !== OPEN) return;
    if (state.socket.bufferedAmount > this.marks.lowWaterBytes) {
      this.watchDrain(state);
      return;
    }
    state.held = undefined;
    for (const render of held.values()) state.socket.send(render(), TEXT);
    this.afterWrite(state);
  }

  /**
   * One socket's share of a fan-out, the hot path: `render(recipient, framed)` builds the frame only when
   * it is sent, as a whole WebSocket frame for `state.frames` when there is one (else the payload). A droppable `kind` is held while the socket is congested; without one the frame is always
   * written. The socket's buffer is read once, and checked against the hard limit again only when this
   * write may have crossed it.
   */
  broadcast<R>(state: OutboundState, kind: string | undefined, render: (recipient: R, framed: boolean) => Buffer, recipient: R): void {
    const sink = state.socket;
    if (sink.readyState !== OPEN) return;
    if (state.held !== undefined) {
      if (kind === undefined) this.write(state, render(recipient, false));
      else this.offer(state, kind, () => render(recipient, false));
      return;
    }
    const buffered = sink.bufferedAmount;
    if (kind !== undefined && buffered > this.marks.highWaterBytes) {
      this.hold(state, kind, () => render(recipient, false));
      return;
    }
    const frames = state.frames;
    const data = render(recipient, frames !== undefined);
    if (frames !== undefined) frames.write(data);
    else sink.send(data, TEXT);
    // 14 bytes: the most a WebSocket frame header adds.
    if (buffered + data.length + 14 > this.marks.maxBufferedBytes) this.afterWrite(state);
  }

  /** Frames held for this socket now. */
  heldCount(state: OutboundState): number {
    return state.held?.size ?? 0;
  }

  private afterWrite(state: OutboundState): void {
    const buffered = state.socket.bufferedAmount;
    if (buffered > this.marks.maxBufferedBytes) {
      if (!state.slow) {
        state.slow = true;
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
