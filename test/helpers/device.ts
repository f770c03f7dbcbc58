// Test devices: fresh Ed25519 keys that sign connect params as a real client would.
import * as ed from '@noble/ed25519';
import { buildDeviceAuthPayload, base64UrlEncode, signedFieldsOf, type SignatureVersion } from '../../src/auth/device-proof.js';
import { nodeDeviceCrypto } from '../../src/auth/node-crypto.js';
import '../../src/auth/noble-crypto.js';
import type { ConnectParams, DeviceProofParams } from '../../machines/protocol.js';

export interface TestDevice {
  id: string;
  publicKey: string;
  secretKey: Uint8Array;
}

export function createDevice(): TestDevice {
  const secretKey = ed.utils.randomSecretKey();
  const raw = ed.getPublicKey(secretKey);
  return { id: nodeDeviceCrypto.sha256Hex(raw), publicKey: base64UrlEncode(raw), secretKey };
}

export function signDevice(
  device: TestDevice,
  params: ConnectParams,
  nonce: string,
  options: { signedAt?: number; version?: SignatureVersion } = {},
): DeviceProofParams {
  const signedAt = options.signedAt ?? Date.now();
  const fields = signedFieldsOf(params, { deviceId: device.id, nonce, signedAtMs: signedAt });
  const payload = buildDeviceAuthPayload(options.version ?? 'v3', fields);
  const signature = ed.sign(new TextEncoder().encode(payload), device.secretKey);
  return { id: device.id, publicKey: device.publicKey, signature: base64UrlEncode(signature), signedAt, nonce };
}
