// The client library against a real gateway on 127.0.0.1, through a fault-injecting TCP proxy: it
// reconnects, backs off and stops as its close-code table says.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../src/observability/logger.js';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import {
  createDeviceIdentity,
  createGatewayClient,
  GatewayRequestError,
  type ClientNotice,
  type ConnectionStatus,
  type GatewayClient,
  type GatewayClientOptions,
} from '../../src/client/node.js';
import { connectClient } from '../helpers/client.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startGateway, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const FAST_BACKOFF = { baseMs: 50, factor: 2, capMs: 400 };

let gw: TestGateway | undefined;
let proxy: FaultProxy | undefined;
let client: GatewayClient | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  await client?.close();
  await proxy?.close();
  await gw?.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
  client = proxy = gw = undefined;
});

/** A client whose notices are all kept, in order. */
function start(options: Partial<GatewayClientOptions> & { url: string }) {
  const notices: ClientNotice[] = [];
  const statuses: ConnectionStatus[] = [];
  const created = createGatewayClient({ auth: { token: gw?.token }, backoff: FAST_BACKOFF, handshakeTimeoutMs: 2_000, ...options });
  created.events$.subscribe((notice) => notices.push(notice));
  created.status$.subscribe((status) => statuses.push(status));
  client = created;
  return { client: created, notices, statuses };
}

function next(target: GatewayClient, predicate: (notice: ClientNotice) => boolean, ms = 5_000): Promise<ClientNotice> {
  return firstValueFrom(target.events$.pipe(filter(predicate), timeout(ms)));
}

const isConnected = (notice: ClientNotice) => notice.type === 'connected';
const decisionsOf = (notices: ClientNotice[]) => notices.flatMap((notice) => (notice.type === 'disconnected' ? [notice] : []));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How much earlier than its delay a timer may fire as performance.now measures it, with room (see the backoff test). */
const TIMER_ROUNDING_MS = 5;

async function gatewayBehindProxy(overrides: Parameters<typeof startTestGateway>[0] = {}) {
  gw = await startTestGateway(overrides);
  proxy = await FaultProxy.start(Number(new URL(gw.url).port));
  return { gw, proxy };
}

describe('client library: connected', () => {
  it('completes the handshake, answers typed requests, reports status and gateway events, and closes with 1000', async () => {
    const { proxy } = await gatewayBehindProxy();
    const { client, statuses, notices } = start({ url: proxy.url });
    const hello = await client.whenConnected();
    expect(hello).toMatchObject({ type: 'hello-ok', protocol: 4, policy: { tickIntervalMs: 30_000 } });
    expect(client.hello).toBe(hello);
    expect(await client.whenConnected()).toBe(hello);
    const health = await client.request('health');
    expect(health.ok).toBe(true);
    const presence = await client.request('system-presence');
    expect(presence.some((entry) => entry.reason === 'self')).toBe(true);
    await expect(client.request('no.such.method')).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: 'unknown method: no.such.method' });
    expect(statuses).toEqual(['connecting', 'awaiting-challenge', 'handshaking', 'connected']);
    const stop = await client.close();
    expect(stop).toMatchObject({ reason: 'closed-by-user', code: 1000 });
    expect(statuses.at(-1)).toBe('stopped');
    expect(notices.map((notice) => notice.type)).toEqual(expect.arrayContaining(['attempt', 'open', 'challenge', 'connected', 'stopped']));
    await gw!.logs.waitFor((line) => line.msg === 'connection closed' && line.code === 1000);
    await expect(client.request('health')).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    await expect(client.whenConnected()).rejects.toMatchObject({ code: 'STOPPED' });
  });
});

describe('client library: faults it recovers from', () => {
  it('drop (no close frame): the request in flight fails at once, then it backs off and reconnects', async () => {
    const { proxy } = await gatewayBehindProxy();
    const { client, notices } = start({ url: proxy.url, random: () => 0.5 });
    await next(client, isConnected);
    proxy.halfOpen();
    const inFlight = client.request('health');
    const settled = inFlight.catch((error: unknown) => error);
    await sleep(100);
    proxy.pass();
    const droppedAt = performance.now();
    proxy.drop();
    const error = await settled;
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect(error).toMatchObject({ code: 'DISCONNECTED' });
    expect(performance.now() - droppedAt).toBeLessThan(1_000);
    await next(client, (notice) => notice.type === 'connected' && notice.attempt === 2);
    expect(decisionsOf(notices)).toEqual([expect.objectContaining({ code: 1006, by: 'server', decision: 'back-off', delayMs: 25 })]);
    expect((await client.request('health')).ok).toBe(true);
  });

  it('half-open: the tick watchdog closes with 4000 after 2x tickIntervalMs, fails the request in flight, and reconnects', async () => {
    const { proxy } = await gatewayBehindProxy({ tickIntervalMs: 150 });
    const { client, notices } = start({ url: proxy.url });
    await next(client, isConnected);
    expect(client.hello?.policy?.tickIntervalMs).toBe(150);
    await next(client, (notice) => notice.type === 'gateway.event' && notice.event === 'tick');
    proxy.halfOpen();
    const silentSince = performance.now();
    const inFlight = client.request('health').catch((error: unknown) => error);
    const watchdog = await next(client, (notice) => notice.type === 'disconnected');
    expect(watchdog).toMatchObject({ code: 4000, reason: 'tick timeout', by: 'client', decision: 'back-off' });
    // 2x150 ms after the last tick, which came at most 150 ms before the silence began; the rest is
    // slack for a loaded machine (the fallback without a tick interval would be a minute).
    expect(performance.now() - silentSince).toBeLessThan(1_500);
    expect(await inFlight).toMatchObject({ code: 'DISCONNECTED' });
    proxy.pass();
    await next(client, (notice) => notice.type === 'connected' && notice.attempt >= 2);
    expect(decisionsOf(notices)[0]).toMatchObject({ reason: 'tick timeout' });
  });

  it('refused: backs off with ceilings growing to the cap, never above it, and connects once the port listens again', async () => {
    const { proxy } = await gatewayBehindProxy();
    const { client, notices } = start({ url: proxy.url, random: () => 0.999_999 });
    await next(client, isConnected);
    await proxy.refuse();
    proxy.drop();
    while (decisionsOf(notices).length < 5) await next(client, (notice) => notice.type === 'disconnected');
    await proxy.resume();
    await next(client, (notice) => notice.type === 'connected' && notice.attempt > 1);
    const decisions = decisionsOf(notices);
    expect(decisions.slice(0, 5).map((notice) => notice.delayMs)).toEqual([50, 100, 200, 400, 400]);
    expect(decisions.every((notice) => notice.decision === 'back-off' && notice.code === 1006 && (notice.delayMs ?? 0) <= 400)).toBe(true);
    // Each dial waited its delay: the gap from a close to the next dial is never shorter. The decision is
    // stamped before the reconnect timer is armed (the transition's actions run before the backing-off
    // state's entry), and Node arms a timer on a freshly read loop clock in whole milliseconds, so it fires
    // at most 1 ms (2 with a coarse clock) early as performance.now sees it; 5 ms is that with room.
    for (const decision of decisions) {
      const dial = notices.find((notice) => notice.type === 'attempt' && notice.at > decision.at)!;
      expect(dial.at - decision.at).toBeGreaterThanOrEqual(decision.delayMs! - TIMER_ROUNDING_MS);
    }
  });

  it('a gateway restart (1012, then refused, then a new gateway on the same port): reconnects to the new one', async () => {
    gw = await startTestGateway();
    const port = Number(new URL(gw.url).port);
    const { client, notices } = start({ url: gw.url });
    const first = await next(client, isConnected);
    const shutdown = next(client, (notice) => notice.type === 'gateway.event' && notice.event === 'shutdown');
    await gw.close();
    gw = undefined;
    await shutdown;
    await next(client, (notice) => notice.type === 'disconnected' && notice.code === 1006);
    const logger = createLogger('silent');
    const restarted: Gateway = await startGateway({
      host: '127.0.0.1',
      port,
      token: 'test-token-123',
      handshakeTimeoutMs: 5_000,
      tickIntervalMs: 30_000,
      logger,
    });
    cleanups.push(async () => {
      await client.close();
      await restarted.close('test finished');
    });
    const second = await next(client, isConnected);
    const decisions = decisionsOf(notices);
    expect(decisions[0]).toMatchObject({ code: 1012, reason: 'gateway shutting down', decision: 'reconnect' });
    expect(decisions.slice(1).every((notice) => notice.code === 1006 && notice.decision === 'back-off')).toBe(true);
    expect(second.type === 'connected' && first.type === 'connected' && second.hello.connId !== first.hello.connId).toBe(true);
    expect((await client.request('health')).ok).toBe(true);
  });

  it('a gateway that times the handshake out (1008 "handshake timeout", here from latency) is retried', async () => {
    const { proxy } = await gatewayBehindProxy({ handshakeTimeoutMs: 200 });
    proxy.latencyMs = 150;
    const { client, notices } = start({ url: proxy.url });
    const refused = await next(client, (notice) => notice.type === 'disconnected');
    expect(refused).toMatchObject({ code: 1008, reason: 'handshake timeout', decision: 'back-off' });
    proxy.pass();
    await next(client, isConnected);
    expect(decisionsOf(notices).every((notice) => notice.decision === 'back-off')).toBe(true);
  });

  it('rate limited: waits at least retryAfterMs, then connects', async () => {
    // A lockout of seconds, so that the client's first dial surely lands inside it on a loaded machine.
    const LOCKOUT_MS = 3_000;
    const { proxy } = await gatewayBehindProxy({
      authMaxFailures: 1, authLockoutMs: LOCKOUT_MS, authRateLimitLoopback: true,
    });
    // The lockout starts (on Date.now, the limiter's clock) after this point.
    const beforeLockout = Date.now();
    await expect(connectClient(gw!.url, 'wrong-token')).rejects.toThrow(/handshake failed/);
    const { client, notices } = start({ url: proxy.url, random: () => 0 });
    const limited = await next(client, (notice) => notice.type === 'disconnected');
    const lockedFor = Date.now() - beforeLockout;
    expect(lockedFor).toBeLessThan(LOCKOUT_MS);
    expect(limited).toMatchObject({ code: 1008, reason: 'too many failed attempts', decision: 'rate-limited' });
    // The delay is the gateway's retryAfterMs (jitter 0), what was left of the lockout when it refused the dial:
    // at most the lockout, at least the lockout less the time since it began (far above the backoff's 50 ms).
    const delayMs = limited.type === 'disconnected' ? limited.delayMs! : 0;
    expect(delayMs).toBeGreaterThanOrEqual(LOCKOUT_MS - lockedFor);
    expect(delayMs).toBeLessThanOrEqual(LOCKOUT_MS);
    const connected = await next(client, isConnected, LOCKOUT_MS + 5_000);
    expect(connected.at - limited.at).toBeGreaterThanOrEqual(delayMs - TIMER_ROUNDING_MS);
    expect(decisionsOf(notices)).toHaveLength(1);
  });
});

describe('client library: close codes actorgate itself does not send, from a scripted server', () => {
  /** A bare ws server that completes the handshake (any token) and then closes each connection with `code`. */
  async function scriptedGateway(code: number, reason: string) {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    let connections = 0;
    server.on('connection', (socket) => {
      connections++;
      socket.send(JSON.stringify({ type: 'event', event: 'connect.challenge', payload: { nonce: `n-${connections}`, ts: Date.now() } }));
      socket.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { id: string; method: string };
        if (frame.method !== 'connect') return;
        socket.send(JSON.stringify({ type: 'res', id: frame.id, ok: true, payload: { type: 'hello-ok', protocol: 3, server: { connId: `c-${connections}` } } }));
        setTimeout(() => socket.close(code, reason), 20);
      });
    });
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}`, connections: () => connections };
  }

  it.each([
    [1000, 'bye', 'reconnect'],
    [1001, 'going away', 'reconnect'],
    [1011, 'internal error', 'back-off'],
  ] as const)('%i after hello-ok: %s, then it is connected again', async (code, reason, decision) => {
    const server = await scriptedGateway(code, reason);
    const { client, notices } = start({ url: server.url, auth: { token: 'any' } });
    await next(client, (notice) => notice.type === 'connected' && notice.attempt === 2);
    expect(decisionsOf(notices)[0]).toMatchObject({ code, reason, by: 'server', decision });
    // hello-ok without policy: the watchdog falls back to 2x 30 s, so nothing else closed it.
    expect(notices.find((notice) => notice.type === 'connected')).toMatchObject({ hello: { protocol: 3, connId: 'c-1' } });
    expect(server.connections()).toBe(2);
  });
});

describe('client library: closes it stops at', () => {
  async function stopsOnce(options: Partial<GatewayClientOptions>) {
    const { client, notices } = start({ url: proxy!.url, ...options });
    const connected = client.whenConnected().catch((error: unknown) => error);
    const stop = await client.stopped;
    expect(await connected).toMatchObject({ code: 'STOPPED' });
    await sleep(300);
    expect(proxy!.accepted).toBe(1);
    expect(notices.filter((notice) => notice.type === 'attempt')).toHaveLength(1);
    return stop;
  }

  it('1008 wrong token: stops and reports, without a second dial', async () => {
    await gatewayBehindProxy();
    const stop = await stopsOnce({ auth: { token: 'wrong' } });
    expect(stop).toMatchObject({ reason: 'auth-rejected', code: 1008, closeReason: 'unauthorized: gateway token mismatch' });
    expect(stop.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISMATCH' } });
  });

  it('1008 pairing required with no dials left (maxAttempts 1): stops with the pairing request id', async () => {
    await gatewayBehindProxy({ pairing: 'manual' });
    const stop = await stopsOnce({ device: createDeviceIdentity(), maxAttempts: 1 });
    expect(stop).toMatchObject({ reason: 'pairing-required', code: 1008, closeReason: 'pairing required' });
    expect(stop.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED', requestId: expect.any(String) } });
  });

  it('1002 protocol mismatch: stops (a bug, retrying cannot help)', async () => {
    await gatewayBehindProxy();
    const stop = await stopsOnce({ minProtocol: 5, maxProtocol: 6 });
    expect(stop).toMatchObject({ reason: 'protocol-error', code: 1002, closeReason: 'protocol mismatch' });
  });

  it('4001 device removed: stops dialling and asks for new credentials, then connects again with them', async () => {
    const { proxy } = await gatewayBehindProxy();
    const device = createDeviceIdentity();
    const { client, notices, statuses } = start({ url: proxy.url, device, client: { id: 'cli', mode: 'cli' } });
    await client.whenConnected();
    const admin = await connectClient(gw!.url, gw!.token, { scopes: ['operator.admin'] });
    // The removal's answer is the pairing tests' business; here what counts is the client's reaction.
    admin.client.send({ type: 'req', id: 'remove-1', method: 'device.pair.remove', params: { deviceId: device.deviceId } });
    const asked = await next(client, (notice) => notice.type === 'credentials.required');
    expect(asked).toMatchObject({ code: 4001, reason: 'device removed' });
    expect(decisionsOf(notices)).toEqual([expect.objectContaining({ code: 4001, decision: 'credentials-revoked' })]);
    expect(statuses.at(-1)).toBe('awaiting-credentials');
    await sleep(300);
    expect(proxy.accepted).toBe(1);
    // A new identity (the old one was removed); auto-local pairs it silently on loopback.
    const fresh = createDeviceIdentity();
    client.updateCredentials({ auth: { token: gw!.token }, device: fresh });
    const hello = await client.whenConnected();
    expect(proxy.accepted).toBe(2);
    const ready = await gw!.logs.waitFor((line) => line.msg === 'handshake complete' && line.deviceId === fresh.deviceId);
    expect(ready.connId).toBe((hello.server as { connId: string }).connId);
    await admin.client.close();
  });
});

describe('client library: the gateway\'s recovery hints', () => {
  it('after the gateway token changed, tries the device token it was issued once (retry_with_device_token) and is connected', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-client-hints-'));
    cleanups.push(async () => rmSync(stateDir, { recursive: true, force: true }));
    gw = await startTestGateway({ pairing: 'auto-local', stateDir });
    const port = Number(new URL(gw.url).port);
    const { client, notices } = start({ url: gw.url, device: createDeviceIdentity(), client: { id: 'cli', mode: 'cli' } });
    const first = await client.whenConnected();
    expect(first.auth).toMatchObject({ deviceToken: expect.any(String) });
    await gw.close();
    gw = undefined;
    await next(client, (notice) => notice.type === 'disconnected');
    // The same pairing state, another gateway token: the client's token is refused, its device token is not.
    const restarted: Gateway = await startGateway({ host: '127.0.0.1', port, token: 'rotated-gateway-token', stateDir, logger: createLogger('silent') });
    cleanups.push(async () => {
      await client.close();
      await restarted.close('test finished');
    });
    await next(client, (notice) => notice.type === 'connected', 10_000);
    const decisions = decisionsOf(notices).map((notice) => notice.decision);
    expect(decisions.filter((decision) => decision === 'retry-with-device-token')).toHaveLength(1);
    expect(decisions).not.toContain('auth-rejected');
    expect((await client.request('health')).ok).toBe(true);
  });

  it('keeps dialling while its pairing request waits (wait_then_retry), and is connected by itself once an operator approves', async () => {
    const { gw, proxy } = await gatewayBehindProxy({ pairing: 'manual' });
    const admin = await connectClient(gw.url, gw.token, { scopes: ['operator.admin'] });
    cleanups.push(async () => admin.client.ws.terminate());
    const { client, notices } = start({ url: proxy.url, device: createDeviceIdentity(), client: { id: 'cli', mode: 'cli' } });
    const requested = await admin.client.event('device.pair.requested');
    const { requestId } = requested.payload as { requestId: string };
    // Two refusals at least, each answered by another dial: the client waits for the approval, not for a person to restart it.
    await next(client, (notice) => notice.type === 'disconnected' && decisionsOf(notices).length >= 2, 10_000);
    expect(decisionsOf(notices).map((notice) => notice.decision)).toEqual(Array(decisionsOf(notices).length).fill('awaiting-approval'));
    const connected = client.whenConnected();
    expect((await admin.client.request('device.pair.approve', { requestId })).ok).toBe(true);
    const hello = await connected;
    expect(hello.auth).toMatchObject({ role: 'operator', deviceToken: expect.any(String) });
    // One request, reused by every dial while it was open.
    const listed = (await admin.client.request('device.pair.list')).payload as { pending: unknown[]; paired: unknown[] };
    expect(listed).toMatchObject({ pending: [], paired: [expect.objectContaining({ clientId: 'cli' })] });
  });
});
