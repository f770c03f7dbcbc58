// The device proof of a real node host, checked with the runtime's Ed25519 verifier, and each failure code.
import { nodeHostVector as vector } from '../vectors.mjs';

export const group = 'device-proof';

export async function define({ scenario, assert, authBase, crypto }) {
  const { verifyDeviceProof, buildDeviceAuthPayload, base64UrlDecode, base64UrlEncode } = await import(
    `${authBase}/device-proof.js`
  );

  const input = ({ device = {}, ...rest } = {}) => ({
    device: { ...vector.device, ...device },
    client: vector.client,
    role: vector.role,
    scopes: vector.scopes,
    auth: vector.auth,
    challengeNonce: vector.challengeNonce,
    now: vector.device.signedAt + 5,
    ...rest,
  });
  const verify = (overrides) => verifyDeviceProof(input(overrides), crypto);
  const expectFailure = (result, code) => assert.match(result, { ok: false, code }, 'failure');

  scenario(`the captured node-host proof verifies as v3 (${crypto.name} verifier)`, () => {
    const result = verify();
    assert.match(result, { ok: true, deviceId: vector.expect.deviceId, signatureVersion: vector.expect.signatureVersion });
    assert.equal(result.publicKey.length, 32, 'raw public key');
    const fields = {
      deviceId: vector.expect.deviceId,
      clientId: vector.client.id,
      clientMode: vector.client.mode,
      role: vector.role,
      scopes: vector.scopes,
      signedAtMs: vector.device.signedAt,
      token: vector.auth.token,
      nonce: vector.device.nonce,
      platform: vector.client.platform,
      deviceFamily: vector.client.deviceFamily,
    };
    assert.equal(buildDeviceAuthPayload('v3', fields), vector.expect.signedPayload, 'signed payload');
  });

  scenario('a tampered signature fails with DEVICE_AUTH_SIGNATURE_INVALID', () => {
    const signature = base64UrlDecode(vector.device.signature);
    signature[10] ^= 0x01;
    expectFailure(verify({ device: { signature: base64UrlEncode(signature) } }), 'DEVICE_AUTH_SIGNATURE_INVALID');
  });

  scenario('a signed field changed fails with DEVICE_AUTH_SIGNATURE_INVALID', () => {
    expectFailure(verify({ scopes: ['operator.admin'] }), 'DEVICE_AUTH_SIGNATURE_INVALID');
  });

  scenario('a nonce other than the challenge fails with DEVICE_AUTH_NONCE_MISMATCH', () => {
    expectFailure(verify({ challengeNonce: 'another-nonce' }), 'DEVICE_AUTH_NONCE_MISMATCH');
  });

  scenario('a proof outside the 120 s skew fails with DEVICE_AUTH_SIGNATURE_EXPIRED', () => {
    expectFailure(verify({ now: vector.device.signedAt + 120_001 }), 'DEVICE_AUTH_SIGNATURE_EXPIRED');
    assert.match(verify({ now: vector.device.signedAt + 120_000 }), { ok: true }, 'the edge of the window');
  });

  scenario('a malformed public key fails with DEVICE_AUTH_PUBLIC_KEY_INVALID', () => {
    expectFailure(verify({ device: { publicKey: 'not a key!' } }), 'DEVICE_AUTH_PUBLIC_KEY_INVALID');
    expectFailure(verify({ device: { publicKey: base64UrlEncode(new Uint8Array(31)) } }), 'DEVICE_AUTH_PUBLIC_KEY_INVALID');
  });

  scenario('a small-order public key (with its own device id) fails with DEVICE_AUTH_PUBLIC_KEY_INVALID', () => {
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    assert.equal(crypto.isValidPublicKey(identityPoint), false, 'the verifier rejects a small-order key');
    assert.equal(crypto.isValidPublicKey(base64UrlDecode(vector.device.publicKey)), true, 'and accepts the real one');
    const device = { publicKey: base64UrlEncode(identityPoint), id: crypto.sha256Hex(identityPoint) };
    expectFailure(verify({ device }), 'DEVICE_AUTH_PUBLIC_KEY_INVALID');
  });
}
