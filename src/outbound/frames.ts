// A broadcast frame serialised and encoded once for every socket it goes to, whatever their seqs: each socket
// is written its own small head (the WebSocket frame header, the frame's type and event, and its seq) and
// the body every socket shares, so a fan-out to N sockets at N different seqs holds one copy of the body.
import type { EventFrame } from '../../machines/protocol.js';

/**
 * A broadcast for one socket as two buffers written back to back: `head`, that socket's own (built once per
 * distinct seq), and `body`, the same Buffer for every socket. A small frame is whole in `head` (its body empty):
 * one buffer per distinct seq costs less to write than two, and little to build.
 */
export interface SharedFrame {
  readonly head: Buffer;
  readonly body: Buffer;
  readonly encoded: EncodedBroadcast;
}

/**
 * A broadcast frame serialised and UTF-8 encoded once. Its text at seq N is what `JSON.stringify` gives for
 * `{type, event, seq: N, ...the rest of the frame}`: the seq goes right after the event name, so that what
 * differs between sockets is a short head and the rest, the payload, is shared.
 */
export interface EncodedBroadcast {
  /** The whole payload (the JSON text) at that seq, as one buffer: for a socket written through its WebSocket. */
  at(seq: number): Buffer;
  /** The frame at that seq as a whole WebSocket text frame: a head of its own and the shared body. */
  framedAt(seq: number): SharedFrame;
  /** The part every socket shares, written as is after each socket's head. */
  readonly body: Buffer;
  /** Distinct heads built so far. */
  readonly encodings: number;
  /** The frame's size without its seq. */
  readonly bytes: number;
  /** Sockets whose buffers hold the body now, as the gateway's buffer budget counts them (budget.ts). */
  holders: number;
}

/** The text of `{type, event}` without its closing brace, and the rest of the frame as text that follows the seq. */
/** Below this many bytes a body is copied into each seq's whole frame rather than shared. */
export const SHARED_BODY_BYTES = 8 * 1024;

const EMPTY = Buffer.alloc(0);

function split(frame: EventFrame): { head: string; rest: string } {
  const { type, event, ...others } = frame;
  const head = `{"type":${JSON.stringify(type)},"event":${JSON.stringify(event)}`;
  const othersJson = JSON.stringify(others);
  // `{}` when the frame has nothing else, else `{"payload":...}`: the fields follow the seq after a comma.
  return { head, rest: othersJson.length === 2 ? '}' : `,${othersJson.slice(1)}` };
}

export function encodeBroadcast(frame: EventFrame): EncodedBroadcast {
  const parts = split(frame);
  const headText = parts.head;
  const body = Buffer.from(parts.rest);
  const headBySeq = new Map<number, SharedFrame>();
  const payloadBySeq = new Map<number, Buffer>();
  const bytesWithoutSeq = Buffer.byteLength(headText) + body.length;
  const encoded: EncodedBroadcast = {
    at(seq) {
      let payload = payloadBySeq.get(seq);
      if (payload === undefined) {
        payload = Buffer.concat([Buffer.from(`${headText},"seq":${seq}`), body]);
        payloadBySeq.set(seq, payload);
      }
      return payload;
    },
    framedAt(seq) {
      let shared = headBySeq.get(seq);
      if (shared === undefined) {
        shared =
          body.length < SHARED_BODY_BYTES
            ? { head: textFrame(encoded.at(seq)), body: EMPTY, encoded }
            : { head: framedHead(`${headText},"seq":${seq}`, body.length), body, encoded };
        headBySeq.set(seq, shared);
      }
      return shared;
    },
    body,
    get encodings() {
      return headBySeq.size;
    },
    bytes: bytesWithoutSeq,
    holders: 0,
  };
  return encoded;
}

/** The header of a WebSocket text frame whose payload is `head` then `bodyBytes` more, and `head` after it. */
function framedHead(head: string, bodyBytes: number): Buffer {
  const headBytes = Buffer.byteLength(head);
  const length = headBytes + bodyBytes;
  const headerLength = frameHeaderLength(length);
  const buffer = Buffer.allocUnsafe(headerLength + headBytes);
  writeFrameHeader(buffer, length);
  buffer.write(head, headerLength);
  return buffer;
}

function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/**
 * The header of a WebSocket text frame as a server sends it (RFC 6455 section 5.2): FIN and opcode 1, no
 * mask, the payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits.
 */
function writeFrameHeader(buffer: Buffer, length: number): void {
  buffer[0] = 0x81;
  if (length < 126) {
    buffer[1] = length;
  } else if (length < 65_536) {
    buffer[1] = 126;
    buffer.writeUInt16BE(length, 2);
  } else {
    buffer[1] = 127;
    buffer.writeBigUInt64BE(BigInt(length), 2);
  }
}

/**
 * A whole WebSocket text frame as a server sends it. Written as is to a socket whose WebSocket layer has
 * nothing queued (no compression), it is what `ws.send` would write.
 */
export function textFrame(payload: Buffer): Buffer {
  const headerLength = frameHeaderLength(payload.length);
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  writeFrameHeader(frame, payload.length);
  payload.copy(frame, headerLength);
  return frame;
}
