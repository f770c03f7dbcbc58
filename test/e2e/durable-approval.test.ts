// An approval is on disk before the client is told: the hello-ok carrying a device token, and the answer
// to an operator's approve, go out only once pairing.json holds the device (or node). A save that fails
// is answered UNAVAILABLE (retryable) instead of a token the next start would not know.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PairingState } from '../../machines/pairing.js';
import { hashDeviceToken } from '../../src/auth/device-token.js';
import { TestClient, connectClient, connectParams, type Frame } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { cleanUp, startHardened, track } from '../helpers/hardened.js';

afterEach(cleanUp);
const root = mkdtempSync(join(tmpdir(), 'actorgate-durable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const freshDir = () => {
  const dir = join(root, randomUUID());
  mkdirSync(dir);
  return dir;
};

/** What is on disk right now, read synchronously the moment a frame arrives. */
const onDisk = (stateDir: string): PairingState => JSON.parse(readFileSync(join(stateDir, 'pairing.json'), 'utf8')) as PairingState;

/** Connects a device; reads pairing.json synchronously in the very callback that delivers the connect response. */
async function connectDevice(url: string, device: TestDevice, stateDir: string, auth: { token?: string; deviceToken?: string } = { token: TEST_TOKEN }) {
  const client = track(await TestClient.open(url));
  const nonce = await client.challengeNonce();
  const params = connectParams({
    auth,
    scopes: ['operator.read'],
    client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui', instanceId: randomUUID() },
  });
  params.device = signDevice(device, params, nonce);
  let diskAtResponse: PairingState | undefined;
  client.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (frame.type === 'res' && frame.ok === true && diskAtResponse === undefined) {
      try {
        diskAtResponse = onDisk(stateDir);
      } catch {
        diskAtResponse = { version: 1, devices: [], nodes: [] };
      }
    }
  });
  const response = await client.request('connect', params);
  return { client, response, diskAtResponse };
}

describe('silent pairing (auto-local)', () => {
  it('sends hello-ok with a device token only once pairing.json holds the device, for many devices at once', async () => {
    const stateDir = freshDir();
    const { gateway, url } = await startHardened({ stateDir, pairing: 'auto-local' });
    const devices = Array.from({ length: 12 }, () => createDevice());
    const results = await Promise.all(devices.map((device) => connectDevice(url, device, stateDir)));
    for (const [index, { response, diskAtResponse }] of results.entries()) {
      const token = (response.payload as { auth: { deviceToken?: string } }).auth.deviceToken;
      expect(token).toEqual(expect.any(String));
      const saved = diskAtResponse!.devices.find((entry) => entry.deviceId === devices[index]!.id);
      // Only the token's hash is on disk.
      expect(saved?.tokenHash).toBe(hashDeviceToken(token!));
      expect(JSON.stringify(diskAtResponse)).not.toContain(token!);
    }
    expect(gateway.stats().ready).toBe(12);
  });

  it('a paired device reconnecting gets in at once: its token echoed when it came with it, none with the shared secret', async () => {
    const stateDir = freshDir();
    const { url, logs } = await startHardened({ stateDir, pairing: 'auto-local' });
    const device = createDevice();
    const first = await connectDevice(url, device, stateDir);
    const token = (first.response.payload as { auth: { deviceToken: string } }).auth.deviceToken;
    // Its token is live and only its hash is kept: the shared secret alone hands over nothing.
    const again = await connectDevice(url, device, stateDir);
    expect(again.response.ok).toBe(true);
    expect((again.response.payload as { auth: { deviceToken?: string } }).auth.deviceToken).toBeUndefined();
    const withToken = await connectDevice(url, device, stateDir, { deviceToken: token });
    expect((withToken.response.payload as { auth: { deviceToken: string } }).auth.deviceToken).toBe(token);
    expect(logs.lines.filter((line) => line.event === 'connection.ready')).toHaveLength(3);
  });
});

describe('operator approval (manual)', () => {
  it('answers device.pair.approve and node.pair.approve only once the approval is on disk', async () => {
    const stateDir = freshDir();
    const { url } = await startHardened({ stateDir, pairing: 'manual' });
    const operator = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.admin'] })).client);
    let diskAtAnswer: PairingState | undefined;
    operator.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.type === 'res' && typeof frame.id === 'string' && frame.id === 'approve') diskAtAnswer = onDisk(stateDir);
    });
    const approve = async (method: string, requestId: string) => {
      operator.send({ type: 'req', id: 'approve', method, params: { requestId } });
      const answer = await operator.next((frame) => frame.type === 'res' && frame.id === 'approve');
      operator.frames.splice(operator.frames.indexOf(answer), 1);
      return answer;
    };

    const device = createDevice();
    const refused = await connectDevice(url, device, stateDir);
    const requestId = (refused.response.error as { details: { requestId: string } }).details.requestId;
    expect((await approve('device.pair.approve', requestId)).ok).toBe(true);
    expect(diskAtAnswer!.devices.map((entry) => entry.deviceId)).toEqual([device.id]);
    // Its token is minted when it next connects, and hello-ok carries it once its hash is on disk.
    const admitted = await connectDevice(url, device, stateDir);
    const token = (admitted.response.payload as { auth: { deviceToken: string } }).auth.deviceToken;
    expect(admitted.diskAtResponse!.devices.find((entry) => entry.deviceId === device.id)?.tokenHash).toBe(hashDeviceToken(token));

    track(
      (
        await connectClient(url, TEST_TOKEN, {
          role: 'node',
          scopes: [],
          client: { id: 'build-box', version: '1.0.0', platform: 'linux', mode: 'node' },
          commands: ['system.run'],
        })
      ).client,
    );
    const nodeRequest = (await operator.event('node.pair.requested')).payload as { requestId: string };
    expect((await approve('node.pair.approve', nodeRequest.requestId)).ok).toBe(true);
    expect(diskAtAnswer!.nodes.map((entry) => entry.nodeId)).toEqual(['build-box']);
  });
});

describe('a save that fails', () => {
  it('refuses the connect with UNAVAILABLE (retryable) and 1011, and the approve with UNAVAILABLE', async () => {
    const stateDir = join(freshDir(), 'state');
    const { gateway, url, logs } = await startHardened({ stateDir, pairing: 'auto-local' });
    // The state dir becomes a file: every write into it fails.
    writeFileSync(stateDir, 'not a directory');
    const device = createDevice();
    const client = track(await TestClient.open(url));
    const nonce = await client.challengeNonce();
    const params = connectParams({ auth: { token: TEST_TOKEN }, client: { id: 'openclaw-control-ui', version: '1.0.0', platform: 'linux', mode: 'ui' } });
    params.device = signDevice(device, params, nonce);
    const response = await client.request('connect', params);
    expect(response).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', retryable: true } });
    expect(await client.closed).toEqual({ code: 1011, reason: 'pairing not saved' });
    expect(await logs.waitFor((line) => line.event === 'pairing.save_failed')).toMatchObject({ level: 50 });
    expect(await logs.waitFor((line) => line.cause === 'pairing-not-saved')).toMatchObject({ msg: 'pairing not saved', code: 1011 });
    expect(gateway.stats().ready).toBe(0);
  });

  it('drops a token whose hello-ok never went out, so that the next connect is handed a new one', async () => {
    const dir = freshDir();
    const stateDir = join(dir, 'state');
    const { gateway, url } = await startHardened({ stateDir, pairing: 'auto-local' });
    const device = createDevice();
    // Paired, and its token used once: the device holds a live token.
    const first = await connectDevice(url, device, stateDir);
    const token = (first.response.payload as { auth: { deviceToken: string } }).auth.deviceToken;
    expect(token).toEqual(expect.any(String));
    const operator = track((await connectClient(url, TEST_TOKEN, { scopes: ['operator.admin'] })).client);
    expect((await operator.request('device.token.revoke', { deviceId: device.id, role: 'operator' })).ok).toBe(true);
    // Saving fails now: the new token minted for the next connect cannot be made durable, so it is not sent...
    rmSync(stateDir, { recursive: true, force: true });
    writeFileSync(stateDir, 'not a directory');
    const refused = await connectDevice(url, device, stateDir);
    expect(refused.response).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', retryable: true } });
    // ...and not kept either: once saving works again the device is handed one (it would get none if the undelivered one were still live).
    rmSync(stateDir, { force: true });
    mkdirSync(stateDir);
    for (let attempt = 0; ; attempt++) {
      const again = await connectDevice(url, device, stateDir);
      const handed = (again.response.payload as { auth?: { deviceToken?: string } } | undefined)?.auth?.deviceToken;
      if (again.response.ok) {
        expect(handed).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(handed).not.toBe(token);
        break;
      }
      // The failed save of the drop itself may still be in flight: the retryable refusal says to try again.
      expect(again.response).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', retryable: true } });
      expect(attempt).toBeLessThan(5);
    }
    expect(gateway.stats().ready).toBeGreaterThanOrEqual(2);
  });
});
