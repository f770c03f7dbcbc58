// Device tokens come from a pool the CSPRNG refills: each is 32 fresh bytes, base64url, and none repeats
// across refills.
import { expect, it } from 'vitest';
import { newDeviceToken } from '../../src/auth/device-pairing.js';

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
