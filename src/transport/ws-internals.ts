// What the gateway needs of `ws` beyond its public API, in one place: the payload limit after the
// handshake, the TCP socket underneath (its drain event, and whole frames written to it), and the close
// code ws fails a socket with for each protocol error it detects.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../machines/protocol.js';

/**
 * The close code ws fails a socket with for each protocol error it detects (it closes at once, with no
 * reason): what the peer sees, and so what the log says.
 */
export const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: CloseCode.invalidPayload,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.messageTooBig,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CloseCode.messageTooBig,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CloseCode.policyViolation,
  WS_ERR_INVALID_OPCODE: CloseCode.protocolError,
  WS_ERR_UNEXPECTED_RSV_1: CloseCode.protocolError,
  WS_ERR_UNEXPECTED_RSV_2_3: CloseCode.protocolError,
  WS_ERR_EXPECTED_FIN: CloseCode.protocolError,
  WS_ERR_EXPECTED_MASK: CloseCode.protocolError,
  WS_ERR_UNEXPECTED_MASK: CloseCode.protocolError,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: CloseCode.protocolError,
  WS_ERR_INVALID_CLOSE_CODE: CloseCode.protocolError,
};

/** The ws error of a frame above the payload limit in force. */
export const WS_FRAME_TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

type Internals = { _socket?: Duplex & { writableNeedDrain?: boolean }; _receiver?: { _maxPayload?: number } };
const internals = (ws: WebSocket) => ws as unknown as Internals;

/** ws keeps the payload limit on its receiver; raising it after the handshake lifts the pre-auth cap. */
export function raisePayloadLimit(ws: WebSocket, limit: number): void {
  const receiver = internals(ws)._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = limit;
}

/** ws keeps the TCP socket private; its drain event says the write buffer is empty again. */
export function onceSocketDrained(ws: WebSocket, callback: () => void): boolean {
  const raw = internals(ws)._socket;
  if (!raw?.writableNeedDrain) return false;
  raw.once('drain', callback);
  return true;
}

/**
 * The TCP socket under a WebSocket, where whole frames built once for many sockets may be written: the
 * server compresses nothing and the gateway sends no Blobs, so ws never has a frame queued that one
 * written past it could overtake.
 */
export function rawSocketOf(ws: WebSocket): Duplex | undefined {
  return internals(ws)._socket;
}
