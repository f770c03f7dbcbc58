// Test devices: fresh Ed25519 keys that sign connect params as a real client would.
import * as ed from '@noble/ed25519';
import { buildDeviceAuthPayload, base64UrlEncode, signedToken, type SignatureVersion } from '../../src/auth/device-proof.js';
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
  const payload = buildDeviceAuthPayload(options.version ?? 'v3', {
    deviceId: device.id,
    clientId: params.client.id,
    clientMode: params.client.mode,
    role: params.role ?? 'operator',
    scopes: params.scopes ?? [],
    signedAtMs: signedAt,
    token: signedToken(params.auth),
    nonce,
    platform: params.client.platform,
    deviceFamily: params.client.deviceFamily,
  });
  const signature = ed.sign(new TextEncoder().encode(payload), device.secretKey);
  return { id: device.id, publicKey: device.publicKey, signature: base64UrlEncode(signature), signedAt, nonce };
}
