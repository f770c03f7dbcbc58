// Decides whether a connect request becomes a session, in the reference gateway's order: the shared
// secret (token or password, or none needed); failing that, for a client with a device identity, a
// bootstrap token, then its device token (explicit `auth.deviceToken`, or the fallback: `auth.token`
// taken as the device token when it is not the shared secret). A device token admits only the role
// and scopes approved for its device; asking for more is AUTH_SCOPE_MISMATCH, never a wider session.
import type { AuthenticationRequest } from '../../machines/connection.js';
import {
  CloseCode,
  DetailCode,
  scopeBeyondGrant,
  truncateCloseReason,
  type AuthMethod,
  type ConnectAuth,
  type ConnectParams,
  type HandshakeRejection,
  type RecoveryNextStep,
  type Role,
  type Session,
} from '../../machines/protocol.js';
import { verifyDeviceProof, type DeviceCrypto, type DeviceProofInput, type DeviceProofResult } from './device-proof.js';
import { checkSharedSecret, type AuthConfig, type SharedSecretFailure } from './shared-secret.js';

/** The role and scopes an operator approved for a paired device: all its token may ever open. */
export interface DeviceGrant {
  role: Role;
  scopes: readonly string[];
}

export interface AuthenticationContext {
  auth: AuthConfig;
  challengeNonce: string;
  now: number;
  crypto: DeviceCrypto;
  /** Whether a token is the one a paired device was issued (compared in constant time), so it can reconnect with it. */
  deviceTokenMatches?: (deviceId: string, presented: string) => boolean;
  /** What a paired device was approved for; its token opens nothing beyond it. */
  deviceGrantOf?: (deviceId: string) => DeviceGrant | undefined;
  /** The device proof's outcome when it was checked already (off the event loop): not checked again. */
  deviceProof?: DeviceProofResult;
}

/** Why a credential was refused, as the reference names it (`details.authReason`). */
export type AuthFailureReason =
  | 'token_missing'
  | 'token_mismatch'
  | 'password_missing'
  | 'password_mismatch'
  | 'bootstrap_token_invalid'
  | 'device_token_mismatch'
  | 'scope_mismatch';

interface AuthFailure {
  reason: AuthFailureReason;
  code: DetailCode;
  message: string;
}

const SHARED_FAILURE_REASONS: Record<SharedSecretFailure['code'], AuthFailureReason> = {
  AUTH_TOKEN_MISSING: 'token_missing',
  AUTH_TOKEN_MISMATCH: 'token_mismatch',
  AUTH_PASSWORD_MISSING: 'password_missing',
  AUTH_PASSWORD_MISMATCH: 'password_mismatch',
};

const BOOTSTRAP_TOKEN_INVALID: AuthFailure = {
  reason: 'bootstrap_token_invalid',
  code: DetailCode.AUTH_BOOTSTRAP_TOKEN_INVALID,
  // This gateway issues no setup codes, so no bootstrap token is ever valid here.
  message: 'unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)',
};
const DEVICE_TOKEN_MISMATCH: AuthFailure = {
  reason: 'device_token_mismatch',
  code: DetailCode.AUTH_DEVICE_TOKEN_MISMATCH,
  message: 'unauthorized: device token mismatch (rotate/reissue device token)',
};
const SCOPE_MISMATCH: AuthFailure = {
  reason: 'scope_mismatch',
  code: DetailCode.AUTH_SCOPE_MISMATCH,
  message: 'unauthorized: device token scope mismatch (re-pair or approve scope upgrade)',
};

type DeviceTokenCandidate = { token: string; source: 'explicit' | 'fallback' };

/** The device token a client with a device identity presents: `auth.deviceToken`, else `auth.token`. */
function deviceTokenCandidate(params: ConnectParams): DeviceTokenCandidate | undefined {
  if (!params.device) return undefined;
  const explicit = params.auth?.deviceToken?.trim();
  if (explicit) return { token: explicit, source: 'explicit' };
  const fallback = params.auth?.token?.trim();
  return fallback ? { token: fallback, source: 'fallback' } : undefined;
}

const bootstrapTokenOf = (params: ConnectParams) => (params.device ? params.auth?.bootstrapToken?.trim() || undefined : undefined);

/** Whether the device token presented is the one issued to the device the connect claims to be (checked before its proof). */
function matchesIssuedToken(params: ConnectParams, candidate: DeviceTokenCandidate | undefined, deviceTokenMatches: AuthenticationContext['deviceTokenMatches']): boolean {
  return params.device !== undefined && candidate !== undefined && deviceTokenMatches?.(params.device.id, candidate.token) === true;
}

/**
 * Whether {@link authenticate} gets as far as the device proof: the shared secret holds, or the device token
 * presented is the one issued to the device claimed. Anything else is refused without checking a signature.
 */
export function reachesDeviceProof(params: ConnectParams, auth: AuthConfig, deviceTokenMatches?: AuthenticationContext['deviceTokenMatches']): boolean {
  if (!params.device) return false;
  return !checkSharedSecret(auth, params.auth) || matchesIssuedToken(params, deviceTokenCandidate(params), deviceTokenMatches);
}

/** What the device proof of a connect request is checked against. */
export function deviceProofInputOf(params: ConnectParams, challengeNonce: string, now: number): DeviceProofInput | undefined {
  if (!params.device) return undefined;
  return {
    device: params.device,
    client: params.client,
    role: params.role ?? 'operator',
    scopes: params.scopes ?? [],
    auth: params.auth,
    challengeNonce,
    now,
  };
}

export type AuthenticationResult = { ok: true; session: Session } | { ok: false; rejection: HandshakeRejection };

function reject(message: string, details: Record<string, unknown>): AuthenticationResult {
  return {
    ok: false,
    rejection: {
      error: { code: 'INVALID_REQUEST', message, details },
      closeCode: CloseCode.policyViolation,
      closeReason: truncateCloseReason(message),
    },
  };
}

/** The recovery hints the reference sends with a refused credential, so a client knows whether retrying helps. */
export function recoveryHints(
  reason: AuthFailureReason | 'rate_limited',
  auth: ConnectAuth | undefined,
  hasDeviceIdentity: boolean,
): { canRetryWithDeviceToken: boolean; recommendedNextStep: RecoveryNextStep } {
  const presentedToken = Boolean(auth?.token) && !auth?.password;
  const canRetryWithDeviceToken = reason === 'token_mismatch' && hasDeviceIdentity && presentedToken && !auth?.deviceToken;
  if (canRetryWithDeviceToken) return { canRetryWithDeviceToken, recommendedNextStep: 'retry_with_device_token' };
  const recommendedNextStep: RecoveryNextStep =
    reason === 'token_missing' || reason === 'password_missing'
      ? 'update_auth_configuration'
      : reason === 'token_mismatch' || reason === 'password_mismatch' || reason === 'device_token_mismatch'
        ? 'update_auth_credentials'
        : reason === 'rate_limited'
          ? 'wait_then_retry'
          : 'review_auth_configuration';
  return { canRetryWithDeviceToken, recommendedNextStep };
}

function refuse(failure: AuthFailure, params: ConnectParams): AuthenticationResult {
  const hints = recoveryHints(failure.reason, params.auth, Boolean(params.device));
  return reject(failure.message, { code: failure.code, authReason: failure.reason, ...hints });
}

/** A paired device's token (matched to the issued one already), checked against what was approved for it. */
function checkDeviceGrant(deviceId: string, requested: { role: Role; scopes: readonly string[] }, context: AuthenticationContext): 'ok' | 'mismatch' | 'scope-mismatch' {
  const grant = context.deviceGrantOf?.(deviceId);
  // A token is issued for one role: another role has no token here (the reference's `token-missing`).
  if (grant === undefined || grant.role !== requested.role) return 'mismatch';
  return scopeBeyondGrant(grant.scopes, requested.scopes) === undefined ? 'ok' : 'scope-mismatch';
}

function sharedFailure(failure: SharedSecretFailure): AuthFailure {
  return { reason: SHARED_FAILURE_REASONS[failure.code], code: failure.code, message: `unauthorized: ${failure.message}` };
}

/**
 * The failure the reference reports when the device token does not let the client in either: a bootstrap
 * token comes after the shared secret (none is valid here), an explicit device token after that; a token
 * in `auth.token` keeps the earlier failure.
 */
function credentialFailure(secretFailure: SharedSecretFailure, params: ConnectParams, candidate: DeviceTokenCandidate | undefined): AuthFailure {
  if (candidate?.source === 'explicit') return DEVICE_TOKEN_MISMATCH;
  return bootstrapTokenOf(params) ? BOOTSTRAP_TOKEN_INVALID : sharedFailure(secretFailure);
}

export function authenticate(request: AuthenticationRequest, context: AuthenticationContext): AuthenticationResult {
  const { params, protocol } = request;
  const secretFailure = checkSharedSecret(context.auth, params.auth);
  const candidate = secretFailure ? deviceTokenCandidate(params) : undefined;
  const failure = secretFailure ? credentialFailure(secretFailure, params, candidate) : undefined;
  // Not the token issued to the device claimed: refused without checking a signature.
  if (failure && !matchesIssuedToken(params, candidate, context.deviceTokenMatches)) return refuse(failure, params);

  const role = params.role ?? 'operator';
  const scopes = params.scopes ?? [];
  let deviceId: string | undefined;
  const proofInput = deviceProofInputOf(params, context.challengeNonce, context.now);
  if (proofInput) {
    const proof = context.deviceProof ?? verifyDeviceProof(proofInput, context.crypto);
    if (!proof.ok) return reject(proof.message, { code: proof.code, reason: proof.reason });
    deviceId = proof.deviceId;
  }

  let authMethod: AuthMethod = context.auth.mode;
  if (failure) {
    // The proof holds: the device is the one the token was issued to. It opens what was approved for it, no more.
    const checked = deviceId === undefined ? 'mismatch' : checkDeviceGrant(deviceId, { role, scopes }, context);
    if (checked === 'scope-mismatch') return refuse(SCOPE_MISMATCH, params);
    if (checked === 'mismatch') return refuse(failure, params);
    authMethod = 'device-token';
  }

  const session: Session = {
    protocol,
    role,
    scopes,
    client: params.client,
    caps: params.caps ?? [],
    commands: params.commands ?? [],
    connectedAt: context.now,
    authMethod,
  };
  if (deviceId) session.deviceId = deviceId;
  if (params.pathEnv !== undefined) session.pathEnv = params.pathEnv;
  return { ok: true, session };
}
