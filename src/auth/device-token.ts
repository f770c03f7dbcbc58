// Device tokens at rest: the gateway keeps only a token's SHA-256, so a copy of pairing.json (a backup, a
// leaked disk image) grants nothing. A presented token is hashed and compared with the kept hash in
// constant time. The token is 32 random bytes, so a plain hash is enough: there is nothing to guess.
import { createHash, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256:';
const DIGEST_BYTES = 32;

/** `sha256:` and the token's SHA-256 in base64url: what pairing.json holds instead of the token. */
export function hashDeviceToken(token: string): string {
  return PREFIX + createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Whether a stored value is a token hash (and not a token kept by an older version). */
export function isDeviceTokenHash(value: string): boolean {
  return value.startsWith(PREFIX) && Buffer.from(value.slice(PREFIX.length), 'base64url').length === DIGEST_BYTES;
}

/** Whether `presented` is the token whose hash is `tokenHash`, compared in constant time (the digests have one length). */
export function deviceTokenMatchesHash(presented: string, tokenHash: string): boolean {
  if (presented.length === 0 || !isDeviceTokenHash(tokenHash)) return false;
  const expected = Buffer.from(tokenHash.slice(PREFIX.length), 'base64url');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(actual, expected);
}
