/**
 * {@link DeviceCrypto} on node:crypto (OpenSSL), the fast path for the Node gateway.
 *
 * Two costs dominate a device-signed connect with a key the gateway has not seen: importing the key
 * into OpenSSL and the strict public-key check. Keys are imported as JWK (OpenSSL's raw-key import,
 * ~20 us) rather than as DER SPKI (its decoder framework, ~150-250 us here). The strict check (a
 * canonical curve point that is not of small order) needs a square root mod p in JavaScript (~100 us);
 * it is split in two: a screen of byte comparisons (canonical encoding, none of the small-order
 * encodings) before the signature is checked, and the point check itself only when the signature does
 * not verify, to tell a bad key from a bad signature. A signature that verifies proves the key decodes
 * to a curve point (OpenSSL's verify decodes it first and fails on anything else).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { DeviceCrypto } from './device-proof.js';
import { isStrictEd25519PublicKey, smallOrderEncodings } from './noble-crypto.js';

const KEY_CACHE_LIMIT = 1024;

/** Keys that verified a signature, least recently used first (Map keeps insertion order). */
const keyObjectCache = new Map<string, KeyObject>();

/** The 32-byte encodings of the points of small order (and their x = 0 variants with the sign bit set). */
const SMALL_ORDER = new Set(smallOrderEncodings().map((bytes) => Buffer.from(bytes).toString('hex')));

/** y < p = 2^255 - 19 for the little-endian y in the low 255 bits. */
function isCanonicalY(publicKey: Uint8Array): boolean {
  if ((publicKey[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (publicKey[i] !== 0xff) return true;
  return publicKey[0]! < 0xed;
}

/** A necessary condition of {@link isStrictEd25519PublicKey} made of byte comparisons only. */
export function screenEd25519PublicKey(publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && isCanonicalY(publicKey) && !SMALL_ORDER.has(Buffer.from(publicKey).toString('hex'));
}

function importKey(publicKey: Uint8Array): KeyObject | null {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  } catch {
    return null;
  }
}

function cached(cacheKey: string): KeyObject | undefined {
  const keyObject = keyObjectCache.get(cacheKey);
  if (keyObject) {
    keyObjectCache.delete(cacheKey);
    keyObjectCache.set(cacheKey, keyObject);
  }
  return keyObject;
}

function remember(cacheKey: string, keyObject: KeyObject): void {
  keyObjectCache.set(cacheKey, keyObject);
  if (keyObjectCache.size > KEY_CACHE_LIMIT) {
    const oldest = keyObjectCache.keys().next();
    if (!oldest.done) keyObjectCache.delete(oldest.value);
  }
}

/** What a signature is checked against, for either verify: the key object and how to keep it once it verified. */
interface Verifier {
  keyObject: KeyObject;
  verified(): void;
}

/** The screened key as a key object (cached or imported now), or undefined when no signature can verify. */
function verifierFor(signature: Uint8Array, publicKey: Uint8Array): Verifier | undefined {
  // OpenSSL accepts non-canonical and small-order keys: the screen refuses them first.
  if (signature.length !== 64 || !screenEd25519PublicKey(publicKey)) return undefined;
  const cacheKey = Buffer.from(publicKey).toString('base64url');
  const known = cached(cacheKey);
  const keyObject = known ?? importKey(publicKey);
  if (!keyObject) return undefined;
  return {
    keyObject,
    verified: () => {
      if (!known) remember(cacheKey, keyObject);
    },
  };
}

export const nodeDeviceCrypto: DeviceCrypto = {
  name: 'node',
  sha256Hex: (data) => createHash('sha256').update(data).digest('hex'),
  verifyEd25519(signature, message, publicKey) {
    const verifier = verifierFor(signature, publicKey);
    try {
      if (!verifier || !verify(null, message, verifier.keyObject, signature)) return false;
    } catch {
      return false;
    }
    verifier.verified();
    return true;
  },
  verifyEd25519Async(signature, message, publicKey) {
    const verifier = verifierFor(signature, publicKey);
    if (!verifier) return Promise.resolve(false);
    return new Promise((resolve) => {
      try {
        // With a callback, node:crypto checks the signature on libuv's thread pool.
        verify(null, message, verifier.keyObject, signature, (error, valid) => {
          const ok = !error && valid;
          if (ok) verifier.verified();
          resolve(ok);
        });
      } catch {
        resolve(false);
      }
    });
  },
  isValidPublicKey: isStrictEd25519PublicKey,
  screenPublicKey: screenEd25519PublicKey,
};
