// Raw TCP connections are bounded: past --max-connections plus headroom, a connection is closed at once, before
// HTTP, so a flood of idle TCP connections that never send an upgrade cannot pile up (the handshake timeout bounds
// how long each one lives; this bounds how many there are). Once they go, clients are served again.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { diagnoseRecords } from '../../src/observability/diagnose/aggregate.js';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import { rawConnectionCap } from '../../src/transport/upgrade-admission.js';
import { createLogger } from '../../src/observability/logger.js';
import { connectClient } from '../helpers/client.js';
import { LogCapture, TEST_TOKEN, startGateway } from '../helpers/gateway.js';

let gateway: Gateway | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await gateway?.close('test finished');
  gateway = undefined;
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens `count` TCP connections that send nothing; `closed()` counts those that ended, `closedUnanswered()` those the server ended before it sent anything. */
async function idleFlood(port: number, count: number) {
  let closed = 0;
  const answered = new Set<net.Socket>();
  const unanswered = new Set<net.Socket>();
  const opened = await Promise.all(
    Array.from({ length: count }, () => {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => {});
      socket.on('data', () => answered.add(socket));
      socket.on('close', () => {
        closed++;
        if (!answered.has(socket)) unanswered.add(socket);
      });
      return new Promise<net.Socket>((resolve) => socket.once('connect', () => resolve(socket)));
    }),
  );
  return { opened, closed: () => closed, closedUnanswered: () => unanswered.size };
}

/** Sends GET /healthz on a kept connection; resolves with the status line, rejects if the connection ends first. */
function healthz(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const onData = (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) resolve(answer.slice(0, answer.indexOf('\r\n')));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before an answer (got ${JSON.stringify(answer)})`)));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

describe('raw TCP connections', () => {
  it('are capped at --max-connections plus headroom; the rest are closed at once, logged once, and clients are served again once they go', async () => {
    const logs = new LogCapture();
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      token: TEST_TOKEN,
      handshakeTimeoutMs: 20_000, // the idle ones are not cut off by time during this test
      tickIntervalMs: 30_000,
      logger: createLogger('debug', logs),
      maxConnections: 4,
    });
    const cap = rawConnectionCap(4);
    expect(cap).toBe(4 + 64);
    const flood = await idleFlood(gateway.port, cap + 40);
    await until(() => flood.closed() >= 40);
    // A barrier rather than a wait: every connection not closed so far is asked for /healthz, and each must be
    // answered (the server had kept it) rather than closed. So exactly 40 were dropped, and the cap were kept.
    const kept = flood.opened.filter((socket) => !socket.destroyed);
    expect(kept).toHaveLength(cap);
    expect(await Promise.all(kept.map(healthz))).toEqual(kept.map(() => 'HTTP/1.1 200 OK'));
    expect(flood.closedUnanswered()).toBe(40);
    const dropped = logs.lines.filter((line) => line.event === 'tcp.dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ level: 40, reason: 'too many connections', limit: cap, remoteAddr: '127.0.0.1' });

    // The flood goes; clients are served again.
    for (const socket of sockets.splice(0)) socket.destroy();
    await until(() => flood.closed() === cap + 40);
    const { client } = await connectClient(gateway.url, TEST_TOKEN);
    expect((await client.request('health')).ok).toBe(true);
    await client.close();
    // The drops held back by the throttle are summed up when the gateway stops.
    await gateway.close('test finished');
    gateway = undefined;
    expect(logs.lines.filter((line) => line.event === 'tcp.dropped').at(-1)).toMatchObject({ suppressed: 39, msg: 'tcp connection dropped (summary)' });
    // And diagnose counts every one of them.
    const diagnosis = diagnoseRecords(logs.lines);
    expect(diagnosis.tcpDropped).toBe(40);
    expect(diagnosis.findings.find((finding) => finding.id === 'tcp-dropped')).toMatchObject({ severity: 'warn', count: 40 });
  });

  it('have no cap when --max-connections is 0', () => {
    expect(rawConnectionCap(0)).toBe(0);
    expect(rawConnectionCap(10_000)).toBe(11_000);
  });
});
