// Wire types of the OpenClaw gateway protocol (versions 3 and 4) and pure frame builders.
// No I/O here: the machines build frames, the runtime writes them.

export const PROTOCOL_MIN = 3;
export const PROTOCOL_MAX = 4;

export type ErrorCode =
  | 'NOT_LINKED'
  | 'NOT_PAIRED'
  | 'AGENT_TIMEOUT'
  | 'INVALID_REQUEST'
  | 'APPROVAL_NOT_FOUND'
  | 'UNAVAILABLE';

export interface ErrorShape {
  code: ErrorCode;
  message: string;
  details?: unknown;
  retryable?: boolean;
  retryAfterMs?: number;
}

export interface StateVersion {
  presence: number;
  health: number;
}

export interface RequestFrame {
  type: 'req';
  id: string;
  method: string;
  params?: unknown;
}

export interface ResponseFrame {
  type: 'res';
  id: string;
  ok: boolean;
  payload?: unknown;
  error?: ErrorShape;
}

export interface EventFrame {
  type: 'event';
  event: string;
  payload?: unknown;
  seq?: number;
  stateVersion?: StateVersion;
}

export type OutboundFrame = ResponseFrame | EventFrame;

export type ClientMode = 'webchat' | 'cli' | 'ui' | 'backend' | 'node' | 'probe' | 'test';
export type Role = 'operator' | 'node';

export interface ClientInfo {
  id: string;
  displayName?: string;
  version: string;
  platform: string;
  deviceFamily?: string;
  modelIdentifier?: string;
  mode: ClientMode;
  instanceId?: string;
}

export interface DeviceProofParams {
  id: string;
  publicKey: string;
  signature: string;
  signedAt: number;
  nonce?: string;
}

export interface ConnectAuth {
  token?: string;
  bootstrapToken?: string;
  deviceToken?: string;
  password?: string;
}

export interface ConnectParams {
  minProtocol: number;
  maxProtocol: number;
  client: ClientInfo;
  caps?: string[];
  commands?: string[];
  permissions?: Record<string, boolean>;
  pathEnv?: string;
  role?: Role;
  scopes?: string[];
  device?: DeviceProofParams;
  auth?: ConnectAuth;
  locale?: string;
  userAgent?: string;
}

export interface PresenceEntry {
  host?: string;
  ip?: string;
  version?: string;
  platform?: string;
  deviceFamily?: string;
  modelIdentifier?: string;
  mode?: string;
  lastInputSeconds?: number;
  reason?: string;
  tags?: string[];
  text?: string;
  ts: number;
  deviceId?: string;
  roles?: string[];
  scopes?: string[];
  instanceId?: string;
}

/** Who the peer turned out to be once the handshake succeeded. */
export interface Session {
  protocol: number;
  role: Role;
  scopes: string[];
  client: ClientInfo;
  deviceId?: string;
  caps: string[];
  commands: string[];
  pathEnv?: string;
  /** Epoch ms when the handshake completed. */
  connectedAt: number;
  /** The device token to hand over in hello-ok (paired devices only). */
  deviceToken?: string;
}

/** A refused handshake: the error response and the close that follows it. */
export interface HandshakeRejection {
  error: ErrorShape;
  closeCode: number;
  closeReason: string;
}

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  credentialsRevoked: 4001,
} as const;

export function responseOk(id: string, payload?: unknown): ResponseFrame {
  return payload === undefined ? { type: 'res', id, ok: true } : { type: 'res', id, ok: true, payload };
}

export function responseError(id: string, error: ErrorShape): ResponseFrame {
  return { type: 'res', id, ok: false, error };
}

export function invalidRequest(message: string, details?: unknown): ErrorShape {
  return details === undefined ? { code: 'INVALID_REQUEST', message } : { code: 'INVALID_REQUEST', message, details };
}

export function eventFrame(event: string, payload?: unknown): EventFrame {
  return payload === undefined ? { type: 'event', event } : { type: 'event', event, payload };
}

/** The highest protocol version both sides speak, or undefined when the ranges do not overlap. */
export function negotiateProtocol(minProtocol: number, maxProtocol: number): number | undefined {
  const highest = Math.min(maxProtocol, PROTOCOL_MAX);
  const lowest = Math.max(minProtocol, PROTOCOL_MIN);
  return highest >= lowest ? highest : undefined;
}

const MAX_CLOSE_REASON_BYTES = 120;

/** Close reasons are at most 120 bytes of UTF-8, cut on a character boundary. */
export function truncateCloseReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return reason;
  let end = MAX_CLOSE_REASON_BYTES;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
