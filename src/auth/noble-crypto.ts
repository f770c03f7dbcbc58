/**
 * Portable {@link DeviceCrypto} on @noble/ed25519 and @noble/hashes (browsers, Deno, Bun, Node).
 */
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { DeviceCrypto } from './device-proof.js';

// noble's synchronous API needs a SHA-512; keep one the application may already have set.
ed.hashes.sha512 ??= sha512;

/**
 * The public-key rule both verifiers share: a canonical encoding of a curve point that is not of
 * small order (small-order keys let one forged signature verify for every message).
 */
export function isStrictEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    return !ed.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

export const nobleDeviceCrypto: DeviceCrypto = {
  name: 'noble',
  sha256Hex: (data) => bytesToHex(sha256(data)),
  verifyEd25519(signature, message, publicKey) {
    try {
      // zip215: false is RFC 8032 strict: canonical encodings, small-order keys rejected.
      return ed.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
  isValidPublicKey: isStrictEd25519PublicKey,
};
