// Per-address connection limits over real sockets on 127.0.0.1: the cap on unauthenticated sockets
// (HTTP 503 before the upgrade) and the lockout after repeated failed authentication.
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { LEVEL, TEST_TOKEN, type LogCapture } from '../helpers/gateway.js';
import { cleanUp, startHardened, upgradeStatus } from '../helpers/hardened.js';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import type { GatewayOptions } from '../../src/config/options.js';

const LOCAL = '127.0.0.1';

let gateway: Gateway | undefined;
let logs: LogCapture;
const opened: TestClient[] = [];

afterEach(async () => {
  for (const client of opened.splice(0)) client.ws.terminate();
  gateway = undefined;
  await cleanUp();
});

async function start(overrides: GatewayOptions = {}): Promise<Gateway> {
  const started = await startHardened(overrides);
  logs = started.logs;
  gateway = started.gateway;
  return gateway;
}

async function open(url: string): Promise<TestClient> {
  const client = await TestClient.open(url);
  opened.push(client);
  await client.challenge();
  return client;
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One connect attempt on a fresh socket: its response and its close. */
async function attempt(url: string, params = connectParams({ auth: { token: TEST_TOKEN } })) {
  const client = await open(url);
  const response = await client.request('connect', params);
  if (response.ok) return { response, closed: undefined, client };
  return { response, closed: await client.closed, client };
}

const wrongToken = () => connectParams({ auth: { token: 'wrong' } });

describe('unauthenticated sockets per address', () => {
  it('refuses the 33rd pending socket with HTTP 503, keeps serving ready clients, and admits again as slots free up', async () => {
    const gw = await start({ maxPreauthPerAddress: 32 });
    const { client: ready } = await connectClient(gw.url, TEST_TOKEN);
    opened.push(ready);
    expect(gw.unauthenticatedCount(LOCAL)).toBe(0);

    const pending = await Promise.all(Array.from({ length: 32 }, () => open(gw.url)));
    expect(gw.unauthenticatedCount(LOCAL)).toBe(32);
    expect(await upgradeStatus(gw.url)).toBe(503);
    for (let i = 0; i < 5; i++) expect(await upgradeStatus(gw.url)).toBe(503);
    expect((await ready.request('health')).ok).toBe(true);

    // One rejection line for the flood: the next ones within 10 s are only counted.
    const rejected = logs.lines.filter((line) => line.event === 'upgrade.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      level: LEVEL.warn,
      reason: 'too many unauthenticated connections',
      remoteAddr: LOCAL,
      count: 32,
      limit: 32,
    });
    expect(gw.connectionCount()).toBe(33);

    // A pending socket that completes its handshake stops counting: one more upgrade gets in.
    const finishing = pending[0]!;
    expect((await finishing.request('connect', connectParams({ auth: { token: TEST_TOKEN } }))).ok).toBe(true);
    expect(gw.unauthenticatedCount(LOCAL)).toBe(31);
    opened.push(await TestClient.open(gw.url));
    expect(await upgradeStatus(gw.url)).toBe(503);

    // So do pending sockets that close.
    await Promise.all([pending[1]!.close(), pending[2]!.close()]);
    await until(() => gw.unauthenticatedCount(LOCAL) === 30);
    expect(await upgradeStatus(gw.url)).toBe(101);
    await until(() => gw.unauthenticatedCount(LOCAL) === 30);
    opened.push(await TestClient.open(gw.url), await TestClient.open(gw.url));
    expect(await upgradeStatus(gw.url)).toBe(503);
    expect((await finishing.request('health')).ok).toBe(true);
  });

  it('gives the slot back when a socket is rejected during its handshake', async () => {
    const gw = await start({ maxPreauthPerAddress: 2 });
    for (let i = 0; i < 4; i++) {
      const { response, closed } = await attempt(gw.url, wrongToken());
      expect(response.ok).toBe(false);
      expect(closed?.code).toBe(1008);
    }
    await until(() => gw.unauthenticatedCount(LOCAL) === 0);
    expect(await upgradeStatus(gw.url)).toBe(101);
  });

  it('sums up the refusals its log throttle held back when the gateway closes, for the cap per address and the global one', async () => {
    for (const [limits, reason] of [
      [{ maxPreauthPerAddress: 1 }, 'too many unauthenticated connections'],
      [{ maxConnections: 1 }, 'too many connections'],
    ] as const) {
      const gw = await start(limits);
      await open(gw.url);
      for (let i = 0; i < 4; i++) expect(await upgradeStatus(gw.url)).toBe(503);
      // One line so far; the other three were held back for the interval.
      expect(logs.lines.filter((line) => line.event === 'upgrade.rejected')).toHaveLength(1);
      await gw.close('test finished');
      gateway = undefined;
      expect(logs.lines.filter((line) => line.event === 'upgrade.rejected')).toEqual([
        expect.objectContaining({ reason, count: 1 }),
        expect.objectContaining({ level: LEVEL.warn, reason, suppressed: 3, msg: 'upgrade rejected (summary)' }),
      ]);
    }
  });
});

describe('failed-auth rate limit', () => {
  // A lockout far longer than any test here, so that every connect a test expects refused lands inside it on a
  // loaded machine; the lockout's end has a test of its own, which only waits for it.
  const strict = { authMaxFailures: 10, authFailureWindowMs: 60_000, authLockoutMs: 60_000, authRateLimitLoopback: true };

  it('locks an address out after 10 failures and refuses even the right token with AUTH_RATE_LIMITED and retryAfterMs', async () => {
    const gw = await start(strict);
    let beforeLastFailure = 0; // the lockout begins after this, with the 10th failure
    for (let i = 0; i < 10; i++) {
      beforeLastFailure = Date.now();
      const { response, closed } = await attempt(gw.url, wrongToken());
      expect(response.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISMATCH' } });
      expect(closed).toEqual({ code: 1008, reason: 'unauthorized: gateway token mismatch' });
    }
    const locked = await logs.waitFor((line) => line.event === 'auth.locked_out');
    expect(locked).toMatchObject({ level: LEVEL.warn, remoteAddr: LOCAL, failures: 10, windowMs: 60_000, lockoutMs: 60_000 });

    const refused = await attempt(gw.url);
    const refusedBy = Date.now();
    const error = refused.response.error as Record<string, unknown>;
    expect(error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'unauthorized: too many failed attempts',
      details: { code: 'AUTH_RATE_LIMITED' },
      retryable: true,
    });
    // What is left of the lockout (on Date.now, the limiter's clock): the lockout less the time since it began.
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(error.retryAfterMs).toBeGreaterThanOrEqual(60_000 - (refusedBy - beforeLastFailure));
    expect(refused.closed).toEqual({ code: 1008, reason: 'too many failed attempts' });
    const line = await logs.waitFor((entry) => entry.cause === 'auth-rejected' && entry.detail === 'AUTH_RATE_LIMITED');
    expect(line).toMatchObject({ msg: 'handshake rejected', code: 1008, reason: 'too many failed attempts' });
  });

  it('lets the address in once the lockout is over', async () => {
    const lockoutMs = 300;
    const gw = await start({ ...strict, authLockoutMs: lockoutMs });
    for (let i = 0; i < 10; i++) expect((await attempt(gw.url, wrongToken())).response.ok).toBe(false);
    const locked = await logs.waitFor((line) => line.event === 'auth.locked_out');
    expect(locked).toMatchObject({ failures: 10, lockoutMs });
    // The lockout began at or before its log line's time: past that plus the lockout, on the limiter's clock
    // (Date.now), it is over. Only the wait is timed here; the refusal inside it is the test above.
    const over = Date.parse(String(locked.time)) + lockoutMs;
    while (Date.now() <= over) await new Promise((resolve) => setTimeout(resolve, over + 1 - Date.now()));
    const { client, hello } = await connectClient(gw.url, TEST_TOKEN);
    opened.push(client);
    expect(hello.type).toBe('hello-ok');
    await until(() => gw.unauthenticatedCount(LOCAL) === 0);
  });

  it('counts device-proof failures but not pairing requests', async () => {
    const gw = await start({ pairing: 'manual', ...strict, authMaxFailures: 3 });
    const device = createDevice();
    // A device with the right token that waits for approval: refused, never counted.
    for (let i = 0; i < 4; i++) {
      const client = await open(gw.url);
      const nonce = await client.challengeNonce();
      const params = connectParams({ auth: { token: TEST_TOKEN } });
      const response = await client.request('connect', { ...params, device: signDevice(device, params, nonce) });
      expect(response.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED' } });
      await client.closed;
    }
    // A proof signed over another connection's nonce: a failure.
    for (let i = 0; i < 3; i++) {
      const client = await open(gw.url);
      const params = connectParams({ auth: { token: TEST_TOKEN } });
      const response = await client.request('connect', { ...params, device: signDevice(device, params, 'stale-nonce') });
      expect(response.error).toMatchObject({ details: { code: 'DEVICE_AUTH_NONCE_MISMATCH' } });
      await client.closed;
    }
    const { response, closed } = await attempt(gw.url);
    expect(response.error).toMatchObject({ details: { code: 'AUTH_RATE_LIMITED' } });
    expect(closed?.code).toBe(1008);
  });

  it('never locks out loopback when it is exempt (the default)', async () => {
    const gw = await start({ ...strict, authRateLimitLoopback: false });
    for (let i = 0; i < 15; i++) {
      const { response } = await attempt(gw.url, wrongToken());
      expect(response.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISMATCH' } });
    }
    const { client, hello } = await connectClient(gw.url, TEST_TOKEN);
    opened.push(client);
    expect(hello.type).toBe('hello-ok');
    expect(logs.find((line) => line.event === 'auth.locked_out')).toBeUndefined();
  });
});
