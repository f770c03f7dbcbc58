// Whether a connect request becomes a session: the address's lockout first, then the credentials
// (shared secret, device proof, device token), then the pairing gate. Failed credentials count
// towards the address's lockout.
import type { AuthenticationRequest } from '../../machines/connection.js';
import type { PairingMode } from '../../machines/pairing.js';
import type { Logger } from 'pino';
import { authenticate, deviceProofInputOf, reachesDeviceProof, type AuthenticationResult } from './authenticate.js';
import { holdsLiveDeviceToken, passPairingGate, type DevicePairings } from './device-pairing.js';
import { isCredentialFailure, rateLimitedRejection, type AuthFailureLimiter } from './rate-limit.js';
import { verifyDeviceProofAsync, type DeviceCrypto, type DeviceProofResult } from './device-proof.js';
import type { AuthConfig } from './shared-secret.js';

export interface AdmissionPolicy {
  auth: AuthConfig;
  crypto: DeviceCrypto;
  pairingMode: PairingMode;
  authLimiter: AuthFailureLimiter;
  authFailureWindowMs: number;
  pairings: DevicePairings;
  /** Silent pairings per address in a sliding window. */
  silentPairings: AuthFailureLimiter;
  logger: Logger;
}

export interface Applicant {
  connId: string;
  remoteAddr: string;
  challengeNonce: string;
  /** Loopback without a browser Origin: may be paired silently in auto-local mode. */
  isLocalClient: boolean;
}

/**
 * {@link admit}, with a device proof's signature checked off the event loop first when the crypto can
 * (a promise then; a result at once otherwise). A locked-out address is refused before anything is checked.
 */
export function admitting(request: AuthenticationRequest, applicant: Applicant, policy: AdmissionPolicy): AuthenticationResult | Promise<AuthenticationResult> {
  const now = Date.now();
  const proofInput = deviceProofInputOf(request.params, applicant.challengeNonce, now);
  // A wrong shared secret is refused without checking a signature, as `admit` alone does.
  if (!proofInput || !policy.crypto.verifyEd25519Async || !reachesDeviceProof(request.params, policy.auth) || policy.authLimiter.check(applicant.remoteAddr).limited) {
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
  // A locked-out address is refused before its credentials are looked at, so guessing stops paying.
  const lockout = authLimiter.check(applicant.remoteAddr);
  if (lockout.limited) return { ok: false, rejection: rateLimitedRejection(lockout.retryAfterMs) };

  const authenticated = authenticate(request, {
    auth: policy.auth,
    challengeNonce: applicant.challengeNonce,
    now: checked.now ?? Date.now(),
    crypto: policy.crypto,
    ...(checked.deviceProof ? { deviceProof: checked.deviceProof } : {}),
    deviceTokenMatches: (deviceId, presented) => holdsLiveDeviceToken(pairings, deviceId, presented),
  });
  if (!authenticated.ok) {
    if (isCredentialFailure(authenticated.rejection)) countFailure(applicant, policy);
    return authenticated;
  }
  authLimiter.recordSuccess(applicant.remoteAddr);
  return passPairingGate(authenticated.session, request.params, {
    mode: policy.pairingMode,
    isLocalClient: applicant.isLocalClient,
    remoteAddr: applicant.remoteAddr,
    pairings,
    silentPairings: policy.silentPairings,
  });
}

function countFailure(applicant: Applicant, policy: AdmissionPolicy): void {
  const counted = policy.authLimiter.recordFailure(applicant.remoteAddr);
  if (!counted.lockedOut) return;
  policy.logger.warn(
    {
      event: 'auth.locked_out',
      connId: applicant.connId,
      remoteAddr: applicant.remoteAddr,
      failures: counted.failures,
      windowMs: policy.authFailureWindowMs,
      lockoutMs: counted.lockoutMs,
    },
    'too many failed attempts: address locked out',
  );
}
