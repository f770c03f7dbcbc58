import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import * as ed from '@noble/ed25519';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  base64UrlDecode,
  base64UrlEncode,
  buildDeviceAuthPayload,
  decodePublicKey,
  verifyDeviceProof,
  verifyDeviceProofAsync,
  type DeviceAuthCode,
  type DeviceCrypto,
  type DeviceProofInput,
  type DeviceProofResult,
  type SignatureVersion,
} from '../../src/auth/device-proof.js';
import { isStrictEd25519PublicKey, nobleDeviceCrypto, smallOrderEncodings } from '../../src/auth/noble-crypto.js';
import { nodeDeviceCrypto, screenEd25519PublicKey } from '../../src/auth/node-crypto.js';

// ---------------------------------------------------------------------------------------------
// The captured OpenClaw node-host handshake.

interface ConnectFixture {
  challenge: { payload: { nonce: string } };
  connect: {
    params: {
      client: { id: string; mode: string; platform?: string; deviceFamily?: string };
      role?: string;
      scopes?: string[];
      auth?: { token?: string };
      device: { id: string; publicKey: string; signature: string; signedAt: number; nonce?: string };
    };
  };
  expect: { deviceId: string; signatureVersion: SignatureVersion; signedPayload: string };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/conformance/node-host-connect.json', import.meta.url), 'utf8'),
) as ConnectFixture;

function fixtureInput(): DeviceProofInput {
  const { client, role, scopes, auth, device } = fixture.connect.params;
  return {
    device: { ...device },
    client,
    role,
    scopes,
    auth,
    challengeNonce: fixture.challenge.payload.nonce,
    now: device.signedAt + 5,
  };
}

// ---------------------------------------------------------------------------------------------
// Freshly generated identities, signed with noble (independently of the verifiers under test).

const NOW = 1_800_000_000_000;
const CHALLENGE = 'c0ffee00-1111-4222-8333-444455556666';
const OTHER_CHALLENGE = 'deadbeef-aaaa-4bbb-8ccc-dddddddddddd';

interface Identity {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  id: string;
}

function newIdentity(): Identity {
  const secretKey = ed.utils.randomSecretKey();
  const publicKey = ed.getPublicKey(secretKey);
  return { secretKey, publicKey, id: bytesToHex(sha256(publicKey)) };
}

const alice = newIdentity();
const mallory = newIdentity();

/** An input from alice with no signature yet; `signWith` fills it. */
function unsignedInput(overrides: Partial<DeviceProofInput> = {}): DeviceProofInput {
  return {
    device: { id: alice.id, publicKey: base64UrlEncode(alice.publicKey), signature: '', signedAt: NOW, nonce: CHALLENGE },
    client: { id: 'cli', mode: 'cli', platform: ' Darwin ', deviceFamily: 'MacBookPro' },
    role: 'operator',
    scopes: ['operator.read', 'operator.write'],
    auth: { token: 'gateway-token' },
    challengeNonce: CHALLENGE,
    now: NOW,
    ...overrides,
  };
}

interface SignOptions {
  version?: SignatureVersion;
  signer?: Identity;
  token?: string;
  nonce?: string;
  role?: string;
}

/** Signs the payload the contract describes for `input`, with explicit (overridable) fields. */
function signWith(input: DeviceProofInput, options: SignOptions = {}): DeviceProofInput {
  const payload = buildDeviceAuthPayload(options.version ?? 'v3', {
    deviceId: input.device.id,
    clientId: input.client.id,
    clientMode: input.client.mode,
    role: options.role ?? input.role ?? 'operator',
    scopes: input.scopes ?? [],
    signedAtMs: input.device.signedAt,
    token: options.token ?? input.auth?.token ?? '',
    nonce: options.nonce ?? input.device.nonce ?? '',
    platform: input.client.platform,
    deviceFamily: input.client.deviceFamily,
  });
  const signature = ed.sign(new TextEncoder().encode(payload), (options.signer ?? alice).secretKey);
  return { ...input, device: { ...input.device, signature: base64UrlEncode(signature) } };
}

function withDevice(input: DeviceProofInput, device: Partial<DeviceProofInput['device']>): DeviceProofInput {
  return { ...input, device: { ...input.device, ...device } };
}

function signedAtOffset(offsetMs: number): DeviceProofInput {
  return signWith(withDevice(unsignedInput(), { signedAt: NOW + offsetMs }));
}

/** 32 bytes that are no curve point: the smallest y whose x^2 has no square root. */
function nonPointBytes(): Uint8Array {
  for (let y = 2; y < 256; y++) {
    const bytes = new Uint8Array(32);
    bytes[0] = y;
    try {
      ed.Point.fromBytes(bytes);
    } catch {
      return bytes;
    }
  }
  throw new Error('no non-point found');
}

/** An input claiming the raw `key` (with a matching id) so only the key-validity check can fail. */
function inputWithRawKey(key: Uint8Array): DeviceProofInput {
  const input = signWith(unsignedInput());
  return withDevice(input, { publicKey: base64UrlEncode(key), id: bytesToHex(sha256(key)) });
}

function tamperedSignature(input: DeviceProofInput): DeviceProofInput {
  const signature = base64UrlDecode(input.device.signature)!;
  signature[10] = (signature[10] ?? 0) ^ 0x01;
  return withDevice(input, { signature: base64UrlEncode(signature) });
}

/** The same signature with s replaced by s + L (a malleated encoding strict verifiers reject). */
function malleatedSignature(input: DeviceProofInput): DeviceProofInput {
  const signature = base64UrlDecode(input.device.signature)!;
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let index = 63; index >= 32; index--) s = (s << 8n) | BigInt(signature[index] ?? 0);
  s += L;
  for (let index = 32; index < 64; index++, s >>= 8n) signature[index] = Number(s & 0xffn);
  return withDevice(input, { signature: base64UrlEncode(signature) });
}

function pemOf(raw: Uint8Array): string {
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: base64UrlEncode(raw) };
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}

// ---------------------------------------------------------------------------------------------
// The table: every case runs against both verifiers.

type Expected = { ok: true; version: SignatureVersion } | { ok: false; code: DeviceAuthCode };

interface Case {
  name: string;
  input: () => DeviceProofInput;
  expected: Expected;
}

const accepted = (version: SignatureVersion): Expected => ({ ok: true, version });
const rejected = (code: DeviceAuthCode): Expected => ({ ok: false, code });

const identityPoint = Uint8Array.from({ length: 32 }, (_, index) => (index === 0 ? 1 : 0));
// With the identity as public key, R = identity and s = 0 satisfies [s]B = R + [k]A for any message.
const forgedIdentitySignature = base64UrlEncode(Uint8Array.from({ length: 64 }, (_, index) => (index === 0 ? 1 : 0)));

const cases: Case[] = [
  { name: 'captured node-host vector', input: fixtureInput, expected: accepted('v3') },
  { name: 'fresh key, v3 payload', input: () => signWith(unsignedInput()), expected: accepted('v3') },
  { name: 'fresh key, v2 payload only', input: () => signWith(unsignedInput(), { version: 'v2' }), expected: accepted('v2') },
  {
    name: 'role absent defaults to operator',
    input: () => signWith(unsignedInput({ role: undefined, scopes: undefined }), { role: 'operator' }),
    expected: accepted('v3'),
  },
  {
    name: 'PEM public key',
    input: () => withDevice(signWith(unsignedInput()), { publicKey: pemOf(alice.publicKey) }),
    expected: accepted('v3'),
  },
  {
    name: 'padded base64url public key',
    input: () => withDevice(signWith(unsignedInput()), { publicKey: `${base64UrlEncode(alice.publicKey)}=` }),
    expected: accepted('v3'),
  },
  {
    name: 'device id of another key',
    input: () => signWith(withDevice(unsignedInput(), { id: mallory.id })),
    expected: rejected('DEVICE_AUTH_DEVICE_ID_MISMATCH'),
  },
  {
    name: 'id mismatch is reported before expiry',
    input: () => signWith(withDevice(unsignedInput(), { id: mallory.id, signedAt: NOW - 500_000 })),
    expected: rejected('DEVICE_AUTH_DEVICE_ID_MISMATCH'),
  },
  { name: 'signed 120001 ms ago', input: () => signedAtOffset(-120_001), expected: rejected('DEVICE_AUTH_SIGNATURE_EXPIRED') },
  { name: 'signed 120001 ms in the future', input: () => signedAtOffset(120_001), expected: rejected('DEVICE_AUTH_SIGNATURE_EXPIRED') },
  { name: 'signed exactly 120000 ms ago', input: () => signedAtOffset(-120_000), expected: accepted('v3') },
  { name: 'signed exactly 120000 ms in the future', input: () => signedAtOffset(120_000), expected: accepted('v3') },
  {
    name: 'expiry is reported before a missing nonce',
    input: () => signWith(withDevice(unsignedInput(), { signedAt: NOW - 200_000, nonce: undefined })),
    expected: rejected('DEVICE_AUTH_SIGNATURE_EXPIRED'),
  },
  {
    name: 'nonce undefined',
    input: () => signWith(withDevice(unsignedInput(), { nonce: undefined })),
    expected: rejected('DEVICE_AUTH_NONCE_REQUIRED'),
  },
  {
    name: 'nonce empty',
    input: () => signWith(withDevice(unsignedInput(), { nonce: '' })),
    expected: rejected('DEVICE_AUTH_NONCE_REQUIRED'),
  },
  {
    name: 'nonce replayed from another challenge',
    input: () => signWith(withDevice(unsignedInput(), { nonce: OTHER_CHALLENGE })),
    expected: rejected('DEVICE_AUTH_NONCE_MISMATCH'),
  },
  {
    name: 'public key of 31 bytes',
    input: () => inputWithRawKey(alice.publicKey.slice(0, 31)),
    expected: rejected('DEVICE_AUTH_PUBLIC_KEY_INVALID'),
  },
  {
    name: 'public key garbage text (reported instead of an id mismatch)',
    input: () => withDevice(signWith(unsignedInput()), { publicKey: 'not a key!!' }),
    expected: rejected('DEVICE_AUTH_PUBLIC_KEY_INVALID'),
  },
  {
    name: 'public key of 32 bytes that are no curve point',
    input: () => inputWithRawKey(nonPointBytes()),
    expected: rejected('DEVICE_AUTH_PUBLIC_KEY_INVALID'),
  },
  {
    name: 'small-order public key with a forged signature',
    input: () => withDevice(inputWithRawKey(identityPoint), { signature: forgedIdentitySignature }),
    expected: rejected('DEVICE_AUTH_PUBLIC_KEY_INVALID'),
  },
  {
    name: 'tampered signature',
    input: () => tamperedSignature(signWith(unsignedInput())),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'malleated signature (s + L)',
    input: () => malleatedSignature(signWith(unsignedInput())),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'signature of the wrong length',
    input: () => withDevice(signWith(unsignedInput()), { signature: base64UrlEncode(new Uint8Array(63)) }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'signature not base64url',
    input: () => withDevice(signWith(unsignedInput()), { signature: '***' }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'signature by another key',
    input: () => signWith(unsignedInput(), { signer: mallory }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'signature over a different token',
    input: () => signWith(unsignedInput(), { token: 'other-token' }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'token wins over deviceToken',
    input: () => signWith(unsignedInput({ auth: { token: 'shared', deviceToken: 'device' } }), { token: 'shared' }),
    expected: accepted('v3'),
  },
  {
    name: 'signing deviceToken while token is present fails',
    input: () => signWith(unsignedInput({ auth: { token: 'shared', deviceToken: 'device' } }), { token: 'device' }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'deviceToken wins over bootstrapToken (empty token skipped)',
    input: () =>
      signWith(unsignedInput({ auth: { token: '', deviceToken: 'device', bootstrapToken: 'boot' } }), { token: 'device' }),
    expected: accepted('v3'),
  },
  {
    name: 'signing bootstrapToken while deviceToken is present fails',
    input: () => signWith(unsignedInput({ auth: { deviceToken: 'device', bootstrapToken: 'boot' } }), { token: 'boot' }),
    expected: rejected('DEVICE_AUTH_SIGNATURE_INVALID'),
  },
  {
    name: 'bootstrapToken alone',
    input: () => signWith(unsignedInput({ auth: { bootstrapToken: 'boot' } }), { token: 'boot' }),
    expected: accepted('v3'),
  },
  {
    name: 'no token at all (password auth) signs the empty string',
    input: () => signWith(unsignedInput({ auth: { password: 'secret' } }), { token: '' }),
    expected: accepted('v3'),
  },
];

const EXPECTED_FAILURE_TEXT: Record<DeviceAuthCode, { reason: string; message: string }> = {
  DEVICE_AUTH_DEVICE_ID_MISMATCH: { reason: 'device-id-mismatch', message: 'device identity mismatch' },
  DEVICE_AUTH_SIGNATURE_EXPIRED: { reason: 'device-signature-stale', message: 'device signature expired' },
  DEVICE_AUTH_NONCE_REQUIRED: { reason: 'device-nonce-missing', message: 'device nonce required' },
  DEVICE_AUTH_NONCE_MISMATCH: { reason: 'device-nonce-mismatch', message: 'device nonce mismatch' },
  DEVICE_AUTH_PUBLIC_KEY_INVALID: { reason: 'device-public-key', message: 'device public key invalid' },
  DEVICE_AUTH_SIGNATURE_INVALID: { reason: 'device-signature', message: 'device signature invalid' },
};

function summary(result: DeviceProofResult): Expected {
  return result.ok ? accepted(result.signatureVersion) : rejected(result.code);
}

const verifiers: DeviceCrypto[] = [nodeDeviceCrypto, nobleDeviceCrypto];

describe.each(verifiers)('verifyDeviceProof with the $name verifier', (crypto) => {
  it.each(cases)('$name', ({ input, expected }) => {
    const result = verifyDeviceProof(input(), crypto);
    if (expected.ok) {
      expect(result).toMatchObject({ ok: true, signatureVersion: expected.version });
    } else {
      expect(result).toEqual({ ok: false, code: expected.code, ...EXPECTED_FAILURE_TEXT[expected.code] });
    }
  });

  it('accepts the captured vector with its device id, raw key and signed payload', () => {
    const input = fixtureInput();
    const result = verifyDeviceProof(input, crypto);
    expect(result).toEqual({
      ok: true,
      deviceId: fixture.expect.deviceId,
      publicKey: decodePublicKey(input.device.publicKey),
      signatureVersion: fixture.expect.signatureVersion,
    });
    if (!result.ok) return;
    expect(result.publicKey).toHaveLength(32);
    const payload = buildDeviceAuthPayload('v3', {
      deviceId: result.deviceId,
      clientId: input.client.id,
      clientMode: input.client.mode,
      role: input.role ?? 'operator',
      scopes: input.scopes ?? [],
      signedAtMs: input.device.signedAt,
      token: input.auth?.token ?? '',
      nonce: input.device.nonce ?? '',
      platform: input.client.platform,
      deviceFamily: input.client.deviceFamily,
    });
    expect(payload).toBe(fixture.expect.signedPayload);
  });

  it('keeps rejecting a wrong signature after a cached right one', () => {
    const good = signWith(unsignedInput());
    expect(verifyDeviceProof(good, crypto).ok).toBe(true);
    expect(verifyDeviceProof(good, crypto).ok).toBe(true);
    expect(verifyDeviceProof(tamperedSignature(good), crypto)).toMatchObject({ code: 'DEVICE_AUTH_SIGNATURE_INVALID' });
    expect(verifyDeviceProof(signWith(unsignedInput(), { signer: mallory }), crypto).ok).toBe(false);
    expect(verifyDeviceProof(good, crypto).ok).toBe(true);
  });
});

describe('node and noble verifiers', () => {
  it('agree on every case', () => {
    for (const { name, input } of cases) {
      const shared = input();
      const [nodeResult, nobleResult] = verifiers.map((crypto) => summary(verifyDeviceProof(shared, crypto)));
      expect({ name, result: nodeResult }).toEqual({ name, result: nobleResult });
    }
  });

  it('reject the small-order forgery inside verifyEd25519 too (OpenSSL alone accepts it)', async () => {
    const message = new TextEncoder().encode('any message');
    const signature = base64UrlDecode(forgedIdentitySignature)!;
    for (const crypto of verifiers) {
      expect(crypto.isValidPublicKey(identityPoint)).toBe(false);
      expect(crypto.verifyEd25519(signature, message, identityPoint)).toBe(false);
    }
    expect(await nodeDeviceCrypto.verifyEd25519Async!(signature, message, identityPoint)).toBe(false);
  });

  it('answer every case the same off the event loop (node:crypto on the thread pool) as on it', async () => {
    expect(nodeDeviceCrypto.verifyEd25519Async).toBeTypeOf('function');
    for (const { name, input, expected } of cases) {
      const shared = input();
      const onLoop = verifyDeviceProof(shared, nodeDeviceCrypto);
      const offLoop = await verifyDeviceProofAsync(shared, nodeDeviceCrypto);
      expect({ name, result: offLoop }).toEqual({ name, result: onLoop });
      expect({ name, result: summary(offLoop) }).toEqual({ name, result: expected.ok ? accepted(expected.version) : rejected(expected.code) });
      // Without an async verifier the async form is the sync one.
      expect({ name, result: await verifyDeviceProofAsync(shared, nobleDeviceCrypto) }).toEqual({ name, result: verifyDeviceProof(shared, nobleDeviceCrypto) });
    }
  });

  it('agree on the device id', () => {
    expect(nodeDeviceCrypto.sha256Hex(alice.publicKey)).toBe(nobleDeviceCrypto.sha256Hex(alice.publicKey));
  });
});

describe('the byte screen of node-crypto (strict key check deferred to a failed signature)', () => {
  it('refuses every small-order encoding and its x = 0 sign variants, which the strict check refuses too', () => {
    const encodings = smallOrderEncodings();
    expect(encodings).toHaveLength(10);
    for (const bytes of encodings) {
      expect(isStrictEd25519PublicKey(bytes)).toBe(false);
      expect(screenEd25519PublicKey(bytes)).toBe(false);
    }
  });

  it('refuses non-canonical encodings (y >= p) and passes real keys', () => {
    const p = new Uint8Array(32).fill(0xff);
    p[0] = 0xed;
    p[31] = 0x7f;
    for (const low of [0xed, 0xee, 0xff]) {
      const bytes = Uint8Array.from(p);
      bytes[0] = low;
      expect(screenEd25519PublicKey(bytes)).toBe(false);
      expect(isStrictEd25519PublicKey(bytes)).toBe(false);
    }
    for (let i = 0; i < 50; i++) {
      const key = ed.getPublicKey(ed.utils.randomSecretKey());
      expect(screenEd25519PublicKey(key)).toBe(true);
    }
  });

  it('leaves no curve point to the signature check, which reports the key', () => {
    const bytes = nonPointBytes();
    expect(screenEd25519PublicKey(bytes)).toBe(true);
    expect(nodeDeviceCrypto.isValidPublicKey(bytes)).toBe(false);
    expect(nodeDeviceCrypto.verifyEd25519(new Uint8Array(64), new Uint8Array(8), bytes)).toBe(false);
  });
});

describe('buildDeviceAuthPayload', () => {
  const fields = {
    deviceId: 'dev',
    clientId: 'cli',
    clientMode: 'cli',
    role: 'operator',
    scopes: ['a', 'b'],
    signedAtMs: 42,
    token: 'tok',
    nonce: 'n',
    platform: '  MacOS ',
  };

  it('joins the v2 fields', () => {
    expect(buildDeviceAuthPayload('v2', fields)).toBe('v2|dev|cli|cli|operator|a,b|42|tok|n');
  });

  it('appends trimmed, lowercased platform and deviceFamily in v3 (missing -> empty)', () => {
    expect(buildDeviceAuthPayload('v3', fields)).toBe('v3|dev|cli|cli|operator|a,b|42|tok|n|macos|');
  });

  it('lowercases ASCII only', () => {
    expect(buildDeviceAuthPayload('v3', { ...fields, platform: 'ÉA', deviceFamily: 'X' })).toMatch(/\|Éa\|x$/);
  });
});

describe('key and base64url decoding', () => {
  it('round-trips base64url for every length mod 3', () => {
    for (const length of [0, 1, 2, 3, 31, 32, 64]) {
      const bytes = Uint8Array.from({ length }, (_, index) => (index * 37 + 11) & 0xff);
      const text = base64UrlEncode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64url'));
      expect(base64UrlDecode(text)).toEqual(bytes);
    }
  });

  it('rejects malformed base64url', () => {
    expect(base64UrlDecode('a')).toBeNull();
    expect(base64UrlDecode('ab.c')).toBeNull();
    expect(base64UrlDecode('ab=c')).toBeNull();
  });

  it('decodes PEM and base64url keys to the same raw bytes', () => {
    expect(decodePublicKey(pemOf(alice.publicKey))).toEqual(alice.publicKey);
    expect(decodePublicKey(base64UrlEncode(alice.publicKey))).toEqual(alice.publicKey);
    expect(decodePublicKey(base64UrlEncode(new Uint8Array(33)))).toBeNull();
  });
});
