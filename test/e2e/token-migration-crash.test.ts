// The migration of a pairing.json that holds device tokens in plain text (written before tokens were hashed),
// under a real `kill -9`: the gateway (`bin/actorgate.js start`) is SIGKILLed at seeded random moments after it
// says it is hashing them. After every kill the file must load and hold every device, each with its token either
// still in plain text (the old file) or as its hash (the new one): never neither. A start left alone finishes the
// migration: no token is left in the file, and devices get in with the tokens they always had.
// Runs dist/ (built by `npm test` before vitest). Sizes: ACTORGATE_MIGRATION_ROUNDS (12), ACTORGATE_MIGRATION_SEED.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newDeviceToken } from '../../src/auth/device-pairing.js';
import { hashDeviceToken } from '../../src/auth/device-token.js';
import { parsePairingState } from '../../src/store/pairing-store.js';
import { envNumber, ending, openSocket, request, seededRandom, waitFrame, type Json } from '../helpers/chaos.js';
import { connectParams } from '../helpers/client.js';
import { createDevice, signDevice, type TestDevice } from '../helpers/device.js';

const ROUNDS = envNumber('ACTORGATE_MIGRATION_ROUNDS', 12);
const SEED = envNumber('ACTORGATE_MIGRATION_SEED', 0x70c3);
const DEVICES = 600; // a file big enough that writing it takes a moment
const TOKEN = 'migration-test-token';
const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
const built = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-token-migration-'));
const file = join(stateDir, 'pairing.json');
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

/** Devices as an older actorgate kept them: the token itself in pairing.json. */
const devices: Array<{ device: TestDevice; token: string }> = Array.from({ length: DEVICES }, () => ({ device: createDevice(), token: newDeviceToken() }));
const legacyFile = JSON.stringify(
  {
    version: 1,
    devices: devices.map(({ device, token }, i) => ({
      deviceId: device.id,
      publicKey: device.publicKey,
      role: 'operator',
      scopes: ['operator.read'],
      clientId: 'openclaw-control-ui',
      clientMode: 'ui',
      platform: 'linux',
      token,
      createdAtMs: 1_700_000_000_000 + i,
      approvedAtMs: 1_700_000_000_000 + i,
      silent: false,
    })),
    nodes: [],
  },
  null,
  2,
);

interface Spawned {
  child: ChildProcess;
  /** Resolves with the first log line of this event (fails if the process exits first). */
  lineWith(event: string): Promise<Json>;
  exited: Promise<unknown>;
}

function spawnGateway(): Spawned {
  const child = spawn(
    process.execPath,
    [bin, 'start', '--host', '127.0.0.1', '--port', '0', '--state-dir', stateDir, '--auth', 'token', '--token', TOKEN, '--pairing', 'manual', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACTORGATE_INSPECT: '' } },
  );
  children.add(child);
  const lines: Json[] = [];
  const waiters: Array<() => void> = [];
  let gone = false;
  let stderr = '';
  const wake = () => waiters.splice(0).forEach((waiter) => waiter());
  const exited = new Promise((resolve) =>
    child.once('close', () => {
      gone = true;
      children.delete(child);
      wake();
      resolve(undefined);
    }),
  );
  let buffered = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdout!.on('data', (chunk) => {
    buffered += String(chunk);
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line) as Json);
    }
    wake();
  });
  const lineWith = async (event: string): Promise<Json> => {
    for (;;) {
      const found = lines.find((line) => line.event === event);
      if (found) return found;
      if (gone) throw new Error(`the gateway exited before logging ${event}: ${stderr}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { child, lineWith, exited };
}

/** Every device is in the file with its token, in plain text or as its hash; says which. */
function checkFile(context: string): { plain: number; hashed: number } {
  // The schema check first (throws on a corrupt or invalid file), then the records as stored.
  const state = parsePairingState(JSON.parse(readFileSync(file, 'utf8'))) as unknown as {
    devices: Array<{ deviceId: string; token?: string; tokenHash?: string }>;
  };
  expect(state.devices.map((entry) => entry.deviceId), context).toEqual(devices.map(({ device }) => device.id));
  let plain = 0;
  let hashed = 0;
  state.devices.forEach((entry, i) => {
    const { token } = devices[i]!;
    if (entry.tokenHash !== undefined) {
      expect(entry.tokenHash, context).toBe(hashDeviceToken(token));
      expect(entry.token, context).toBeUndefined();
      hashed++;
    } else {
      expect(entry.token, context).toBe(token);
      plain++;
    }
  });
  return { plain, hashed };
}

/** A device connects with its device token alone. */
async function connectWithToken(url: string, device: TestDevice, deviceToken: string): Promise<Json> {
  const probe = await openSocket(url);
  try {
    const challenge = await waitFrame(probe, (frame) => frame.event === 'connect.challenge');
    const params = connectParams({ auth: { deviceToken }, scopes: ['operator.read'] });
    return await request(probe, 'connect', { ...params, device: signDevice(device, params, (challenge.payload as Json).nonce as string) });
  } finally {
    probe.ws.terminate();
    await ending(probe).catch(() => undefined);
  }
}

describe('hashing the tokens of an old pairing.json under kill -9', () => {
  it(`loses no device and no token across ${ROUNDS} SIGKILLs, then finishes`, { timeout: 180_000 }, async () => {
    expect(existsSync(built), 'dist/ is built (npm test runs the build first; else `npm run build`)').toBe(true);
    const random = seededRandom(SEED);
    const outcomes = { old: 0, migrated: 0, mixed: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      writeFileSync(file, legacyFile, { mode: 0o600 });
      const gateway = spawnGateway();
      const hashing = await gateway.lineWith('pairing.tokens_hashing');
      expect(hashing.devices).toBe(DEVICES);
      // Right away, or a little later: in the write, the fsync, the rename, or after.
      const delayMs = Math.floor(random() * 12);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      const { plain, hashed } = checkFile(`round ${round} (kill ${delayMs} ms after hashing began, seed ${SEED})`);
      // The write is atomic: the whole old file or the whole new one.
      if (hashed === 0) outcomes.old++;
      else if (plain === 0) outcomes.migrated++;
      else outcomes.mixed++;
    }
    expect(outcomes.mixed).toBe(0);

    // Left alone, a start finishes the job; a temp file of a killed write is swept by the next save.
    writeFileSync(file, legacyFile, { mode: 0o600 });
    const gateway = spawnGateway();
    try {
      await gateway.lineWith('pairing.tokens_hashed');
      const listening = await gateway.lineWith('gateway.listening');
      const text = readFileSync(file, 'utf8');
      expect(devices.filter(({ token }) => text.includes(token))).toEqual([]);
      expect(checkFile('after a full start').hashed).toBe(DEVICES);
      const url = `ws://127.0.0.1:${listening.port as number}`;
      for (const { device, token } of [devices[0]!, devices[DEVICES - 1]!]) expect(await connectWithToken(url, device, token)).toMatchObject({ ok: true });
      const forged = await connectWithToken(url, devices[1]!.device, hashDeviceToken(devices[1]!.token));
      expect(forged.error).toMatchObject({ details: { code: 'AUTH_DEVICE_TOKEN_MISMATCH' } });
    } finally {
      gateway.child.kill('SIGKILL');
      await gateway.exited;
    }
    console.log(
      `token-migration-crash: ${ROUNDS} kills (seed ${SEED}) while hashing ${DEVICES} tokens: ` +
        `${outcomes.old} left the old file, ${outcomes.migrated} the new one, none lost a device; ` +
        `files in the state dir after: ${readdirSync(stateDir).join(', ')}`,
    );
  });
});
