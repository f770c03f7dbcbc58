// Whether a connect request becomes a session: the address's lockout first, then the credentials
// (shared secret, device proof, device token), then the pairing gate and, for nodes, the node id gate.
// Failed credentials count towards the address's lockout.
import type { AuthenticationRequest } from '../../machines/connection.js';
import type { PairingMode } from '../../machines/pairing.js';
import type { Logger } from 'pino';
import { authenticate, deviceProofInputOf, reachesDeviceProof, type AuthenticationResult } from './authenticate.js';
import { holdsLiveDeviceToken, passPairingGate, type DevicePairings } from './device-pairing.js';
import { checkBrowserOrigin } from './origin-policy.js';
import { passNodeIdGate, type NodeIds } from './node-id-gate.js';
import { isCredentialFailure, rateLimitedRejection, type AuthFailureLimiter } from './rate-limit.js';
import { verifyDeviceProofAsync, type DeviceCrypto, type DeviceProofResult } from './device-proof.js';
import type { AuthConfig } from './shared-secret.js';
import { CloseCode, DetailCode, type HandshakeRejection } from '../../machines/protocol.js';

export interface AdmissionPolicy {
  auth: AuthConfig;
  crypto: DeviceCrypto;
  pairingMode: PairingMode;
  authLimiter: AuthFailureLimiter;
  authFailureWindowMs: number;
  pairings: DevicePairings;
  /** Browser origins allowed besides the defaults (see origin-policy.ts). */
  allowedOrigins: readonly string[];
  /** Silent pairings per address in a sliding window. */
  silentPairings: AuthFailureLimiter;
  /** Which node ids a node may speak for. */
  nodeIds: NodeIds;
  logger: Logger;
}

export interface Applicant {
  connId: string;
  remoteAddr: string;
  challengeNonce: string;
  /** Loopback without a browser Origin: may be paired silently in auto-local mode. */
  isLocalClient: boolean;
  /** The TCP peer is on this machine. */
  isLoopback: boolean;
  /** The browser Origin and Host headers of the upgrade, when it had an Origin. */
  origin?: string;
  requestHost?: string;
}

/**
 * {@link admit}, with a device proof's signature checked off the event loop first when the crypto can
 * (a promise then; a result at once otherwise). A locked-out address is refused before anything is checked.
 */
export function admitting(request: AuthenticationRequest, applicant: Applicant, policy: AdmissionPolicy): AuthenticationResult | Promise<AuthenticationResult> {
  const now = Date.now();
  const proofInput = deviceProofInputOf(request.params, applicant.challengeNonce, now);
  // A wrong shared secret is refused without checking a signature, as `admit` alone does.
  if (!proofInput || !policy.crypto.verifyEd25519Async || !reachesDeviceProof(request.params, policy.auth, (deviceId, presented) => holdsLiveDeviceToken(policy.pairings, deviceId, presented)) || policy.authLimiter.check(applicant.remoteAddr, applicant.origin).limited) {
    return admit(request, applicant, policy);
  }
  return verifyDeviceProofAsync(proofInput, policy.crypto).then((deviceProof) => admit(request, applicant, policy, { deviceProof, now }));
}

export function admit(
  request: AuthenticationRequest,
  applicant: Applicant,
  policy: AdmissionPolicy,
  checked: { deviceProof?: DeviceProofResult; now?: number } = {},
): AuthenticationResult {
  const { authLimiter, pairings } = policy;
  // A web page the gateway does not trust gets nowhere near the credentials.
  const origin = checkBrowserOrigin({
    origin: applicant.origin,
    requestHost: applicant.requestHost,
    isLoopbackPeer: applicant.isLoopback,
    allowedOrigins: policy.allowedOrigins,
  });
  if (!origin.ok) return { ok: false, rejection: originRejection(origin.reason) };
  // A locked-out address is refused before its credentials are looked at, so guessing stops paying.
  const lockout = authLimiter.check(applicant.remoteAddr, applicant.origin);
  if (lockout.limited) return { ok: false, rejection: rateLimitedRejection(lockout.retryAfterMs) };

  const authenticated = authenticate(request, {
    auth: policy.auth,
    challengeNonce: applicant.challengeNonce,
    now: checked.now ?? Date.now(),
    crypto: policy.crypto,
    ...(checked.deviceProof ? { deviceProof: checked.deviceProof } : {}),
    deviceTokenMatches: (deviceId, presented) => holdsLiveDeviceToken(pairings, deviceId, presented),
    deviceGrantOf: (deviceId) => pairings.deviceGrantOf(deviceId),
  });
  if (!authenticated.ok) {
    if (isCredentialFailure(authenticated.rejection)) countFailure(applicant, policy);
    return authenticated;
  }
  authLimiter.recordSuccess(applicant.remoteAddr, applicant.origin);
  const nodeIdChecked = passNodeIdGate(authenticated.session, policy.nodeIds);
  if (!nodeIdChecked.ok) return nodeIdChecked;
  const gated = passPairingGate(authenticated.session, request.params, {
    mode: policy.pairingMode,
    isLocalClient: applicant.isLocalClient,
    remoteAddr: applicant.remoteAddr,
    pairings,
    silentPairings: policy.silentPairings,
  });
  if (!gated.ok) auditUpgradeRequest(gated.rejection, applicant, policy);
  return gated;
}

/** A paired device asking for more than it was approved for is worth a warning, as the reference's security audit line. */
function auditUpgradeRequest(rejection: HandshakeRejection, applicant: Applicant, policy: AdmissionPolicy): void {
  const details = rejection.error.details as
    | { code?: unknown; reason?: unknown; deviceId?: unknown; requestId?: unknown; approvedScopes?: unknown; requestedScopes?: unknown; requestedRole?: unknown }
    | undefined;
  if (details?.code !== DetailCode.PAIRING_REQUIRED || (details.reason !== 'scope-upgrade' && details.reason !== 'role-upgrade')) return;
  policy.logger.warn(
    {
      event: 'device.upgrade_requested',
      connId: applicant.connId,
      remoteAddr: applicant.remoteAddr,
      reason: details.reason,
      deviceId: details.deviceId,
      requestId: details.requestId,
      role: details.requestedRole,
      scopesFrom: details.approvedScopes,
      scopesTo: details.requestedScopes,
    },
    'security audit: device access upgrade requested',
  );
}

function countFailure(applicant: Applicant, policy: AdmissionPolicy): void {
  const counted = policy.authLimiter.recordFailure(applicant.remoteAddr, applicant.origin);
  if (!counted.lockedOut) return;
  policy.logger.warn(
    {
      event: 'auth.locked_out',
      connId: applicant.connId,
      remoteAddr: applicant.remoteAddr,
      ...(applicant.origin !== undefined ? { origin: applicant.origin } : {}),
      failures: counted.failures,
      windowMs: policy.authFailureWindowMs,
      lockoutMs: counted.lockoutMs,
    },
    'too many failed attempts: address locked out',
  );
}

/** What a page from an origin the gateway does not allow is told, as the reference tells it. */
function originRejection(reason: string): HandshakeRejection {
  return {
    error: {
      code: 'INVALID_REQUEST',
      message: 'origin not allowed (open the page from the gateway host or allow it with --allowed-origins)',
      details: { code: DetailCode.CONTROL_UI_ORIGIN_NOT_ALLOWED, reason },
    },
    closeCode: CloseCode.policyViolation,
    closeReason: 'origin not allowed',
  };
}
