// Device tokens come from a pool the CSPRNG refills: each is 32 fresh bytes, base64url, and none repeats
// across refills. Only their hashes are kept, and a file holding them in plain text is migrated.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newDeviceToken } from '../../src/auth/device-pairing.js';
import { deviceTokenMatchesHash, hashDeviceToken, isDeviceTokenHash } from '../../src/auth/device-token.js';
import { hashPlainTokens, parsePairingState } from '../../src/store/pairing-store.js';

it('issues 32-byte base64url tokens, all distinct across several refills of the pool', () => {
  const tokens = Array.from({ length: 1_000 }, newDeviceToken);
  expect(new Set(tokens).size).toBe(tokens.length);
  for (const token of tokens) {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  }
  // Not a pool handed out twice or zeroed: the bytes of all tokens together look uniform.
  const bytes = Buffer.concat(tokens.map((token) => Buffer.from(token, 'base64url')));
  const zeros = bytes.filter((byte) => byte === 0).length;
  expect(zeros).toBeLessThan(bytes.length / 64);
});

describe('device tokens at rest', () => {
  it('keeps a SHA-256 of the token and recognises only that token', () => {
    const token = newDeviceToken();
    const hash = hashDeviceToken(token);
    expect(hash).toBe(`sha256:${createHash('sha256').update(token).digest('base64url')}`);
    expect(hash).not.toContain(token);
    expect(isDeviceTokenHash(hash)).toBe(true);
    expect(deviceTokenMatchesHash(token, hash)).toBe(true);
    expect(deviceTokenMatchesHash(newDeviceToken(), hash)).toBe(false);
    expect(deviceTokenMatchesHash('', hash)).toBe(false);
    // The hash itself is no credential, and a token kept in plain text by an older version is no hash.
    expect(deviceTokenMatchesHash(hash, hash)).toBe(false);
    expect(deviceTokenMatchesHash(token, token)).toBe(false);
    expect(isDeviceTokenHash(token)).toBe(false);
  });

  it('migrates plain-text tokens to their hashes, as the auth layer hashes them, and leaves hashed records alone', () => {
    const [a, b] = [newDeviceToken(), newDeviceToken()];
    const device = (deviceId: string, extra: object) => ({ deviceId, role: 'operator', scopes: [], clientId: 'c', clientMode: 'ui', createdAtMs: 1, approvedAtMs: 1, silent: true, ...extra });
    const legacy = parsePairingState({ version: 1, devices: [device('d-1', { token: a }), device('d-2', { tokenHash: hashDeviceToken(b) })], nodes: [] });
    const { state, migrated } = hashPlainTokens(legacy);
    expect(migrated).toBe(1);
    expect(state.devices.map((entry) => entry.tokenHash)).toEqual([hashDeviceToken(a), hashDeviceToken(b)]);
    expect(JSON.stringify(state)).not.toContain(a);
    expect(parsePairingState(JSON.parse(JSON.stringify(state)))).toEqual(state);
    expect(hashPlainTokens(state).migrated).toBe(0);
  });
});
