// Slowloris and floods over real sockets on loopback, with the default per-address limits: a thousand sockets that
// never send a frame are all closed at the handshake timeout with 1008 while a normal client still gets in at once;
// an address over its pre-auth budget gets HTTP 503 while other addresses are served; a storm of wrong tokens locks
// its address out. Sources are spread over 127.0.0.x with `localAddress` (all of 127/8 is loopback on Linux).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayStats } from '../../src/gateway/create-gateway.js';
import {
  envNumber,
  ending,
  handshake,
  openSocket,
  pool,
  request,
  settles,
  until,
  upgradeStatus,
  type Outcome,
  type Probe,
} from '../helpers/chaos.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const IDLE_SOCKETS = envNumber('ACTORGATE_SLOWLORIS_SOCKETS', 1_000);
// Long enough that the whole flood is open and pending at once, with room: opening 1,000 sockets takes about a
// second unloaded (the listen backlog overflows, and a dropped SYN is sent again a second later) and twice that on a
// loaded 2-core machine. The normal client must come in while the flood is still there.
const HANDSHAKE_TIMEOUT_MS = 5_000;
const PER_ADDRESS = 25; // under the default cap of 32 sockets in their handshake per address

let gw: TestGateway | undefined;
const leftovers: Probe[] = [];
afterEach(async () => {
  for (const probe of leftovers.splice(0)) probe.ws.terminate();
  await gw?.close();
  gw = undefined;
});

/** The gateway's stats before anyone connected: what it must come back to. */
let idle: GatewayStats;
async function start(overrides: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  gw = await startTestGateway(overrides);
  idle = gw.gateway.stats();
  expect(idle).toMatchObject({ sockets: 0, liveConnectionActors: 0, supervisorChildren: 0 });
  return gw;
}

describe('slowloris', () => {
  it(`closes ${IDLE_SOCKETS} sockets that never send a frame at the handshake timeout with 1008, while a normal client gets in at once`, { timeout: 90_000 }, async () => {
    gw = await start({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    const { gateway } = gw;
    const addresses = Math.ceil(IDLE_SOCKETS / PER_ADDRESS);
    const sources = Array.from({ length: IDLE_SOCKETS }, (_, i) => `127.0.${1 + Math.floor(i / PER_ADDRESS / 250)}.${2 + ((Math.floor(i / PER_ADDRESS)) % 250)}`);
    const begun = Date.now();
    const ends: Promise<Outcome>[] = [];
    await pool(sources, 200, async (localAddress) => {
      const probe = await openSocket(gw!.url, { localAddress });
      leftovers.push(probe);
      ends.push(ending(probe, HANDSHAKE_TIMEOUT_MS + 30_000));
    });
    const openedIn = Date.now() - begun;
    const pendingAtCheck = gateway.stats().sockets;

    // While they hang there, a normal client completes its handshake, and is served: before the flood is cut
    // off, with most of it still pending (not timed: this process is the gateway, the flood and the client).
    const normal = await handshake(gw.url, gw.token);
    leftovers.push(normal.probe);
    expect((await request(normal.probe, 'health')).ok).toBe(true);
    const pendingWhenServed = gateway.stats().sockets - 1;

    const outcomes = await Promise.all(ends);
    const lasted = outcomes.map((outcome) => outcome.openMs).sort((a, b) => a - b);
    console.log(
      `slowloris: ${IDLE_SOCKETS} idle sockets from ${addresses} addresses opened in ${openedIn} ms; ${pendingAtCheck} pending when a normal ` +
        `client completed its handshake in ${normal.ms} ms, with ${pendingWhenServed} still pending when it was served; ` +
        `closed after ${lasted[0]}..${lasted.at(-1)} ms (timeout ${HANDSHAKE_TIMEOUT_MS} ms)`,
    );
    expect(pendingAtCheck).toBeGreaterThan(IDLE_SOCKETS / 2);
    expect(pendingWhenServed).toBeGreaterThan(IDLE_SOCKETS / 2);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 1008, reason: 'handshake timeout' });
      // Only the challenge was ever sent to them.
      expect(outcome.frames).toHaveLength(1);
    }
    // Seen from the client, which saw its socket open a little after the gateway started the clock.
    expect(lasted[0]).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 500);
    expect(lasted.at(-1)).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 5_000);
    // Seen from the gateway: never before the timeout, and each one logged as the troubleshooting guide says.
    const timeouts = gw.logs.lines.filter((line) => line.cause === 'handshake-timeout');
    expect(timeouts).toHaveLength(IDLE_SOCKETS);
    for (const line of timeouts) {
      expect(line.msg).toMatch(/^handshake timeout conn=/);
      expect(line.durationMs as number).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS);
    }

    // The normal client is still served, and nothing of the thousand is left: no socket, actor or timer.
    expect((await request(normal.probe, 'health')).ok).toBe(true);
    normal.probe.ws.close(1000);
    await normal.probe.closed;
    await settles(() => gateway.stats(), idle);
    for (const source of sources.filter((_, i) => i % PER_ADDRESS === 0)) expect(gateway.unauthenticatedCount(source)).toBe(0);
  });
});

describe('slowloris before the upgrade', () => {
  it(`cuts off ${IDLE_SOCKETS} sockets that dribble their upgrade headers, a line at a time, soon after the handshake timeout`, { timeout: 90_000 }, async () => {
    gw = await start({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    const { gateway } = gw;
    const begun = performance.now();
    const sockets = Array.from({ length: IDLE_SOCKETS }, (_, i) => {
      const socket = net.connect({ port: gateway.port, host: '127.0.0.1', localAddress: `127.0.${1 + Math.floor(i / PER_ADDRESS / 250)}.${2 + (Math.floor(i / PER_ADDRESS) % 250)}` });
      const entry = { socket, requestedAt: undefined as number | undefined, answer: '', closed: undefined as unknown as Promise<number> };
      socket.on('error', () => {});
      // Read the 408, so the socket sees the end and closes without waiting for a failed write.
      socket.on('data', (chunk: Buffer) => (entry.answer += chunk.toString('latin1')));
      socket.on('connect', () => {
        socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nUpgrade: websocket\r\n`);
        entry.requestedAt = performance.now();
      });
      // How long after its request began each one was cut off (on performance.now, Node's hrtime).
      entry.closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - (entry.requestedAt ?? begun))));
      return entry;
    });
    // Never finishing: one more header line every 300 ms, so the connection is never idle. Only after the request
    // line: written earlier (to a socket still connecting), a header line would be a bad request, refused at once.
    const dribble = setInterval(() => {
      for (const { socket, requestedAt } of sockets) if (requestedAt !== undefined && socket.writable) socket.write('X-Slow: 1\r\n');
    }, 300);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const normal = await handshake(gw.url, gw.token);
      leftovers.push(normal.probe);
      // Served while the dribblers are still there (not timed: this process is the gateway, the flood and the client).
      const dribblingWhenServed = sockets.filter(({ socket }) => !socket.destroyed).length;
      const closedAfter = (await Promise.all(sockets.map(({ closed }) => closed))).sort((a, b) => a - b);
      console.log(
        `slowloris (HTTP): ${IDLE_SOCKETS} sockets dribbling upgrade headers cut off ${closedAfter[0]!.toFixed(0)}..${closedAfter.at(-1)!.toFixed(0)} ms ` +
          `after their request began (timeout ${HANDSHAKE_TIMEOUT_MS} ms); a normal client's handshake meanwhile took ${normal.ms} ms, ` +
          `with ${dribblingWhenServed} still dribbling`,
      );
      expect(dribblingWhenServed).toBeGreaterThan(IDLE_SOCKETS / 2);
      // Each one with 408, by the header timeout, not before it: Node's server checks, every second here, how long
      // each request has been receiving headers, on its monotonic clock, from the request's first byte. (Its idle
      // timer, which a dribbler keeps resetting, is armed in whole ms of the loop's clock: 2 ms of rounding allowed.)
      expect(sockets.filter(({ answer }) => !answer.startsWith('HTTP/1.1 408 ')).map(({ answer }) => answer.split('\r\n')[0])).toEqual([]);
      expect(closedAfter[0]).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 2);
      // At the first check after the timeout, at most a second (the check interval) later, with room for the load.
      expect(closedAfter.at(-1)).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 5_000);
      expect((await request(normal.probe, 'health')).ok).toBe(true);
      normal.probe.ws.close(1000);
      await normal.probe.closed;
    } finally {
      clearInterval(dribble);
      for (const { socket } of sockets) socket.destroy();
    }
    await settles(() => gateway.stats(), idle);
  });
});

describe('floods', () => {
  it('refuses an address over its pre-auth budget with HTTP 503 (exactly the 33rd and later) while other addresses are served', { timeout: 60_000 }, async () => {
    gw = await start({ handshakeTimeoutMs: 10_000 });
    const flooder = '127.0.0.9';
    const statuses = await Promise.all(
      Array.from({ length: 200 }, async () => {
        try {
          leftovers.push(await openSocket(gw!.url, { localAddress: flooder }));
          return 101;
        } catch (error) {
          return (error as { status?: number }).status ?? -1;
        }
      }),
    );
    const admitted = statuses.filter((status) => status === 101).length;
    const refused = statuses.filter((status) => status === 503).length;
    console.log(`flood: 200 concurrent upgrades from one address: ${admitted} admitted, ${refused} refused with 503`);
    expect(admitted).toBe(32);
    expect(refused).toBe(168);
    expect(gw.gateway.unauthenticatedCount(flooder)).toBe(32);

    // Another address is not affected: it upgrades and completes its handshake while the flooder's sockets are
    // all still pending (not timed: this process is the gateway and every client).
    const other = await handshake(gw.url, gw.token, {}, { localAddress: '127.0.0.10' });
    leftovers.push(other.probe);
    expect(gw.gateway.unauthenticatedCount(flooder)).toBe(32);
    expect(await upgradeStatus(gw.url, { localAddress: flooder })).toBe(503);
    const rejected = gw.logs.lines.filter((line) => line.event === 'upgrade.rejected' && line.remoteAddr === flooder);
    expect(rejected).toHaveLength(1); // one line per address per 10 s, the rest counted

    // As the flooder's sockets go, its budget comes back.
    for (const probe of leftovers.filter((p) => p !== other.probe)) probe.ws.terminate();
    await until(() => gw!.gateway.unauthenticatedCount(flooder) === 0, 5_000, 'flooder budget released');
    const back = await handshake(gw.url, gw.token, {}, { localAddress: flooder });
    leftovers.push(back.probe);
    other.probe.ws.close(1000);
    back.probe.ws.close(1000);
    await Promise.all([other.probe.closed, back.probe.closed]);
    await settles(() => gw!.gateway.stats(), idle);
  });

  it('locks an address out after a storm of wrong tokens: 10 mismatches, then AUTH_RATE_LIMITED with retryAfterMs, even for the right token', { timeout: 60_000 }, async () => {
    gw = await start({ authRateLimitLoopback: true });
    const attacker = '127.0.0.20';
    const STORM = 60;
    const attempt = async (token: string, localAddress: string) => {
      const probe = await openSocket(gw!.url, { localAddress });
      const response = await request(probe, 'connect', {
        minProtocol: 3,
        maxProtocol: 4,
        client: { id: 'storm', version: '1.0.0', platform: 'linux', mode: 'test' },
        auth: { token },
      });
      return { response, outcome: response.ok ? undefined : await ending(probe), probe };
    };
    // In waves of 20 at once: under the address's 32 sockets in their handshake.
    const results: Awaited<ReturnType<typeof attempt>>[] = [];
    for (let wave = 0; wave < STORM / 20; wave++) {
      results.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(`wrong-${wave}-${i}`, attacker)))));
    }
    const codes = results.map(({ response }) => (response.error as { details?: { code?: string } }).details?.code);
    const mismatches = codes.filter((code) => code === 'AUTH_TOKEN_MISMATCH').length;
    const limited = results.filter(({ response }) => (response.error as { details?: { code?: string } }).details?.code === 'AUTH_RATE_LIMITED');
    console.log(`wrong-token storm: ${STORM} attempts from one address: ${mismatches} AUTH_TOKEN_MISMATCH, ${limited.length} AUTH_RATE_LIMITED`);
    expect(mismatches).toBe(10);
    expect(limited).toHaveLength(STORM - 10);
    for (const { response, outcome } of limited) {
      const error = response.error as { code: string; retryable?: boolean; retryAfterMs?: number };
      expect(error).toMatchObject({ code: 'INVALID_REQUEST', retryable: true });
      expect(error.retryAfterMs).toBeGreaterThan(0);
      expect(error.retryAfterMs).toBeLessThanOrEqual(300_000);
      expect(outcome).toMatchObject({ code: 1008, reason: 'too many failed attempts' });
    }
    for (const { outcome } of results) expect(outcome?.code).toBe(1008);
    expect(gw.logs.lines.filter((line) => line.event === 'auth.locked_out')).toHaveLength(1);

    // The right token does not lift the lockout; another address is not affected.
    const right = await attempt(gw.token, attacker);
    expect(right.response.error).toMatchObject({ details: { code: 'AUTH_RATE_LIMITED' }, retryable: true });
    const bystander = await attempt(gw.token, '127.0.0.21');
    expect(bystander.response).toMatchObject({ ok: true, payload: { type: 'hello-ok' } });
    bystander.probe.ws.close(1000);
    await bystander.probe.closed;
    await settles(() => gw!.gateway.stats(), idle);
  });
});
