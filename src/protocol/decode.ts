// Turns what arrives on a socket into the connection machine's events.
import type { ConnectionEvent } from '../../machines/connection.js';
import type { ConnectParams } from '../../machines/protocol.js';
import { ConnectParamsCheck, RequestFrameCheck, firstSchemaError } from './schema.js';

function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

export function decodeTextFrame(text: string): ConnectionEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
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

export const binaryFrameEvent: ConnectionEvent = { type: 'frame.malformed', message: 'binary frames are not supported' };
