/**
 * {@link DeviceCrypto} on node:crypto (OpenSSL), the fast path for the Node gateway.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { DeviceCrypto } from './device-proof.js';
import { isStrictEd25519PublicKey } from './noble-crypto.js';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_LIMIT = 1024;

/** Valid keys only, least recently used first (Map keeps insertion order). */
const keyObjectCache = new Map<string, KeyObject>();

/** The KeyObject for a raw key, or null when the key is invalid. */
function keyObjectFor(publicKey: Uint8Array): KeyObject | null {
  const cacheKey = Buffer.from(publicKey).toString('base64url');
  const cached = keyObjectCache.get(cacheKey);
  if (cached) {
    keyObjectCache.delete(cacheKey);
    keyObjectCache.set(cacheKey, cached);
    return cached;
  }
  // OpenSSL imports any 32 bytes (even non-points) and accepts small-order keys, so the strict
  // point check runs once here, before a key can enter the cache.
  if (!isStrictEd25519PublicKey(publicKey)) return null;
  const keyObject = createKeyObject(publicKey);
  if (!keyObject) return null;
  keyObjectCache.set(cacheKey, keyObject);
  if (keyObjectCache.size > KEY_CACHE_LIMIT) evictOldest();
  return keyObject;
}

function createKeyObject(publicKey: Uint8Array): KeyObject | null {
  try {
    const der = Buffer.concat([SPKI_ED25519_PREFIX, publicKey]);
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

function evictOldest(): void {
  const oldest = keyObjectCache.keys().next();
  if (!oldest.done) keyObjectCache.delete(oldest.value);
}

export const nodeDeviceCrypto: DeviceCrypto = {
  name: 'node',
  sha256Hex: (data) => createHash('sha256').update(data).digest('hex'),
  verifyEd25519(signature, message, publicKey) {
    if (signature.length !== 64) return false;
    try {
      const keyObject = keyObjectFor(publicKey);
      return keyObject !== null && verify(null, message, keyObject, signature);
    } catch {
      return false;
    }
  },
  isValidPublicKey: (publicKey) => keyObjectFor(publicKey) !== null,
};
