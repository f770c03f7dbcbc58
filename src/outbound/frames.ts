// A broadcast frame serialised and encoded once for every socket it goes to, and framed as a whole
// WebSocket frame once per distinct seq, so that a fan-out writes one buffer per socket and builds few.
import type { EventFrame } from '../../machines/protocol.js';

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

