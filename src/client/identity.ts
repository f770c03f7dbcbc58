// A client's device identity: an Ed25519 key pair, its id, and the v3 proof it signs at connect.
// Portable: @noble/ed25519 and @noble/hashes only, no Node imports.
import * as ed from '@noble/ed25519';
import { nobleDeviceCrypto } from '../auth/noble-crypto.js';
import { base64UrlDecode, base64UrlEncode, buildDeviceAuthPayload, deriveDeviceId, signedFieldsOf } from '../auth/device-proof.js';
import type { ConnectParams, DeviceProofParams } from '../../machines/protocol.js';

export interface DeviceIdentity {
  /** Lowercase hex SHA-256 of the raw public key. */
  deviceId: string;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The 32-byte Ed25519 secret key (seed). */
  secretKey: Uint8Array;
}

/** A device identity as text: what a key file holds (see README, "Device key file"). */
export interface DeviceIdentityJson {
  version: 1;
  type: 'ed25519';
  deviceId: string;
  /** base64url, raw 32 bytes. */
  publicKey: string;
  /** base64url, the 32-byte seed. */
  secretKey: string;
}

export function identityFromSecretKey(secretKey: Uint8Array): DeviceIdentity {
  if (secretKey.length !== 32) throw new Error('an Ed25519 secret key has 32 bytes');
  const publicKey = ed.getPublicKey(secretKey);
  return { deviceId: deriveDeviceId(publicKey, nobleDeviceCrypto), publicKey, secretKey };
}

export function createDeviceIdentity(): DeviceIdentity {
  return identityFromSecretKey(ed.utils.randomSecretKey());
}

export function identityToJson(identity: DeviceIdentity): DeviceIdentityJson {
  return {
    version: 1,
    type: 'ed25519',
    deviceId: identity.deviceId,
    publicKey: base64UrlEncode(identity.publicKey),
    secretKey: base64UrlEncode(identity.secretKey),
  };
}

/** Reads a key file's JSON; the public key and id are derived again and must match what the file says. */
export function identityFromJson(value: unknown): DeviceIdentity {
  const json = value as Partial<DeviceIdentityJson> | null;
  if (!json || typeof json !== 'object' || json.type !== 'ed25519' || typeof json.secretKey !== 'string') {
    throw new Error('not an actorgate device key (expected {"version":1,"type":"ed25519","secretKey":...})');
  }
  const secretKey = base64UrlDecode(json.secretKey);
  if (!secretKey || secretKey.length !== 32) throw new Error('device key: secretKey must be 32 bytes, base64url');
  const identity = identityFromSecretKey(secretKey);
  if (json.publicKey !== undefined && json.publicKey !== base64UrlEncode(identity.publicKey)) {
    throw new Error('device key: publicKey does not belong to secretKey');
  }
  if (json.deviceId !== undefined && json.deviceId !== identity.deviceId) {
    throw new Error('device key: deviceId does not match the key');
  }
  return identity;
}

/** The v3 device proof for these connect params, answering the challenge `nonce`. */
export function signDeviceProof(identity: DeviceIdentity, params: ConnectParams, nonce: string, signedAt: number): DeviceProofParams {
  const payload = buildDeviceAuthPayload('v3', signedFieldsOf(params, { deviceId: identity.deviceId, nonce, signedAtMs: signedAt }));
  const signature = ed.sign(new TextEncoder().encode(payload), identity.secretKey);
  return {
    id: identity.deviceId,
    publicKey: base64UrlEncode(identity.publicKey),
    signature: base64UrlEncode(signature),
    signedAt,
    nonce,
  };
}
