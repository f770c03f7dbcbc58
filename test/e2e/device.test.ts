// Ed25519 device identity at connect, over real sockets: each failure has its own reason and details.code.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectParams, DeviceProofParams } from '../../machines/protocol.js';
import type { DeviceCrypto } from '../../src/auth/device-proof.js';
import { nodeDeviceCrypto } from '../../src/auth/node-crypto.js';
import { TestClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => gw.close());

async function connectWithDevice(tamper: (proof: DeviceProofParams, nonce: string) => DeviceProofParams) {
  const client = await TestClient.open(gw.url);
  const nonce = await client.challengeNonce();
  const params: ConnectParams = connectParams({ auth: { token: gw.token }, role: 'node', scopes: [] });
  params.client = { ...params.client, mode: 'node', id: 'node-host', deviceFamily: 'Linux' };
  params.device = tamper(signDevice(createDevice(), params, nonce), nonce);
  const response = await client.request('connect', params);
  return { client, response };
}

describe('device identity', () => {
  it('admits a correctly signed v3 device and reports its id', async () => {
    let deviceId = '';
    const { client, response } = await connectWithDevice((proof) => {
      deviceId = proof.id;
      return proof;
    });
    expect(response.ok).toBe(true);
    const ready = await gw.logs.waitFor((line) => line.msg === 'handshake complete' && line.deviceId === deviceId);
    expect(ready.role).toBe('node');
    await client.close();
  });

  const failures: [string, (proof: DeviceProofParams, nonce: string) => DeviceProofParams, string, string][] = [
    ['bad signature', (p) => ({ ...p, signature: p.signature.slice(0, -4) + (p.signature.endsWith('AAAA') ? 'BBBB' : 'AAAA') }), 'DEVICE_AUTH_SIGNATURE_INVALID', 'device signature invalid'],
    ['expired signature', (p) => ({ ...p, signedAt: p.signedAt - 10 * 60_000 }), 'DEVICE_AUTH_SIGNATURE_EXPIRED', 'device signature expired'],
    ['replayed nonce', (p) => ({ ...p, nonce: randomUUID() }), 'DEVICE_AUTH_NONCE_MISMATCH', 'device nonce mismatch'],
    ['missing nonce', ({ nonce: _nonce, ...p }) => p, 'DEVICE_AUTH_NONCE_REQUIRED', 'device nonce required'],
    ['mismatched device id', (p) => ({ ...p, id: createDevice().id }), 'DEVICE_AUTH_DEVICE_ID_MISMATCH', 'device identity mismatch'],
    ['malformed public key', (p) => ({ ...p, publicKey: 'not-a-key' }), 'DEVICE_AUTH_PUBLIC_KEY_INVALID', 'device public key invalid'],
  ];

  it.each(failures)('closes 1008 on a %s with its own reason and details.code', async (_name, tamper, code, reason) => {
    const { client, response } = await connectWithDevice(tamper);
    expect(response.ok).toBe(false);
    expect(response.error).toMatchObject({ code: 'INVALID_REQUEST', message: reason, details: { code } });
    expect(await client.closed).toEqual({ code: 1008, reason });
  });

  it('a peer that hangs up while its signature is being checked ends as closed before connect; the late answer is dropped', async () => {
    // The first signature check is held until the peer's close has been logged, so the close always comes
    // first, as it does when verifying is slow, however the machine schedules things.
    let checkStarted!: () => void;
    const started = new Promise<void>((resolve) => (checkStarted = resolve));
    let releaseCheck!: () => void;
    const released = new Promise<void>((resolve) => (releaseCheck = resolve));
    let held = false;
    const crypto: DeviceCrypto = {
      ...nodeDeviceCrypto,
      async verifyEd25519Async(signature, message, publicKey) {
        if (!held) {
          held = true;
          checkStarted();
          await released;
        }
        return nodeDeviceCrypto.verifyEd25519Async!(signature, message, publicKey);
      },
    };
    const gated = await startTestGateway({ crypto });
    try {
      const client = await TestClient.open(gated.url);
      const nonce = await client.challengeNonce();
      const params: ConnectParams = connectParams({ auth: { token: gated.token } });
      params.device = signDevice(createDevice(), params, nonce);
      client.send({ type: 'req', id: 'c1', method: 'connect', params });
      await started;
      client.ws.terminate();
      const closed = await gated.logs.waitFor(
        (line) => line.event === 'connection.closed' && line.cause === 'closed-before-connect' && line.ready === false,
        30_000,
      );
      expect(closed.code).toBe(1006);
      releaseCheck();
      // The gateway goes on: the next device connects, and nothing is left of the first one.
      const next = await TestClient.open(gated.url);
      const nextNonce = await next.challengeNonce();
      const nextParams: ConnectParams = connectParams({ auth: { token: gated.token } });
      nextParams.device = signDevice(createDevice(), nextParams, nextNonce);
      expect((await next.request('connect', nextParams)).ok).toBe(true);
      await next.close();
      expect(gated.logs.lines.filter((line) => line.event === 'auth.error' || line.level >= 50)).toEqual([]);
    } finally {
      releaseCheck();
      await gated.close();
    }
  });

  it('gives every device failure a distinct close reason', () => {
    expect(new Set(failures.map(([, , , reason]) => reason)).size).toBe(failures.length);
  });
});
