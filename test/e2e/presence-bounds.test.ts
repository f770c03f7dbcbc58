// Presence is bounded (issue 16, item 3). The attack: many tracked clients connect with the largest presence
// fields they can, so that every hello-ok and every presence push would carry all of them (before: 117 clients
// with ~60 KiB entries, 7 MB in every hello-ok, 18.8 GB pushed in 87 s, about 215 MB/s against 32 MiB/s).
// Now: fields over their cap are refused at connect, naming the field; the list clients are sent is at most
// ProtocolLimits.maxPresenceBytes (the newest entries that fit, the gateway's own last); and the presence
// pushes of the whole storm keep to the 32 MiB/s budget, with a window longer than 1 s where it takes one.
// The gateway runs in its own process under a 512 MiB heap; a healthy client in a third process is served.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolLimits } from '../../machines/protocol.js';
import { PRESENCE_BYTES_PER_SECOND } from '../../src/gateway/supervisor-wiring.js';
import { killAttackProcesses, latency, roundsBetween, startGatewayProcess, startHealthyClient, type GatewayProcess } from '../helpers/attack-gateway.js';
import { handshake, openSocket, request, waitFrame, type Json } from '../helpers/chaos.js';

const TOKEN = 'presence-bounds-token';
/** Enough sockets that one fan-out of a full list (sockets x 128 KiB) takes more than 1 s of the budget. */
const STORM_CLIENTS = 280;
const BATCH = 10;
/** A character JSON writes as six bytes (\u0001): the most bytes a capped field can make. */
const FAT = '\u0001';

let gateway: GatewayProcess;
beforeAll(async () => {
  gateway = await startGatewayProcess(TOKEN, 512);
});
afterAll(async () => {
  await gateway?.stop();
  killAttackProcesses();
});

/** Connect params with every presence field at its cap, of the costliest characters. */
function fattest(): Json {
  const chars = ProtocolLimits.maxClientFieldChars;
  const fill = (n: number, tail = '') => FAT.repeat(n - tail.length) + tail;
  return {
    client: {
      id: fill(chars.id),
      displayName: fill(chars.displayName),
      version: fill(chars.version),
      platform: fill(chars.platform),
      deviceFamily: fill(chars.deviceFamily),
      modelIdentifier: fill(chars.modelIdentifier),
      mode: 'ui',
      instanceId: fill(chars.instanceId, randomUUID()),
    },
    // operator.read first: presence goes only to readers; the other scopes are as long as a scope may be.
    scopes: ['operator.read', ...Array.from({ length: ProtocolLimits.maxScopes - 1 }, (_, i) => fill(ProtocolLimits.maxScopeChars, `s${i}`))],
  };
}

describe('presence fields over their caps', () => {
  it.each([
    ['client.displayName', { client: { id: 'x', version: '1', platform: 'linux', mode: 'ui', displayName: 'd'.repeat(ProtocolLimits.maxClientFieldChars.displayName + 1) } }, '/client/displayName'],
    ['client.instanceId', { client: { id: 'x', version: '1', platform: 'linux', mode: 'ui', instanceId: 'i'.repeat(ProtocolLimits.maxClientFieldChars.instanceId + 1) } }, '/client/instanceId'],
    ['scopes (too many)', { scopes: Array.from({ length: ProtocolLimits.maxScopes + 1 }, () => 'operator.read') }, '/scopes'],
    ['scopes (one too long)', { scopes: ['operator.read', 's'.repeat(ProtocolLimits.maxScopeChars + 1)] }, '/scopes/1'],
  ])('refuses %s at connect, naming the field, and closes 1002', async (_name, overrides, pointer) => {
    const probe = await openSocket(gateway.url);
    await waitFrame(probe, (frame) => frame.event === 'connect.challenge');
    const params = { minProtocol: 3, maxProtocol: 4, client: { id: 'x', version: '1', platform: 'linux', mode: 'ui' }, role: 'operator', scopes: ['operator.read'], auth: { token: TOKEN }, ...overrides };
    const answer = await request(probe, 'connect', params);
    expect(answer.ok).toBe(false);
    expect((answer.error as { message: string }).message).toMatch(new RegExp(`^invalid connect params: ${pointer}: Expected (string|array) length`));
    expect((await probe.closed).code).toBe(1002);
  });

  it('takes every field at its cap', async () => {
    const { probe, hello } = await handshake(gateway.url, TOKEN, fattest());
    expect((hello.auth as { scopes: string[] }).scopes).toHaveLength(ProtocolLimits.maxScopes);
    probe.ws.terminate();
  });
});

interface Counter {
  ws: WebSocket;
  presenceBytes: number;
  presenceFrames: number;
  largestPresence: number;
  helloBytes: number;
}

/** A tracked client with the fattest presence fields that counts the presence pushes it gets (bytes only, nothing parsed). */
async function stormClient(timeline: { at: number; bytes: number }[]): Promise<Counter> {
  const ws = new WebSocket(gateway.url, { perMessageDeflate: false });
  const counter: Counter = { ws, presenceBytes: 0, presenceFrames: 0, largestPresence: 0, helloBytes: 0 };
  let helloed!: () => void;
  const ready = new Promise<void>((resolve) => (helloed = resolve));
  ws.on('message', (data: Buffer) => {
    // Each frame's start says what it is; the frame itself is never parsed.
    const head = data.toString('latin1', 0, 48);
    if (head.startsWith('{"type":"event","event":"presence"')) {
      counter.presenceBytes += data.length;
      counter.presenceFrames++;
      counter.largestPresence = Math.max(counter.largestPresence, data.length);
      timeline.push({ at: Date.now(), bytes: data.length });
    } else if (head.startsWith('{"type":"event","event":"connect.challenge"')) {
      ws.send(JSON.stringify({ type: 'req', id: 'c', method: 'connect', params: { minProtocol: 3, maxProtocol: 4, role: 'operator', auth: { token: TOKEN }, ...fattest() } }));
    } else if (head.startsWith('{"type":"res","id":"c"')) {
      counter.helloBytes = data.length;
      helloed();
    }
  });
  ws.on('error', () => {});
  await ready;
  return counter;
}

describe('a storm of tracked clients with the largest presence fields', () => {
  it('gets hello-oks and presence lists of at most maxPresenceBytes, pushed within the byte budget, while a healthy client is served', async () => {
    const healthy = await startHealthyClient(gateway.url, TOKEN, 20);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const timeline: { at: number; bytes: number }[] = [];
    const stormFrom = Date.now();
    const clients: Counter[] = [];
    for (let i = 0; i < STORM_CLIENTS; i += BATCH) {
      clients.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, STORM_CLIENTS - i) }, () => stormClient(timeline)))));
    }
    const joinedAt = Date.now();
    // The last join's presence reaches everyone within a window: at most sockets x list bytes / budget.
    const lastWindowMs = Math.ceil(((STORM_CLIENTS + 2) * (ProtocolLimits.maxPresenceBytes + 1_024) * 1_000) / PRESENCE_BYTES_PER_SECOND);
    await new Promise((resolve) => setTimeout(resolve, lastWindowMs + 1_000));
    const stormTo = Date.now();
    const report = await healthy.stop();

    // What a reader now gets: system-presence within the cap, newest first, the gateway's own last.
    const reader = await handshake(gateway.url, TOKEN);
    const listed = (await request(reader.probe, 'system-presence')).payload as Json[];
    const listedBytes = Buffer.byteLength(JSON.stringify(listed));
    const snapshotBytes = Buffer.byteLength(JSON.stringify((reader.hello.snapshot as Json).presence));
    reader.probe.ws.terminate();

    const presenceBytes = clients.reduce((sum, c) => sum + c.presenceBytes, 0);
    const firstPush = timeline.reduce((min, point) => Math.min(min, point.at), Number.POSITIVE_INFINITY);
    const lastPush = timeline.reduce((max, point) => Math.max(max, point.at), 0);
    const fanOut = STORM_CLIENTS * (ProtocolLimits.maxPresenceBytes + 1_024);
    const summary = {
      clients: clients.length,
      joinMs: joinedAt - stormFrom,
      largestHello: Math.max(...clients.map((c) => c.helloBytes)),
      largestPresence: Math.max(...clients.map((c) => c.largestPresence)),
      presenceFrames: clients.reduce((sum, c) => sum + c.presenceFrames, 0),
      presenceMiB: +(presenceBytes / 1024 / 1024).toFixed(1),
      pushSeconds: +((lastPush - firstPush) / 1_000).toFixed(2),
      listed: { entries: listed.length, bytes: listedBytes },
      healthy: { before: latency(roundsBetween(report, 0, stormFrom)), during: latency(roundsBetween(report, stormFrom, stormTo)) },
      peakRssMiB: Math.round(gateway.peakRssMiB()),
    };
    console.log(`presence storm ${JSON.stringify(summary)}`);

    // Every list is within the cap, and hello-ok carries nothing else that grows with the clients.
    expect(listedBytes).toBeLessThanOrEqual(ProtocolLimits.maxPresenceBytes);
    expect(snapshotBytes).toBeLessThanOrEqual(ProtocolLimits.maxPresenceBytes);
    expect(listed.at(-1)).toMatchObject({ reason: 'self' });
    expect(listed.length).toBeGreaterThan(2);
    expect(listed.length).toBeLessThan(STORM_CLIENTS);
    expect(summary.largestPresence).toBeLessThanOrEqual(ProtocolLimits.maxPresenceBytes + 1_024);
    expect(summary.largestHello).toBeLessThanOrEqual(ProtocolLimits.maxPresenceBytes + 16 * 1_024);
    // The budget held: at most one full fan-out at once, then 32 MiB/s (and one more fan-out of slack).
    expect(presenceBytes).toBeLessThanOrEqual((PRESENCE_BYTES_PER_SECOND * (lastPush - firstPush)) / 1_000 + 2 * fanOut);
    // The healthy client was served, and the gateway lives within its heap.
    expect(report.failures).toEqual([]);
    expect(summary.healthy.during.rounds).toBeGreaterThanOrEqual(10);
    expect(summary.healthy.during.handshake.max).toBeLessThan(1_000 + summary.healthy.before.handshake.max);
    expect(summary.healthy.during.health.max).toBeLessThan(1_000 + summary.healthy.before.health.max);
    expect(gateway.alive()).toBe(true);
    for (const client of clients) client.ws.terminate();
  }, 120_000);
});
