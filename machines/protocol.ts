// Wire types of the OpenClaw gateway protocol (versions 3 and 4) and pure frame builders.
// No I/O here: the machines build frames, the runtime writes them.

export const PROTOCOL_MIN = 3;
export const PROTOCOL_MAX = 4;

export type ErrorCode =
  | 'NOT_LINKED'
  | 'NOT_PAIRED'
  /** Deprecated upstream (no server sends it); kept so clients can still read it. A timed-out invoke is UNAVAILABLE. */
  | 'AGENT_TIMEOUT'
  | 'INVALID_REQUEST'
  /** The caller is authenticated but lacks the scope a method needs (`details.code: MISSING_SCOPE`). */
  | 'FORBIDDEN'
  | 'APPROVAL_NOT_FOUND'
  | 'UNAVAILABLE';

/**
 * Every `details.code` the gateway answers with, in one list: what a client, a log line and `actorgate
 * diagnose` tell failures apart by. The protocol's error codes (above) are coarse; these say which rule refused.
 */
export const DetailCode = {
  // connect: shared secret, device token, device proof (in the order they are checked)
  AUTH_TOKEN_MISSING: 'AUTH_TOKEN_MISSING',
  AUTH_TOKEN_MISMATCH: 'AUTH_TOKEN_MISMATCH',
  AUTH_PASSWORD_MISSING: 'AUTH_PASSWORD_MISSING',
  AUTH_PASSWORD_MISMATCH: 'AUTH_PASSWORD_MISMATCH',
  AUTH_BOOTSTRAP_TOKEN_INVALID: 'AUTH_BOOTSTRAP_TOKEN_INVALID',
  AUTH_DEVICE_TOKEN_MISMATCH: 'AUTH_DEVICE_TOKEN_MISMATCH',
  /** A device token that is valid but does not cover the role or scopes asked for. */
  AUTH_SCOPE_MISMATCH: 'AUTH_SCOPE_MISMATCH',
  AUTH_RATE_LIMITED: 'AUTH_RATE_LIMITED',
  DEVICE_AUTH_DEVICE_ID_MISMATCH: 'DEVICE_AUTH_DEVICE_ID_MISMATCH',
  DEVICE_AUTH_SIGNATURE_EXPIRED: 'DEVICE_AUTH_SIGNATURE_EXPIRED',
  DEVICE_AUTH_NONCE_REQUIRED: 'DEVICE_AUTH_NONCE_REQUIRED',
  DEVICE_AUTH_NONCE_MISMATCH: 'DEVICE_AUTH_NONCE_MISMATCH',
  DEVICE_AUTH_PUBLIC_KEY_INVALID: 'DEVICE_AUTH_PUBLIC_KEY_INVALID',
  DEVICE_AUTH_SIGNATURE_INVALID: 'DEVICE_AUTH_SIGNATURE_INVALID',
  PAIRING_REQUIRED: 'PAIRING_REQUIRED',
  CONTROL_UI_ORIGIN_NOT_ALLOWED: 'CONTROL_UI_ORIGIN_NOT_ALLOWED',
  // pairing limits: a full pending list, an address over its share or its silent-pairing rate, paired caps
  PAIRING_REQUESTS_LIMITED: 'PAIRING_REQUESTS_LIMITED',
  PAIRING_RATE_LIMITED: 'PAIRING_RATE_LIMITED',
  PAIRING_LIMIT_REACHED: 'PAIRING_LIMIT_REACHED',
  // requests: who may call, and what params a request may carry
  ROLE_NOT_ALLOWED: 'ROLE_NOT_ALLOWED',
  MISSING_SCOPE: 'MISSING_SCOPE',
  PARAMS_TOO_DEEP: 'PARAMS_TOO_DEEP',
  // frames refused before they are parsed (see ProtocolLimits)
  FRAME_TOO_COMPLEX: 'FRAME_TOO_COMPLEX',
  FRAME_TOO_LARGE_FOR_METHOD: 'FRAME_TOO_LARGE_FOR_METHOD',
  // nodes, invokes and pairing decisions
  NODE_NOT_FOUND: 'NODE_NOT_FOUND',
  NOT_CONNECTED: 'NOT_CONNECTED',
  NODE_NOT_APPROVED: 'NODE_NOT_APPROVED',
  COMMAND_NOT_ALLOWED: 'COMMAND_NOT_ALLOWED',
  NODE_MISMATCH: 'NODE_MISMATCH',
  /** A node id of the device namespace, or approved for another identity, claimed without that identity. */
  NODE_ID_RESERVED: 'NODE_ID_RESERVED',
  /** A node id that live connections of another identity speak for. */
  NODE_ID_IN_USE: 'NODE_ID_IN_USE',
  /** An invoke over a cap of invokes in flight (per caller, per node, in all); UNAVAILABLE and retryable. */
  TOO_MANY_INVOKES: 'TOO_MANY_INVOKES',
  NODE_EVENT_TOO_LARGE: 'NODE_EVENT_TOO_LARGE',
  APPROVAL_NOT_FOUND: 'APPROVAL_NOT_FOUND',
  DEVICE_NOT_FOUND: 'DEVICE_NOT_FOUND',
  // what an operator may make a node do (src/methods/node-command-policy.ts)
  /** `system.run*` params carrying exec-approval fields (`approved`, `approvalDecision`, `approvalSource`). */
  APPROVAL_FIELDS_NOT_ALLOWED: 'APPROVAL_FIELDS_NOT_ALLOWED',
  /** A command refused by the gateway's `--node-commands-allow` / `--node-commands-deny` policy. */
  COMMAND_DENIED_BY_POLICY: 'COMMAND_DENIED_BY_POLICY',
  // device tokens and labels: a caller managing another device, a role or scopes it may not touch
  DEVICE_MANAGEMENT_DENIED: 'DEVICE_MANAGEMENT_DENIED',
} as const;
export type DetailCode = (typeof DetailCode)[keyof typeof DetailCode];

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

export type OperatorScope = 'operator.read' | 'operator.write' | 'operator.pairing' | 'operator.admin';
export const OPERATOR_SCOPES: readonly OperatorScope[] = ['operator.read', 'operator.write', 'operator.pairing', 'operator.admin'];

/** Whether granted scopes satisfy `required`: `operator.admin` passes every check; `operator.write` includes reading. */
export function hasScope(granted: readonly string[], required: OperatorScope): boolean {
  if (granted.includes('operator.admin') || granted.includes(required)) return true;
  return required === 'operator.read' && granted.includes('operator.write');
}

const isOperatorScope = (scope: string): scope is OperatorScope => (OPERATOR_SCOPES as readonly string[]).includes(scope);

/**
 * The first requested scope a grant does not cover, or undefined when it covers them all: operator scopes
 * as {@link hasScope} implies them, any other scope only when granted as such.
 */
export function scopeBeyondGrant(granted: readonly string[], requested: readonly string[]): string | undefined {
  for (const scope of requested) {
    if (isOperatorScope(scope) ? !hasScope(granted, scope) : !granted.includes(scope)) return scope;
  }
  return undefined;
}

/** How a connect was authenticated: the shared secret (or none needed), or a paired device's own token. */
export type AuthMethod = 'none' | 'token' | 'password' | 'device-token';

/** Why a connect needs an operator's approval (the reference's `details.reason` on PAIRING_REQUIRED). */
export type PairingRequiredReason = 'not-paired' | 'role-upgrade' | 'scope-upgrade' | 'metadata-upgrade';

/** What a refused client should do next (`details.recommendedNextStep` on connect errors). */
export type RecoveryNextStep =
  | 'retry_with_device_token'
  | 'update_auth_configuration'
  | 'update_auth_credentials'
  | 'wait_then_retry'
  | 'review_auth_configuration';

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
  /** How the connect was authenticated; a `device-token` session never holds more than the device's grant. */
  authMethod?: AuthMethod;
  /** The device token to hand over in hello-ok (paired devices only). */
  deviceToken?: string;
  /** The connect proved it holds its paired device's live token: it may manage that token as its own (rotate it in-band). */
  deviceTokenAuth?: boolean;
}

/** A refused handshake: the error response and the close that follows it. */
export interface HandshakeRejection {
  error: ErrorShape;
  closeCode: number;
  closeReason: string;
}

/** WebSocket close codes as this gateway uses them (RFC 6455 section 7.4, and 4001 of the protocol). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** A close frame without a code: what the peer that sent it sees as the code. */
  noStatus: 1005,
  /** No close frame at all (a reset, a terminated socket): what a peer's WebSocket reports. */
  abnormalClosure: 1006,
  /** A text frame that is not UTF-8. */
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  credentialsRevoked: 4001,
} as const;

/** The protocol's bounds as this gateway serves them: one place, read by the runtime, the tests and the docs. */
export const ProtocolLimits = {
  /** The largest frame a socket may send before its handshake completes (64 KiB). */
  preAuthMaxPayloadBytes: 64 * 1024,
  /** The largest frame a ready socket may send (25 MiB; `hello-ok.policy.maxPayload`). */
  maxPayloadBytes: 25 * 1024 * 1024,
  /**
   * Request params may nest at most this deep (objects and arrays; the params value itself is level 1).
   * Deeper params are refused INVALID_REQUEST (PARAMS_TOO_DEEP) before any handler serialises them:
   * JSON.stringify overflows the stack at some thousands of levels, and no method needs anything near this.
   */
  maxParamsDepth: 128,
  /**
   * A frame is scanned (one pass, nothing allocated) before it is parsed, and refused INVALID_REQUEST
   * (FRAME_TOO_COMPLEX) when it holds more objects and arrays than this, or more values (array elements and
   * object members, the frame included) than `maxFrameValues`: JSON.parse of 25 MiB of empty objects takes
   * seconds and gigabytes, and no method of the protocol needs anything near these.
   */
  maxFrameContainers: 20_000,
  maxFrameValues: 200_000,
  /**
   * The largest frame (UTF-8 bytes) a method that takes no or small params accepts (health, system-presence,
   * node.list, node.describe, the pairing methods), and any frame for a method the caller may not call or that
   * does not exist; bigger ones are refused INVALID_REQUEST (FRAME_TOO_LARGE_FOR_METHOD) before they are
   * parsed. Only node.invoke (operator.write), the node methods and a program's own methods (unless they say
   * less) take frames up to `maxPayloadBytes`: read-only and pairing operators never need more than this.
   */
  smallFrameBytes: 64 * 1024,
  /**
   * The connect fields that presence and hello-ok carry, capped in UTF-16 units: a longer one is refused with
   * `invalid connect params: /client/<field>: Expected string length less or equal to <n>` and close 1002 (not
   * cut: instanceId is a presence key, and a cut value would pass for another client's). The reference's clients
   * send a few dozen characters at most (`iPhone17,1`, `iOS 18.4.0`, `2026.9.6`, a host name, a UUID).
   */
  maxClientFieldChars: { id: 128, displayName: 256, version: 128, platform: 128, deviceFamily: 128, modelIdentifier: 128, instanceId: 128 },
  /** At most this many scopes at connect, each at most `maxScopeChars` (the reference's are fewer than 10, of 13 to 21 characters). */
  maxScopes: 16,
  maxScopeChars: 64,
  /**
   * The presence list as hello-ok, `system-presence` and the `presence` event carry it is at most this many bytes
   * of JSON: the newest entries that fit, and the gateway's own entry (last) always.
   */
  maxPresenceBytes: 128 * 1024,
  /**
   * The largest `node.event` a node may send, its event name and payload JSON in UTF-8 bytes (1 MiB; the
   * gateway's `maxNodeEventBytes` option). Each is fanned out to every reader operator: a larger one is
   * refused INVALID_REQUEST (NODE_EVENT_TOO_LARGE).
   */
  maxNodeEventBytes: 1024 * 1024,
  /** Close reasons are cut to this many bytes of UTF-8. */
  maxCloseReasonBytes: 120,
  /** `node.invoke` waits this long for the node when the caller gives no `timeoutMs`... */
  defaultInvokeTimeoutMs: 30_000,
  /** ...and never longer than this. */
  maxInvokeTimeoutMs: 10 * 60_000,
  /** Invokes one operator connection may have in flight at once (the default of `--max-invokes-per-caller`). */
  maxInvokesPerCaller: 256,
  /** Invokes in flight to one node at once (the default of `--max-invokes-per-node`). */
  maxInvokesPerNode: 512,
  /** Invokes in flight on the gateway at once (the default of `--max-invokes-in-flight`). */
  maxInvokesInFlight: 10_000,
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

/**
 * A missing scope, in the reference's shape: FORBIDDEN, the message its CLI parses (`missing scope: <scope>`), and
 * details to read it from; `requiredScopes` is all a call needs when it needs more than the missing one.
 */
export function missingScopeError(scope: string, requiredScopes: readonly string[] = [scope], extra: Record<string, unknown> = {}): ErrorShape {
  return { code: 'FORBIDDEN', message: `missing scope: ${scope}`, details: { code: DetailCode.MISSING_SCOPE, missingScope: scope, requiredScopes, ...extra } };
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

/** Close reasons are at most 120 bytes of UTF-8, cut on a character boundary. */
export function truncateCloseReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= ProtocolLimits.maxCloseReasonBytes) return reason;
  let end: number = ProtocolLimits.maxCloseReasonBytes;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
