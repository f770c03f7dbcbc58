/**
 * Device identity proof (Ed25519) verification, as in the OpenClaw gateway protocol.
 *
 * Pure and portable: no `node:*` imports, no Buffer. The crypto primitives are injected
 * through {@link DeviceCrypto} so the same checks run on Node (node:crypto) and anywhere
 * else (@noble/ed25519).
 */

import type { DetailCode } from '../../machines/protocol.js';

export interface DeviceCrypto {
  readonly name: string;
  sha256Hex(data: Uint8Array): string;
  verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** 32 bytes, canonical encoding of a curve point, not of small order. */
  isValidPublicKey(publicKey: Uint8Array): boolean;
  /**
   * Optional: a cheap necessary condition of `isValidPublicKey`, for a verifier whose `verifyEd25519`
   * fails for every key that is no curve point. When given, the full key check runs only when the
   * signature does not verify (to tell a bad key from a bad signature); the outcome is the same.
   */
  screenPublicKey?(publicKey: Uint8Array): boolean;
  /**
   * Optional: `verifyEd25519` off the caller's thread (node:crypto runs it on libuv's thread pool), so a
   * gateway's event loop goes on serving others while a signature is checked. Same answers.
   */
  verifyEd25519Async?(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}

/** The `details.code` of a device proof that does not hold (see DetailCode in machines/protocol.ts). */
export type DeviceAuthCode = Extract<DetailCode, `DEVICE_AUTH_${string}`>;

export type SignatureVersion = 'v2' | 'v3';

export interface DeviceProofFailure {
  ok: false;
  code: DeviceAuthCode;
  reason: string;
  message: string;
}

export interface DeviceProofSuccess {
  ok: true;
  deviceId: string;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  signatureVersion: SignatureVersion;
}

export type DeviceProofResult = DeviceProofSuccess | DeviceProofFailure;

export interface DeviceProofInput {
  device: { id: string; publicKey: string; signature: string; signedAt: number; nonce?: string };
  client: { id: string; mode: string; platform?: string; deviceFamily?: string };
  role?: string;
  scopes?: readonly string[];
  auth?: { token?: string; deviceToken?: string; bootstrapToken?: string; password?: string };
  /** The nonce this connection sent in its `connect.challenge` event. */
  challengeNonce: string;
  /** The verifier's clock, epoch milliseconds. */
  now: number;
  maxSkewMs?: number;
}

/** The fields a client signs; `platform` and `deviceFamily` only count in v3. */
export interface DeviceAuthPayloadFields {
  deviceId: string;
  clientId: string;
  clientMode: string;
  role: string;
  scopes: readonly string[];
  signedAtMs: number;
  token: string;
  nonce: string;
  platform?: string;
  deviceFamily?: string;
}

export const DEFAULT_MAX_SKEW_MS = 120_000;
export const DEFAULT_ROLE = 'operator';

const FAILURES: Record<DeviceAuthCode, { reason: string; message: string }> = {
  DEVICE_AUTH_DEVICE_ID_MISMATCH: { reason: 'device-id-mismatch', message: 'device identity mismatch' },
  DEVICE_AUTH_SIGNATURE_EXPIRED: { reason: 'device-signature-stale', message: 'device signature expired' },
  DEVICE_AUTH_NONCE_REQUIRED: { reason: 'device-nonce-missing', message: 'device nonce required' },
  DEVICE_AUTH_NONCE_MISMATCH: { reason: 'device-nonce-mismatch', message: 'device nonce mismatch' },
  DEVICE_AUTH_PUBLIC_KEY_INVALID: { reason: 'device-public-key', message: 'device public key invalid' },
  DEVICE_AUTH_SIGNATURE_INVALID: { reason: 'device-signature', message: 'device signature invalid' },
};

function failure(code: DeviceAuthCode): DeviceProofFailure {
  return { ok: false, code, ...FAILURES[code] };
}

/** What is left to check once everything but the signature holds: the signature, against each version's message. */
interface PendingSignature {
  deviceId: string;
  publicKey: Uint8Array;
  signature: Uint8Array | null;
  messages: { version: SignatureVersion; message: () => Uint8Array }[];
}

export function verifyDeviceProof(input: DeviceProofInput, crypto: DeviceCrypto): DeviceProofResult {
  const pending = checkAllButSignature(input, crypto);
  if (!pending.ok) return pending;
  let version: SignatureVersion | null = null;
  if (pending.signature) {
    for (const candidate of pending.messages) {
      if (crypto.verifyEd25519(pending.signature, candidate.message(), pending.publicKey)) {
        version = candidate.version;
        break;
      }
    }
  }
  return signatureOutcome(pending, version, crypto);
}

/**
 * The same checks and answers as {@link verifyDeviceProof}, with the signature checked by
 * `crypto.verifyEd25519Async` when the crypto has it (else as `verifyDeviceProof` does).
 */
export async function verifyDeviceProofAsync(input: DeviceProofInput, crypto: DeviceCrypto): Promise<DeviceProofResult> {
  const verifyAsync = crypto.verifyEd25519Async;
  if (!verifyAsync) return verifyDeviceProof(input, crypto);
  const pending = checkAllButSignature(input, crypto);
  if (!pending.ok) return pending;
  let version: SignatureVersion | null = null;
  if (pending.signature) {
    for (const candidate of pending.messages) {
      if (await verifyAsync.call(crypto, pending.signature, candidate.message(), pending.publicKey)) {
        version = candidate.version;
        break;
      }
    }
  }
  return signatureOutcome(pending, version, crypto);
}

function checkAllButSignature(input: DeviceProofInput, crypto: DeviceCrypto): DeviceProofFailure | (PendingSignature & { ok: true }) {
  const { device } = input;
  // An undecodable key has no id to compare, so it fails before the ordered checks.
  const publicKey = decodePublicKey(device.publicKey);
  if (!publicKey) return failure('DEVICE_AUTH_PUBLIC_KEY_INVALID');

  const deviceId = deriveDeviceId(publicKey, crypto);
  if (deviceId !== device.id) return failure('DEVICE_AUTH_DEVICE_ID_MISMATCH');
  if (!isWithinSkew(device.signedAt, input.now, input.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return failure('DEVICE_AUTH_SIGNATURE_EXPIRED');
  }
  if (typeof device.nonce !== 'string' || device.nonce === '') return failure('DEVICE_AUTH_NONCE_REQUIRED');
  if (device.nonce !== input.challengeNonce) return failure('DEVICE_AUTH_NONCE_MISMATCH');
  const screened = crypto.screenPublicKey ? crypto.screenPublicKey(publicKey) : crypto.isValidPublicKey(publicKey);
  if (!screened) return failure('DEVICE_AUTH_PUBLIC_KEY_INVALID');

  const decoded = typeof device.signature === 'string' ? base64UrlDecode(device.signature) : null;
  const signature = decoded && decoded.length === 64 ? decoded : null;
  const fields = payloadFieldsOf(input, deviceId);
  const encoder = new TextEncoder();
  // The newest version first; the older message is built only when the newer one does not verify.
  const messages = (['v3', 'v2'] as const).map((version) => ({ version, message: () => encoder.encode(buildDeviceAuthPayload(version, fields)) }));
  return { ok: true, deviceId, publicKey, signature, messages };
}

function signatureOutcome(pending: PendingSignature, version: SignatureVersion | null, crypto: DeviceCrypto): DeviceProofResult {
  if (!version) {
    // A screened key was not fully checked: a signature that fails under it may be a key that is no point.
    if (crypto.screenPublicKey && !crypto.isValidPublicKey(pending.publicKey)) return failure('DEVICE_AUTH_PUBLIC_KEY_INVALID');
    return failure('DEVICE_AUTH_SIGNATURE_INVALID');
  }
  return { ok: true, deviceId: pending.deviceId, publicKey: pending.publicKey, signatureVersion: version };
}

function isWithinSkew(signedAt: number, now: number, maxSkewMs: number): boolean {
  // NaN fails the comparison, so a non-numeric signedAt counts as expired.
  return Math.abs(now - signedAt) <= maxSkewMs;
}

function payloadFieldsOf(input: DeviceProofInput, deviceId: string): DeviceAuthPayloadFields {
  return signedFieldsOf(input, { deviceId, nonce: input.device.nonce ?? '', signedAtMs: input.device.signedAt });
}

/** What a device signs for these connect params: the client signs it, the gateway rebuilds it to verify. */
export function signedFieldsOf(
  connect: Pick<DeviceProofInput, 'client' | 'role' | 'scopes' | 'auth'>,
  proof: { deviceId: string; nonce: string; signedAtMs: number },
): DeviceAuthPayloadFields {
  return {
    deviceId: proof.deviceId,
    clientId: connect.client.id,
    clientMode: connect.client.mode,
    role: connect.role ?? DEFAULT_ROLE,
    scopes: connect.scopes ?? [],
    signedAtMs: proof.signedAtMs,
    token: signedToken(connect.auth),
    nonce: proof.nonce,
    platform: connect.client.platform,
    deviceFamily: connect.client.deviceFamily,
  };
}

/** The token a client signs: the first non-empty of token, deviceToken, bootstrapToken. */
export function signedToken(auth: DeviceProofInput['auth']): string {
  for (const candidate of [auth?.token, auth?.deviceToken, auth?.bootstrapToken]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
  }
  return '';
}

/** The `|`-joined text a device signs (clients use this to sign, gateways to verify). */
export function buildDeviceAuthPayload(version: SignatureVersion, fields: DeviceAuthPayloadFields): string {
  const common = [
    fields.deviceId,
    fields.clientId,
    fields.clientMode,
    fields.role,
    fields.scopes.join(','),
    String(fields.signedAtMs),
    fields.token,
    fields.nonce,
  ];
  if (version === 'v2') return ['v2', ...common].join('|');
  return ['v3', ...common, normalizeMetadata(fields.platform), normalizeMetadata(fields.deviceFamily)].join('|');
}

function normalizeMetadata(value: string | undefined): string {
  return (value ?? '').trim().replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

export function deriveDeviceId(rawPublicKey: Uint8Array, crypto: DeviceCrypto): string {
  return crypto.sha256Hex(rawPublicKey);
}

// DER header of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const SPKI_ED25519_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]*)-----END PUBLIC KEY-----$/;

/** The raw 32-byte key from base64url or PEM (SPKI) text, or null when it is neither. */
export function decodePublicKey(text: string): Uint8Array | null {
  if (typeof text !== 'string') return null;
  const pem = PEM_PUBLIC_KEY.exec(text.trim());
  const raw = pem ? rawKeyFromSpki(base64UrlDecode((pem[1] ?? '').replace(/\s+/g, ''))) : base64UrlDecode(text);
  return raw && raw.length === 32 ? raw : null;
}

function rawKeyFromSpki(der: Uint8Array | null): Uint8Array | null {
  if (!der || der.length !== SPKI_ED25519_PREFIX.length + 32) return null;
  const hasPrefix = SPKI_ED25519_PREFIX.every((byte, index) => der[index] === byte);
  return hasPrefix ? der.slice(SPKI_ED25519_PREFIX.length) : null;
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64_DECODE_TABLE = buildDecodeTable();

function buildDecodeTable(): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let index = 0; index < BASE64URL_ALPHABET.length; index++) {
    table[BASE64URL_ALPHABET.charCodeAt(index)] = index;
  }
  // Standard-alphabet digits too, as Node's 'base64url' decoder (and PEM bodies) use them.
  table['+'.charCodeAt(0)] = 62;
  table['/'.charCodeAt(0)] = 63;
  return table;
}

/** Decodes base64url (padding optional; '+' and '/' tolerated), or null when malformed. */
export function base64UrlDecode(text: string): Uint8Array | null {
  const body = text.replace(/={1,2}$/, '');
  if (body.length % 4 === 1) return null;
  const bytes = new Uint8Array(Math.floor((body.length * 6) / 8));
  let buffer = 0;
  let bufferedBits = 0;
  let written = 0;
  for (let index = 0; index < body.length; index++) {
    const code = body.charCodeAt(index);
    const digit = code < 128 ? (BASE64_DECODE_TABLE[code] ?? -1) : -1;
    if (digit < 0) return null;
    buffer = ((buffer << 6) | digit) & 0xfff;
    bufferedBits += 6;
    if (bufferedBits >= 8) {
      bufferedBits -= 8;
      bytes[written++] = (buffer >> bufferedBits) & 0xff;
    }
  }
  return bytes;
}

/** Encodes base64url without padding. */
export function base64UrlEncode(bytes: Uint8Array): string {
  let text = '';
  for (let index = 0; index < bytes.length; index += 3) {
    const remaining = bytes.length - index;
    const group = ((bytes[index] ?? 0) << 16) | ((bytes[index + 1] ?? 0) << 8) | (bytes[index + 2] ?? 0);
    const digits = remaining >= 3 ? 4 : remaining + 1;
    for (let digit = 0; digit < digits; digit++) {
      text += BASE64URL_ALPHABET.charAt((group >> (18 - 6 * digit)) & 63);
    }
  }
  return text;
}
