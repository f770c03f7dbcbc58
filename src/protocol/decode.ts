// Turns what arrives on a socket into the connection machine's events. Every frame is scanned before it is
// parsed (./frame-scan.ts): one over the limits on nesting, containers, values, or its method's size is
// refused without ever being parsed.
import type { ConnectionEvent } from '../../machines/connection.js';
import { DetailCode, ProtocolLimits, type ConnectParams, type Role } from '../../machines/protocol.js';
import { scanFrame, type FrameScan, type FrameScanLimits } from './frame-scan.js';
import { ConnectParamsCheck, RequestFrameCheck, firstSchemaError } from './schema.js';

/** The scan's limits: the frame object is level 1, its params level 2. */
export const FRAME_SCAN_LIMITS: FrameScanLimits = Object.freeze({
  maxDepth: ProtocolLimits.maxParamsDepth + 1,
  maxContainers: ProtocolLimits.maxFrameContainers,
  maxValues: ProtocolLimits.maxFrameValues,
});

/** A refused frame's id is echoed only when it is at most this long (else the frame is answered as one without an id). */
const MAX_ECHOED_ID_LENGTH = 1_024;
const MAX_METHOD_NAME_LENGTH = 128;

/** Who sends a frame, as far as its size limit goes. */
export interface FrameCaller {
  readonly role: Role | undefined;
  readonly scopes: readonly string[];
}

export interface MethodFrameLimits {
  /** The largest frame (UTF-8 bytes) a caller may send for a method (undefined: the frame names none). */
  maxFrameBytes(method: string | undefined, caller: FrameCaller): number;
  /** The largest frame a caller may send at all: its socket's limit, and hello-ok's `policy.maxPayload`. */
  maxPayloadFor(caller: FrameCaller): number;
}

function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/** The top-level id the scan found, unescaped; undefined when there is none, it is empty or too long to echo. */
function scannedId(bytes: Buffer, scan: FrameScan): string | undefined {
  const { idStart, idEnd } = scan;
  if (idStart < 0 || idEnd <= idStart || idEnd - idStart > MAX_ECHOED_ID_LENGTH) return undefined;
  const raw = bytes.toString('utf8', idStart, idEnd);
  if (!raw.includes('\\')) return raw;
  try {
    const id: unknown = JSON.parse(`"${raw}"`);
    return typeof id === 'string' && id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The top-level method the scan found, when it is spelled without escapes and short enough to be a method. */
function scannedMethod(bytes: Buffer, scan: FrameScan): string | undefined {
  const { methodStart, methodEnd } = scan;
  if (methodStart < 0 || methodEnd - methodStart > MAX_METHOD_NAME_LENGTH) return undefined;
  const method = bytes.toString('utf8', methodStart, methodEnd);
  return method.includes('\\') ? undefined : method;
}

function refused(bytes: Buffer, scan: FrameScan, message: string, details: Record<string, unknown>): ConnectionEvent {
  const id = scannedId(bytes, scan);
  return id === undefined ? { type: 'frame.malformed', message, details } : { type: 'frame.malformed', id, message, details };
}

/** The refusal of a frame over the scan's limits or its method's size, or undefined when it may be parsed. */
function refusal(bytes: Buffer, scan: FrameScan, limits: MethodFrameLimits | undefined, caller: FrameCaller | undefined): ConnectionEvent | undefined {
  switch (scan.exceeded) {
    case 'depth':
      return refused(bytes, scan, 'params too deeply nested', { code: DetailCode.PARAMS_TOO_DEEP, maxDepth: ProtocolLimits.maxParamsDepth });
    case 'containers':
    case 'values': {
      const details = { code: DetailCode.FRAME_TOO_COMPLEX, maxContainers: ProtocolLimits.maxFrameContainers, maxValues: ProtocolLimits.maxFrameValues };
      return refused(bytes, scan, 'frame too complex', details);
    }
  }
  if (!limits || !caller || bytes.length <= ProtocolLimits.smallFrameBytes) return undefined;
  const method = scannedMethod(bytes, scan);
  const maxBytes = limits.maxFrameBytes(method, caller);
  if (bytes.length <= maxBytes) return undefined;
  const details = method === undefined ? { code: DetailCode.FRAME_TOO_LARGE_FOR_METHOD, maxBytes } : { code: DetailCode.FRAME_TOO_LARGE_FOR_METHOD, method, maxBytes };
  return refused(bytes, scan, `frame too large for ${method ?? 'a request without a method'}: more than ${maxBytes} bytes`, details);
}

/**
 * The event for a text frame (its UTF-8 bytes as they came, or a string). `limits` and `caller` (a ready
 * connection's) give each method its largest frame; without them (in the handshake, where the socket's own
 * limit is small) only the scan's limits apply. Only a frame within them is made a string and parsed.
 */
export function decodeTextFrame(data: Buffer | string, limits?: MethodFrameLimits, caller?: FrameCaller): ConnectionEvent {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const scan = scanFrame(bytes, FRAME_SCAN_LIMITS);
  const refusedEvent = refusal(bytes, scan, limits, caller);
  if (refusedEvent) return refusedEvent;
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : bytes.toString('utf8'));
  } catch {
    return { type: 'frame.malformed', message: 'malformed JSON' };
  }
  if (!RequestFrameCheck.Check(value)) {
    const id = requestIdOf(value);
    const message = `invalid request frame: ${firstSchemaError(RequestFrameCheck, value)}`;
    return id === undefined ? { type: 'frame.malformed', message } : { type: 'frame.malformed', id, message };
  }
  const { id, method, params } = value;
  if (method !== 'connect') return { type: 'frame.request', id, method, params };
  if (!ConnectParamsCheck.Check(params)) {
    return { type: 'frame.connectInvalid', id, message: `invalid connect params: ${firstSchemaError(ConnectParamsCheck, params)}` };
  }
  return { type: 'frame.connect', id, params: params as ConnectParams };
}

/** Whether an event is a frame refused before it was parsed (it carries the refusal's details). */
export function isRefusedFrame(event: ConnectionEvent): event is Extract<ConnectionEvent, { type: 'frame.malformed' }> & { details: { code: string } } {
  return event.type === 'frame.malformed' && event.details !== undefined;
}

export const binaryFrameEvent: ConnectionEvent = { type: 'frame.malformed', message: 'binary frames are not supported' };
