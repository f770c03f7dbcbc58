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

/**
 * The encodings {@link isStrictEd25519PublicKey} refuses among canonical ones that decode to a point of
 * small order: the 8 points of the torsion subgroup (multiples of a point of order 8), and the x = 0
 * points (y = 1 and y = -1) with the sign bit set. A screen of byte comparisons can refuse them without
 * decoding anything (node-crypto.ts does).
 */
export function smallOrderEncodings(): Uint8Array[] {
  const order8 = ed.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
  const encodings: Uint8Array[] = [];
  let point = ed.Point.ZERO;
  for (let k = 0; k < 8; k++) {
    const bytes = point.toBytes();
    encodings.push(bytes);
    if (point.x === 0n) {
      const signed = Uint8Array.from(bytes);
      signed[31] = signed[31]! | 0x80;
      encodings.push(signed);
    }
    point = point.add(order8);
  }
  return encodings;
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
