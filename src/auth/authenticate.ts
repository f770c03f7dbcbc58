// Decides whether a connect request becomes a session: shared secret first, then the device proof.
import type { AuthenticationRequest } from '../../machines/connection.js';
import { CloseCode, DetailCode, type ConnectParams, type HandshakeRejection, type Session } from '../../machines/protocol.js';
import { verifyDeviceProof, type DeviceCrypto, type DeviceProofInput, type DeviceProofResult } from './device-proof.js';
import { checkSharedSecret, type AuthConfig } from './shared-secret.js';

export interface AuthenticationContext {
  auth: AuthConfig;
  challengeNonce: string;
  now: number;
  crypto: DeviceCrypto;
  /** Whether a token is the one a paired device was issued (checked against its hash), so it can reconnect with `auth.deviceToken`. */
  deviceTokenMatches?: (deviceId: string, presented: string) => boolean;
  /** The device proof's outcome when it was checked already (off the event loop): not checked again. */
  deviceProof?: DeviceProofResult;
}

/** Whether {@link authenticate} gets as far as the device proof: the shared secret holds, or a device token stands in. */
export function reachesDeviceProof(params: ConnectParams, auth: AuthConfig): boolean {
  return Boolean(params.device) && (!checkSharedSecret(auth, params.auth) || Boolean(params.auth?.deviceToken));
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
      closeReason: message,
    },
  };
}

export function authenticate(request: AuthenticationRequest, context: AuthenticationContext): AuthenticationResult {
  const { params, protocol } = request;
  const secretFailure = checkSharedSecret(context.auth, params.auth);
  const presentsDeviceToken = Boolean(params.auth?.deviceToken && params.device);
  if (secretFailure && !presentsDeviceToken) return reject(`unauthorized: ${secretFailure.message}`, { code: secretFailure.code });

  const role = params.role ?? 'operator';
  const scopes = params.scopes ?? [];
  let deviceId: string | undefined;
  const proofInput = deviceProofInputOf(params, context.challengeNonce, context.now);
  if (proofInput) {
    const proof = context.deviceProof ?? verifyDeviceProof(proofInput, context.crypto);
    if (!proof.ok) return reject(proof.message, { code: proof.code, reason: proof.reason });
    deviceId = proof.deviceId;
  }
  // Without the shared secret, only a paired device's own token lets it in.
  if (secretFailure) {
    if (deviceId === undefined || !context.deviceTokenMatches?.(deviceId, params.auth?.deviceToken ?? '')) {
      return reject('unauthorized: device token mismatch', { code: DetailCode.AUTH_DEVICE_TOKEN_MISMATCH });
    }
  }

  const session: Session = {
    protocol,
    role,
    scopes,
    client: params.client,
    caps: params.caps ?? [],
    commands: params.commands ?? [],
    connectedAt: context.now,
  };
  if (deviceId) session.deviceId = deviceId;
  if (params.pathEnv !== undefined) session.pathEnv = params.pathEnv;
  return { ok: true, session };
}
