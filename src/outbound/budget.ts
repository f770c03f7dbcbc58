// The gateway-wide cap on bytes buffered for every socket together. A socket's own limit (maxBufferedBytes)
// bounds what one peer can pile up; this bounds them all at once, counting a broadcast body that many
// sockets hold (the same Buffer, frames.ts) once. Past three quarters of the cap the gateway sheds: every
// socket with more than its low watermark buffered is treated as congested (presence and health are held,
// node events skipped). Past the cap the largest consumers are terminated until the bytes buffered would
// be back under three quarters.
//
// Sockets' buffers drain without telling anyone, so the total is read from them (a pass over every socket)
// only when the running estimate, which every write adds to and nothing takes from, says it may be near the
// cap: a pass per quarter of the cap written while well under it, and at most one per fan-out or per 100 ms
// while shedding.
import type { OutboundState } from './backpressure.js';
import type { EncodedBroadcast } from './frames.js';

/** Bodies at least this large are shared with a count of their holders; smaller ones count per socket. */
export const COUNTED_BODY_BYTES = 16 * 1024;

/** While shedding, the sockets are read again at least this often (at the next fan-out or write). */
const SHEDDING_RECHECK_MS = 100;

export interface GatewayBuffersHooks {
  /** Every socket whose buffers count. */
  sockets(): Iterable<OutboundState>;
  /** Terminate this socket, the largest consumer left, to bring the total under the cap (once per socket). */
  onLargestConsumer(state: OutboundState, bufferedBytes: number, totalBytes: number, limit: number): void;
  /** The gateway starts or stops shedding (for logs). */
  onShedding?(shedding: boolean, totalBytes: number, limit: number): void;
  now?(): number;
}

export class GatewayBuffers {
  /** Past this many bytes droppable frames are shed. */
  readonly shedBytes: number;
  /** Whether the gateway sheds now: past `shedBytes` when the sockets were last read. */
  shedding = false;
  /** Bytes buffered as last read from the sockets, plus everything written since. */
  private estimate = 0;
  private readBytes = 0;
  private readAt = 0;
  /** Bytes of counted bodies held by at least one socket, each counted once. */
  private sharedBytes = 0;
  private readonly now: () => number;

  constructor(
    readonly limitBytes: number,
    private readonly hooks: GatewayBuffersHooks,
  ) {
    this.shedBytes = Math.floor((limitBytes * 3) / 4);
    this.now = hooks.now ?? (() => performance.now());
  }

  /** `bytes` more were handed to some socket. */
  added(bytes: number): void {
    this.estimate += bytes;
    if (this.estimate > this.limitBytes && this.estimate - this.readBytes > this.step()) this.check();
  }

  /**
   * A socket's buffers take `encoded`'s body: counted once however many sockets hold it. Returns what to call
   * once the socket has written it (or was destroyed), or undefined for a body too small to count apart.
   */
  holds(state: OutboundState, encoded: EncodedBroadcast): (() => void) | undefined {
    const bytes = encoded.body.length;
    if (bytes < COUNTED_BODY_BYTES) {
      this.estimate += bytes;
      return undefined;
    }
    if (encoded.holders++ === 0) {
      this.sharedBytes += bytes;
      this.estimate += bytes;
    }
    state.sharedBytes = (state.sharedBytes ?? 0) + bytes;
    (state.sharedBodies ??= new Set()).add(encoded);
    return () => {
      state.sharedBytes! -= bytes;
      state.sharedBodies?.delete(encoded);
      if (--encoded.holders === 0) this.sharedBytes -= bytes;
    };
  }

  /** Before a fan-out: reads the sockets when the estimate says the total may be past the shedding mark. */
  check(): void {
    if (this.estimate <= this.shedBytes) {
      this.setShedding(false, this.estimate);
      return;
    }
    const fresh = this.estimate - this.readBytes < this.step() && this.now() - this.readAt < SHEDDING_RECHECK_MS;
    if (fresh && this.estimate <= this.limitBytes) return;
    this.read();
  }

  /** The bytes buffered now, every socket read (shared bodies once). */
  total(): number {
    let own = 0;
    for (const state of this.hooks.sockets()) own += ownBytes(state);
    return own + this.sharedBytes;
  }

  private step(): number {
    return Math.max(1, Math.floor((this.limitBytes - this.shedBytes) / 4));
  }

  private read(): void {
    const total = this.total();
    this.estimate = total;
    this.readBytes = total;
    this.readAt = this.now();
    this.setShedding(total > this.shedBytes, total);
    if (total > this.limitBytes) this.terminateLargest(total);
  }

  private setShedding(shedding: boolean, total: number): void {
    if (shedding === this.shedding) return;
    this.shedding = shedding;
    this.hooks.onShedding?.(shedding, total, this.limitBytes);
  }

  /** Terminates the largest consumers until what they free would bring the total under the shedding mark. */
  private terminateLargest(total: number): void {
    const consumers: { state: OutboundState; buffered: number }[] = [];
    for (const state of this.hooks.sockets()) {
      if (!state.slow && state.socket.readyState === 1) consumers.push({ state, buffered: state.socket.bufferedAmount });
    }
    consumers.sort((a, b) => b.buffered - a.buffered);
    // What each termination frees: the socket's own bytes, and the bodies no other socket left holds.
    const holdersLeft = new Map<EncodedBroadcast, number>();
    let projected = total;
    for (const { state, buffered } of consumers) {
      if (projected <= this.shedBytes) break;
      let freed = ownBytes(state);
      for (const encoded of state.sharedBodies ?? []) {
        const left = (holdersLeft.get(encoded) ?? encoded.holders) - 1;
        holdersLeft.set(encoded, left);
        if (left === 0) freed += encoded.body.length;
      }
      state.slow = true;
      state.held = undefined;
      this.hooks.onLargestConsumer(state, buffered, total, this.limitBytes);
      projected -= freed;
    }
    this.estimate = Math.max(0, projected);
  }
}

/** A socket's buffered bytes that are its own (not counted bodies, which count once for all). */
function ownBytes(state: OutboundState): number {
  return Math.max(0, state.socket.bufferedAmount - (state.sharedBytes ?? 0));
}
