// What goes out to the sockets: single frames (responses, targeted events), never dropped, and broadcasts
// fanned out to the ready sockets of their audience, each numbered with the socket's own seq, through
// the backpressure rules. `FanOutAdapter` is the seam where broadcasts leave this gateway: the local
// adapter writes them to this gateway's sockets; a cluster's would also carry them to the others.
import type { OutboundFrame } from '../../machines/protocol.js';
import { Backpressure, whenCongested, type OutboundState } from './backpressure.js';
import { reaches, type Broadcast, type Recipient } from './broadcasts.js';
import { encodeBroadcast } from './frames.js';

/** A socket as the outbound side sees it: its write state, who it is, its seq. */
export interface OutboundConnection extends OutboundState, Recipient {}

/** Where broadcasts go. */
export interface FanOutAdapter {
  broadcast(broadcast: Broadcast): void;
}

export class Outbound<C extends OutboundConnection> {
  /** The size of the last presence frame sent: with the number of ready sockets, what the next presence window costs. */
  presenceFrameBytes = 0;

  constructor(
    readonly backpressure: Backpressure,
    /** The ready sockets, which broadcasts go to. */
    private readonly recipients: () => Iterable<C>,
  ) {}

  /** A frame for one socket (a response, a targeted event): written whatever the socket's buffer holds. */
  send(connection: C, frame: OutboundFrame): void {
    this.backpressure.write(connection, JSON.stringify(frame));
  }

  /** A frame already serialised. */
  write(connection: C, text: string): void {
    this.backpressure.write(connection, text);
  }

  /**
   * Sends a broadcast to every ready socket in its audience with that socket's next seq, serialised and
   * encoded once: each socket is written a head of its own and the body they all share (see encodeBroadcast).
   * A socket that skips it (a congested socket and a node event) has its seq moved past it, so that the
   * peer sees the gap. Returns how many sockets it went to.
   */
  fanOut({ audience, frame }: Broadcast): number {
    const encoded = encodeBroadcast(frame);
    if (frame.event === 'presence') this.presenceFrameBytes = encoded.bytes;
    const congested = whenCongested(frame.event);
    this.backpressure.buffers?.check();
    // Each socket numbers what it is actually sent: a frame held back takes its seq when it goes out.
    const render = (socket: C, framed: boolean) => (framed ? encoded.framedAt(++socket.seq) : encoded.at(++socket.seq));
    let reached = 0;
    for (const socket of this.recipients()) {
      if (!reaches(socket, audience)) continue;
      if (this.backpressure.broadcast(socket, congested, render, socket) === 'skipped') socket.seq += 1;
      reached += 1;
    }
    return reached;
  }
}

/** The adapter of a gateway on its own: broadcasts go to its own sockets. */
export function localFanOut(outbound: Outbound<OutboundConnection>): FanOutAdapter {
  return { broadcast: (broadcast) => void outbound.fanOut(broadcast) };
}
