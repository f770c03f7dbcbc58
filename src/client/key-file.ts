// Device key files (Node): JSON with base64url keys, created with mode 0600 when missing.
//   {"version":1,"type":"ed25519","deviceId":"<hex sha-256 of the public key>","publicKey":"<b64url>","secretKey":"<b64url seed>"}
import { readFileSync, writeFileSync } from 'node:fs';
import { createDeviceIdentity, identityFromJson, identityToJson, type DeviceIdentity } from './identity.js';

export interface DeviceKeyFile {
  identity: DeviceIdentity;
  /** True when the file did not exist and was written now. */
  created: boolean;
}

export function loadOrCreateDeviceKey(path: string): DeviceKeyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const identity = createDeviceIdentity();
    // 'wx': never overwrite a key another process wrote in the meantime.
    writeFileSync(path, `${JSON.stringify(identityToJson(identity), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return { identity, created: true };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not JSON`);
  }
  try {
    return { identity: identityFromJson(json), created: false };
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}
