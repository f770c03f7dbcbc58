// The pairing gate an authenticated operator device passes before its connection is ready: a paired
// device gets its token back when it asks for no more than it was approved for, a local one (auto-local
// mode) is paired on the spot, any other one gets NOT_PAIRED (PAIRING_REQUIRED, with the reference's
// reason and recovery hints) and the id of the pairing request an operator can approve. The gate also keeps
// pairing bounded: silent pairings per address are rate-limited (devices and nodes), a device is not
// paired past the cap, and a new request is refused, not filed over another, when there is no room.
import { randomFillSync } from 'node:crypto';
import { nodeIdOf } from '../../machines/nodes.js';
import type { DeviceAccess, DeviceIdentity, PairedDevice, PairingMode, PairRequestRoom } from '../../machines/pairing.js';
import {
  CloseCode,
  DetailCode,
  scopeBeyondGrant,
  type ConnectParams,
  type HandshakeRejection,
  type PairingRequiredReason,
  type Session,
} from '../../machines/protocol.js';
import type { SupervisorEvent } from '../../machines/supervisor.js';
import type { DeviceGrant } from './authenticate.js';
import type { AuthFailureLimiter } from './rate-limit.js';
import { deviceTokenMatchesHash, hashDeviceToken } from './device-token.js';

/** What the pairing gate reads of the paired devices and pending requests, and how it reports to the supervisor. */
export interface DevicePairings {
  deviceAccess(deviceId: string, mode: PairingMode, isLocalClient: boolean): DeviceAccess;
  pendingDeviceRequestId(deviceId: string): string | undefined;
  /** The hash of a paired device's live token (the token itself is not kept). */
  deviceTokenHashOf(deviceId: string): string | undefined;
  /** The role and scopes a paired device was approved for. */
  deviceGrantOf(deviceId: string): DeviceGrant | undefined;
  /** Whether a new device pairing request from this address may be filed now. */
  devicePairRequestRoom(remoteAddr: string): PairRequestRoom;
  /** Whether one more device may be paired (the paired cap). */
  mayPairAnotherDevice(): boolean;
  /** Whether this node id would be paired silently if it connected now (not paired, no request open). */
  nodeWouldPairSilently(nodeId: string): boolean;
  /** A silent pairing, a new pairing request or a device token handed over, for the supervisor. */
  report(event: Extract<SupervisorEvent, { type: 'device.pair.silentlyApproved' | 'device.pair.requested' | 'device.token.issued' }>): void;
}

export interface PairingGateContext {
  mode: PairingMode;
  isLocalClient: boolean;
  remoteAddr: string;
  pairings: DevicePairings;
  /** Silent pairings per address in a sliding window (the limiter counts them as it counts failures). */
  silentPairings: AuthFailureLimiter;
}

/** How long a client refused for want of room waits before asking again: about when requests expire or are decided. */
export const PAIR_REQUEST_RETRY_MS = 60_000;

export type PairingGateResult = { ok: true; session: Session } | { ok: false; rejection: HandshakeRejection };

const TOKEN_BYTES = 32;
/** Random bytes drawn from the CSPRNG 4 KiB at a time (one call per 128 tokens, not one per token). */
const tokenPool = Buffer.alloc(TOKEN_BYTES * 128);
let tokenPoolOffset = tokenPool.length;

/** 32 random bytes, base64url: what a paired device reconnects with. */
export function newDeviceToken(): string {
  if (tokenPoolOffset + TOKEN_BYTES > tokenPool.length) {
    randomFillSync(tokenPool);
    tokenPoolOffset = 0;
  }
  const start = tokenPoolOffset;
  tokenPoolOffset += TOKEN_BYTES;
  const token = tokenPool.toString('base64url', start, tokenPoolOffset);
  tokenPool.fill(0, start, tokenPoolOffset); // a token's bytes do not stay behind in the pool
  return token;
}

export function passPairingGate(session: Session, params: ConnectParams, gate: PairingGateContext): PairingGateResult {
  const deviceId = session.deviceId;
  // Nodes are approved through node pairing (only their silent pairings are counted here), and a client
  // without a device identity has nothing to pair.
  if (session.role === 'node') return passNodeSilentPairingLimit(session, gate);
  if (session.role !== 'operator' || deviceId === undefined) return { ok: true, session };
  const access = gate.pairings.deviceAccess(deviceId, gate.mode, gate.isLocalClient);
  if (access.kind === 'paired') return passPairedDevice(session, params, gate, access.device);

  const identity = identityOf(session, params, deviceId);
  if (access.kind === 'approve-silently') {
    if (!gate.pairings.mayPairAnotherDevice()) return refused(pairingLimitReached());
    const limited = countSilentPairing(gate);
    if (limited) return refused(limited);
    const token = newDeviceToken();
    const now = session.connectedAt;
    gate.pairings.report({
      type: 'device.pair.silentlyApproved',
      device: { ...identity, tokenHash: hashDeviceToken(token), createdAtMs: now, approvedAtMs: now, silent: true },
    });
    return { ok: true, session: { ...session, deviceToken: token } };
  }
  return requestPairing('not-paired', identity, session, gate);
}

/** Who a device says it is, for a pairing request or a silent approval. */
function identityOf(session: Session, params: ConnectParams, deviceId: string): DeviceIdentity {
  return {
    deviceId,
    role: session.role,
    scopes: session.scopes,
    clientId: session.client.id,
    clientMode: session.client.mode,
    ...(params.device?.publicKey !== undefined ? { publicKey: params.device.publicKey } : {}),
    ...(session.client.displayName !== undefined ? { displayName: session.client.displayName } : {}),
    platform: session.client.platform,
  };
}

/**
 * A paired device gets in with what it was approved for. Asking for another role or more scopes (with the
 * shared secret: a device token asking for more never gets this far) is an upgrade an operator approves,
 * or, for a local client in auto-local mode, one approved silently as the reference does; never a wider
 * session without an approval on record.
 */
function passPairedDevice(session: Session, params: ConnectParams, gate: PairingGateContext, device: PairedDevice): PairingGateResult {
  const roleUpgrade = device.role !== session.role;
  const beyond = scopeBeyondGrant(device.scopes, session.scopes);
  if (!roleUpgrade && beyond === undefined) return { ok: true, session: handOverDeviceToken(session, device, params, gate.pairings) };
  const reason: PairingRequiredReason = roleUpgrade ? 'role-upgrade' : 'scope-upgrade';
  // The upgrade asks for what the device holds and what it wants now, so approving it takes nothing away.
  const scopes = roleUpgrade ? session.scopes : [...new Set([...device.scopes, ...session.scopes])];
  if (!roleUpgrade && gate.mode === 'auto-local' && gate.isLocalClient) {
    const now = session.connectedAt;
    gate.pairings.report({ type: 'device.pair.silentlyApproved', device: { ...device, scopes, approvedAtMs: now, silent: true } });
    return { ok: true, session: handOverDeviceToken(session, device, params, gate.pairings) };
  }
  const identity = { ...identityOf(session, params, device.deviceId), scopes };
  return requestPairing(reason, identity, session, gate, device);
}

/** Files a pairing request (or reuses the device's open one) and refuses the connect with PAIRING_REQUIRED. */
function requestPairing(
  reason: PairingRequiredReason,
  identity: DeviceIdentity,
  session: Session,
  gate: PairingGateContext,
  approved?: PairedDevice,
): PairingGateResult {
  const { deviceId } = identity;
  const room = gate.pairings.pendingDeviceRequestId(deviceId) === undefined ? gate.pairings.devicePairRequestRoom(gate.remoteAddr) : 'room';
  if (room !== 'room') return refused(noRoomForRequest(room));
  gate.pairings.report({ type: 'device.pair.requested', request: { ...identity, remoteIp: gate.remoteAddr } });
  const requestId = gate.pairings.pendingDeviceRequestId(deviceId);
  return {
    ok: false,
    rejection: {
      error: {
        code: 'NOT_PAIRED',
        message: `pairing required: ${PAIRING_REQUIREMENTS[reason]}`,
        details: pairingRequiredDetails(reason, requestId, session, approved),
      },
      closeCode: CloseCode.policyViolation,
      closeReason: 'pairing required',
    },
  };
}

const PAIRING_REQUIREMENTS: Record<PairingRequiredReason, string> = {
  'not-paired': 'device is not approved yet',
  'role-upgrade': 'device is asking for a higher role than currently approved',
  'scope-upgrade': 'device is asking for more scopes than currently approved',
  'metadata-upgrade': 'device identity changed and must be re-approved',
};

const REMEDIATION_HINTS: Record<PairingRequiredReason, string> = {
  'not-paired': 'Approve this device from the pending pairing requests.',
  'role-upgrade': 'Review the requested role upgrade, then approve the pending request.',
  'scope-upgrade': 'Review the requested scopes, then approve the pending upgrade.',
  'metadata-upgrade': 'Review the refreshed device details, then approve the pending request.',
};

/**
 * The reference's PAIRING_REQUIRED details. With a request open the client is told to keep retrying
 * (`wait_then_retry`, `pauseReconnect: false`): it gets in by itself once an operator approves.
 */
function pairingRequiredDetails(reason: PairingRequiredReason, requestId: string | undefined, session: Session, approved?: PairedDevice) {
  return {
    code: DetailCode.PAIRING_REQUIRED,
    reason,
    ...(requestId !== undefined ? { requestId, recommendedNextStep: 'wait_then_retry' as const, retryable: true, pauseReconnect: false } : {}),
    remediationHint: REMEDIATION_HINTS[reason],
    deviceId: session.deviceId,
    requestedRole: session.role,
    requestedScopes: session.scopes,
    ...(approved ? { approvedRoles: [approved.role], approvedScopes: approved.scopes } : {}),
  };
}

/** Whether `presented` is this paired device's live token, compared in constant time with the kept hash. */
export function holdsLiveDeviceToken(pairings: Pick<DevicePairings, 'deviceTokenHashOf'>, deviceId: string, presented: string): boolean {
  const tokenHash = pairings.deviceTokenHashOf(deviceId);
  return tokenHash !== undefined && deviceTokenMatchesHash(presented, tokenHash);
}

/**
 * What a paired device's hello-ok carries. Only a token's hash is kept, so a token is handed over once:
 * a device that proved it holds its live token gets it echoed (and may manage it as its own); one that
 * has none live (never handed over, rotated by someone else, revoked) gets a new one, whose hash is saved
 * before hello-ok goes out; one that came in with the shared secret while its token is live gets none.
 */
function handOverDeviceToken(session: Session, device: PairedDevice, params: ConnectParams, pairings: DevicePairings): Session {
  // The device token came in `auth.deviceToken`, or in `auth.token` when authentication took it as one (the fallback).
  const presented = params.auth?.deviceToken ?? (session.authMethod === 'device-token' ? params.auth?.token : undefined);
  if (presented !== undefined && holdsLiveDeviceToken(pairings, device.deviceId, presented)) {
    return { ...session, deviceToken: presented, deviceTokenAuth: true };
  }
  if (device.tokenHash !== undefined) return session;
  const token = newDeviceToken();
  pairings.report({ type: 'device.token.issued', deviceId: device.deviceId, tokenHash: hashDeviceToken(token) });
  return { ...session, deviceToken: token };
}

/** A local node about to be paired silently counts against its address's silent pairings. */
function passNodeSilentPairingLimit(session: Session, gate: PairingGateContext): PairingGateResult {
  if (gate.mode !== 'auto-local' || !gate.isLocalClient || !gate.pairings.nodeWouldPairSilently(nodeIdOf(session))) return { ok: true, session };
  const limited = countSilentPairing(gate);
  return limited ? refused(limited) : { ok: true, session };
}

/** Counts one silent pairing; the refusal when the address is over its rate. */
function countSilentPairing(gate: PairingGateContext): HandshakeRejection | undefined {
  const limit = gate.silentPairings.check(gate.remoteAddr);
  if (limit.limited) {
    return rejection('too many pairings', DetailCode.PAIRING_RATE_LIMITED, 'too many silent pairings from this address; try again later', limit.retryAfterMs);
  }
  gate.silentPairings.recordFailure(gate.remoteAddr);
  return undefined;
}

function noRoomForRequest(room: Exclude<PairRequestRoom, 'room'>): HandshakeRejection {
  const message =
    room === 'address-full'
      ? 'too many pairing requests from this address are waiting for an operator; try again later'
      : 'too many pairing requests are waiting for an operator; try again later';
  const refusal = rejection('too many pairing requests', DetailCode.PAIRING_REQUESTS_LIMITED, message, PAIR_REQUEST_RETRY_MS);
  refusal.error.details = { code: DetailCode.PAIRING_REQUESTS_LIMITED, reason: room };
  return refusal;
}

function pairingLimitReached(): HandshakeRejection {
  return {
    error: {
      code: 'INVALID_REQUEST',
      message: 'pairing limit reached: no more devices can be paired until an operator removes one',
      details: { code: DetailCode.PAIRING_LIMIT_REACHED },
    },
    closeCode: CloseCode.policyViolation,
    closeReason: 'pairing limit reached',
  };
}

function rejection(closeReason: string, code: DetailCode, message: string, retryAfterMs: number): HandshakeRejection {
  return {
    error: { code: 'INVALID_REQUEST', message, details: { code }, retryable: true, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) },
    closeCode: CloseCode.policyViolation,
    closeReason,
  };
}

function refused(rejection: HandshakeRejection): PairingGateResult {
  return { ok: false, rejection };
}
