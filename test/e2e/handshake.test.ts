// The handshake's paths over real sockets on 127.0.0.1.
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { LEVEL, startTestGateway, type TestGateway } from '../helpers/gateway.js';

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let gw: TestGateway;
afterEach(async () => gw?.close());

describe('successful handshake', () => {
  beforeEach(async () => {
    gw = await startTestGateway();
  });

  it('sends a challenge, then hello-ok with server, features, snapshot, auth and policy', async () => {
    const client = await TestClient.open(gw.url);
    const challenge = await client.challenge();
    const payload = challenge.payload as { nonce: string; ts: number; capabilities: unknown[] };
    expect(payload.nonce).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(payload.ts - Date.now())).toBeLessThan(5_000);
    expect(payload.capabilities).toEqual([]);

    const response = await client.request('connect', connectParams({ auth: { token: gw.token } }));
    expect(response.ok).toBe(true);
    const hello = response.payload as Record<string, any>;
    expect(hello.type).toBe('hello-ok');
    expect(hello.protocol).toBe(4);
    expect(hello.server.connId).toMatch(/^[0-9a-f-]{36}$/);
    expect(hello.features.methods).toEqual(expect.arrayContaining(['connect', 'health', 'system-presence']));
    expect(hello.features.events).toEqual(expect.arrayContaining(['presence', 'tick', 'shutdown']));
    expect(hello.snapshot.stateVersion.presence).toBeGreaterThanOrEqual(1);
    expect(hello.snapshot.presence.some((entry: any) => entry.reason === 'self')).toBe(true);
    expect(hello.snapshot.health.ok).toBe(true);
    expect(hello.auth).toEqual({ role: 'operator', scopes: ['operator.read'] });
    // A read-only operator never needs a frame above 64 KiB: that is its socket's limit, and its policy says so.
    expect(hello.policy).toEqual({ maxPayload: 64 * 1024, maxBufferedBytes: 50 * 1024 * 1024, tickIntervalMs: 30_000 });
    const ready = await gw.logs.waitFor((line) => line.msg === 'handshake complete');
    expect(ready.connId).toBe(hello.server.connId);
    await client.close();
    // A writer (node.invoke) and a node (results, events) may send frames up to 25 MiB.
    const writer = await connectClient(gw.url, gw.token, { scopes: ['operator.write'] });
    expect((writer.hello.policy as { maxPayload: number }).maxPayload).toBe(25 * 1024 * 1024);
    await writer.client.close();
    const node = await connectClient(gw.url, gw.token, { role: 'node', scopes: [], client: { id: 'n', version: '1', platform: 'linux', mode: 'node' } });
    expect((node.hello.policy as { maxPayload: number }).maxPayload).toBe(25 * 1024 * 1024);
    await node.client.close();
  });

  it("closes a read-only operator's frame above its 64 KiB at the frame's header (1009)", async () => {
    const { client } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
    const healthy = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
    client.ws.send(JSON.stringify({ type: 'req', id: 'big', method: 'health', params: { pad: 'x'.repeat(64 * 1024) } }));
    const closed = await client.closed;
    expect(closed.code).toBe(1009);
    const line = await gw.logs.waitFor((entry) => entry.event === 'connection.closed' && entry.cause === 'frame-too-large');
    expect(line).toMatchObject({ ready: true, detail: `frame above ${64 * 1024} bytes` });
    expect((await healthy.client.request('health')).ok).toBe(true);
    await healthy.client.close();
  });

  it('negotiates the highest common protocol version', async () => {
    const { client, hello } = await connectClient(gw.url, gw.token, { minProtocol: 1, maxProtocol: 3 });
    expect(hello.protocol).toBe(3);
    await client.close();
  });

  it('answers health and system-presence, and keeps the socket open after an unknown method', async () => {
    const { client } = await connectClient(gw.url, gw.token);
    const unknown = await client.request('no.such.method', {});
    expect(unknown.ok).toBe(false);
    expect(unknown.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'unknown method: no.such.method' });
    const health = await client.request('health');
    expect(health.ok).toBe(true);
    expect((health.payload as any).ok).toBe(true);
    const presence = await client.request('system-presence');
    expect(Array.isArray(presence.payload)).toBe(true);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    await client.close();
  });

  it('answers a second connect with an error and stays connected', async () => {
    const { client } = await connectClient(gw.url, gw.token);
    const again = await client.request('connect', connectParams({ auth: { token: gw.token } }));
    expect(again.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'already connected' });
    expect((await client.request('health')).ok).toBe(true);
    await client.close();
  });

  it('accepts frames above the pre-auth limit once authenticated, for the methods that take big params', async () => {
    const { client } = await connectClient(gw.url, gw.token, { scopes: ['operator.write'] });
    const padding = 'x'.repeat(200 * 1024);
    // node.invoke takes up to maxPayload: it gets as far as looking for the node.
    const invoke = await client.request('node.invoke', { nodeId: 'nowhere', command: 'system.which', idempotencyKey: 'k', params: { padding } });
    expect(invoke.error).toMatchObject({ details: { code: 'NOT_CONNECTED' } });
    // health takes no params: a frame over 64 KiB is refused before it is parsed, and the socket stays open.
    const health = await client.request('health', { padding });
    expect(health.error).toMatchObject({ code: 'INVALID_REQUEST', details: { code: 'FRAME_TOO_LARGE_FOR_METHOD', method: 'health', maxBytes: 64 * 1024 } });
    expect((await client.request('health')).ok).toBe(true);
    await client.close();
  });

  it('sends the 101 answer and the challenge in one write (one packet, one read for the client)', async () => {
    // Counts the gateway side's writes to the kernel for this client's socket (found by its port).
    const writes = new Map<number, number>();
    const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (this: net.Socket, ...args: unknown[]) => void>;
    const originals = { _write: proto._write, _writev: proto._writev };
    for (const name of ['_write', '_writev'] as const) {
      proto[name] = function (this: net.Socket, ...args: unknown[]) {
        if (this.remotePort !== undefined) writes.set(this.remotePort, (writes.get(this.remotePort) ?? 0) + 1);
        return originals[name].apply(this, args);
      };
    }
    const socket = net.connect(gw.gateway.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    try {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await until(() => Buffer.concat(chunks).includes('connect.challenge'));
    } finally {
      Object.assign(proto, originals);
    }
    expect(writes.get(socket.localPort!)).toBe(1);
    socket.destroy();
    expect(chunks).toHaveLength(1);
    const text = chunks[0]!.toString('latin1');
    expect(text.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    // After the headers: one unmasked text frame (0x81) holding the challenge.
    const frame = chunks[0]!.subarray(text.indexOf('\r\n\r\n') + 4);
    expect(frame[0]).toBe(0x81);
    expect(frame.toString('utf8')).toContain('"event":"connect.challenge"');
  });

  it('serves GET /healthz', async () => {
    const response = await fetch(gw.url.replace('ws://', 'http://') + '/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true });
    expect((await fetch(gw.url.replace('ws://', 'http://') + '/nope')).status).toBe(404);
  });
});

describe('failures before the handshake completes', () => {
  it('closes a silent client with 1008 "handshake timeout" and logs it with durationMs', async () => {
    gw = await startTestGateway({ handshakeTimeoutMs: 300 });
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const closed = await client.closed;
    expect(closed).toEqual({ code: 1008, reason: 'handshake timeout' });
    const line = await gw.logs.waitFor((entry) => String(entry.msg).startsWith('handshake timeout conn='));
    expect(line.level).toBe(LEVEL.warn);
    expect(line.msg).toBe(`handshake timeout conn=${line.connId}`);
    // The actors' clock never fires early and durationMs is measured from the socket's open on the same clock.
    expect(line.durationMs).toBeGreaterThanOrEqual(300);
    expect(line).toMatchObject({ code: 1008, reason: 'handshake timeout', cause: 'handshake-timeout', remoteAddr: '127.0.0.1', handshakeTimeoutMs: 300, ready: false });
    // The setting is logged at the start too, so a diagnosis needs no flag.
    expect(gw.logs.find((entry) => entry.event === 'gateway.listening')).toMatchObject({ handshakeTimeoutMs: 300 });
  });

  it('logs "closed before connect" with durationMs when the client leaves first', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    // The gateway started its clock (performance.now, as here) when the socket opened on its side, before
    // the client saw the open: 50 ms after this point the gateway's durationMs is at least 50.
    const openedBy = performance.now();
    await client.challenge();
    while (performance.now() - openedBy < 50) await new Promise((resolve) => setTimeout(resolve, 5));
    await client.close(1000);
    const line = await gw.logs.waitFor((entry) => entry.msg === 'closed before connect');
    expect(line.level).toBe(LEVEL.warn);
    expect(line.durationMs).toBeGreaterThanOrEqual(50);
    expect(line).toMatchObject({ cause: 'closed-before-connect', code: 1000, ready: false });
    expect(line.handshakeTimeoutMs).toBeUndefined();
    expect(gw.gateway.connectionCount()).toBe(0);
  });

  it('says in the close line whether the handshake had completed', async () => {
    gw = await startTestGateway();
    const { client } = await connectClient(gw.url, gw.token);
    await client.close(1000);
    const line = await gw.logs.waitFor((entry) => entry.event === 'connection.closed');
    expect(line).toMatchObject({ cause: 'peer-closed', code: 1000, ready: true });
  });

  it('ends a connection reset by its peer as a socket error with its connId and address, before and after the handshake', async () => {
    gw = await startTestGateway();
    const reset = (client: TestClient) => (client.ws as unknown as { _socket: { resetAndDestroy(): void } })._socket.resetAndDestroy();
    const early = await TestClient.open(gw.url);
    await early.challenge();
    reset(early);
    const { client: late } = await connectClient(gw.url, gw.token);
    reset(late);
    await gw.logs.waitFor((entry) => entry.cause === 'socket-error' && entry.ready === true);
    const lines = gw.logs.lines.filter((entry) => entry.cause === 'socket-error');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatchObject({ level: LEVEL.warn, msg: 'socket error', code: 1006, reason: '', remoteAddr: '127.0.0.1', connId: expect.any(String) });
      expect(String(line.detail)).toMatch(/ECONNRESET/);
    }
    expect(lines.map((line) => line.ready).sort()).toEqual([false, true]);
    expect(gw.logs.find((entry) => entry.event === 'upgrade.error')).toBeUndefined();
    await until(() => gw!.gateway.connectionCount() === 0);
  });

  it('logs a SwiftPM helper from loopback that closes before connect at info, with an event of its own', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url, { 'user-agent': 'swiftpm-testing-helper/5.10' });
    await client.challenge();
    await client.close(1000);
    const line = await gw.logs.waitFor((entry) => entry.cause === 'helper-closed-before-connect');
    expect(line).toMatchObject({ level: LEVEL.info, event: 'connection.helper_closed', code: 1000, ready: false });
    expect(gw.logs.lines.filter((entry) => entry.cause === 'helper-closed-before-connect')).toHaveLength(1);
    expect(gw.logs.find((entry) => entry.msg === 'closed before connect')).toBeUndefined();
  });

  it('closes at once on a socket error and logs it', async () => {
    gw = await startTestGateway();
    const port = Number(new URL(gw.url).port);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise((resolve) => socket.once('data', resolve));
    // An unmasked frame with a reserved opcode: a broken peer, not a protocol message.
    socket.write(Buffer.from([0x83, 0x00]));
    const ended = new Promise((resolve) => socket.once('close', resolve));
    const line = await gw.logs.waitFor((entry) => entry.msg === 'socket error');
    expect(line.level).toBe(LEVEL.warn);
    // ws failed the socket with 1002 and no reason: the log says the same.
    expect(line).toMatchObject({ cause: 'socket-error', code: 1002, reason: '' });
    expect(String(line.detail)).toMatch(/opcode|MASK/i);
    await ended;
  });

  it('logs a text frame that is not UTF-8 with the 1007 the peer sees, before and after the handshake', async () => {
    gw = await startTestGateway();
    const early = await TestClient.open(gw.url);
    await early.challenge();
    early.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    const { client: late } = await connectClient(gw.url, gw.token);
    late.ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
    for (const client of [early, late]) expect(await client.closed).toEqual({ code: 1007, reason: '' });
    await until(() => gw!.logs.lines.filter((entry) => entry.cause === 'socket-error').length === 2);
    const lines = gw.logs.lines.filter((entry) => entry.cause === 'socket-error');
    for (const line of lines) {
      expect(line).toMatchObject({ msg: 'socket error', code: 1007, reason: '' });
      expect(String(line.detail)).toMatch(/UTF-8/);
    }
    expect(lines.map((line) => line.ready).sort()).toEqual([false, true]);
  });

  it('closes with 1002 on malformed JSON', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    client.send('{not json');
    expect(await client.closed).toEqual({ code: 1002, reason: 'malformed frame' });
    const line = await gw.logs.waitFor((entry) => entry.cause === 'malformed-frame');
    expect(line.detail).toBe('malformed JSON');
  });

  it('answers a wrong-shaped frame that has an id with an error, then closes 1002', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    client.send({ type: 'req', id: 'x1', method: '' });
    const response = await client.next((frame) => frame.type === 'res');
    expect(response).toMatchObject({ id: 'x1', ok: false, error: { code: 'INVALID_REQUEST' } });
    expect((await client.closed).code).toBe(1002);
  });

  it('rejects connect params that fail the schema with an error response and 1002', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const params = { ...connectParams({ auth: { token: gw.token } }), unexpected: true };
    const response = await client.request('connect', params);
    expect(response.error).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(String((response.error as any).message)).toMatch(/invalid connect params/);
    expect(await client.closed).toEqual({ code: 1002, reason: 'invalid connect params' });
  });

  it('closes 1008 when the first request is not connect', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const response = await client.request('health');
    expect(response.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'first request must be connect' });
    expect(await client.closed).toEqual({ code: 1008, reason: 'connect required' });
  });

  it('closes 1002 "protocol mismatch" with details.expectedProtocol when versions do not overlap', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const response = await client.request('connect', connectParams({ auth: { token: gw.token }, minProtocol: 5, maxProtocol: 6 }));
    expect(response.error).toMatchObject({ code: 'INVALID_REQUEST', details: { expectedProtocol: { min: 3, max: 4 } } });
    expect(await client.closed).toEqual({ code: 1002, reason: 'protocol mismatch' });
  });

  it('closes 1009 on a pre-auth frame above 64 KiB', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    client.send({ type: 'req', id: 'big', method: 'connect', params: { padding: 'x'.repeat(65 * 1024) } });
    const closed = await client.closed;
    expect(closed).toEqual({ code: 1009, reason: '' });
    const line = await gw.logs.waitFor((entry) => entry.cause === 'frame-too-large');
    // The log says what the peer saw; the limit is in the detail.
    expect(line).toMatchObject({ code: closed.code, reason: closed.reason, detail: 'frame above 65536 bytes', ready: false });
  });

  it('keeps serving other clients while one misbehaves', async () => {
    gw = await startTestGateway();
    const { client: healthy } = await connectClient(gw.url, gw.token);
    const bad = await TestClient.open(gw.url);
    await bad.challenge();
    bad.send('garbage');
    await bad.closed;
    expect((await healthy.request('health')).ok).toBe(true);
    await healthy.close();
  });
});

describe('shared-secret authentication', () => {
  it('rejects a wrong token with an error response, then 1008', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const response = await client.request('connect', connectParams({ auth: { token: 'wrong' } }));
    expect(response.error).toMatchObject({ code: 'INVALID_REQUEST', details: { code: 'AUTH_TOKEN_MISMATCH' } });
    expect(await client.closed).toEqual({ code: 1008, reason: 'unauthorized: gateway token mismatch' });
    const line = await gw.logs.waitFor((entry) => entry.cause === 'auth-rejected');
    expect(line).toMatchObject({ detail: 'AUTH_TOKEN_MISMATCH', code: 1008 });
  });

  it('rejects a missing token', async () => {
    gw = await startTestGateway();
    const client = await TestClient.open(gw.url);
    await client.challenge();
    const response = await client.request('connect', connectParams());
    expect(response.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISSING' } });
    expect((await client.closed).code).toBe(1008);
  });

  it('accepts the right password and refuses a wrong one in password mode', async () => {
    gw = await startTestGateway({ auth: 'password', password: 'hunter2' });
    const { client } = await connectClient(gw.url, 'unused', { auth: { password: 'hunter2' } });
    await client.close();
    const bad = await TestClient.open(gw.url);
    await bad.challenge();
    const response = await bad.request('connect', connectParams({ auth: { password: 'hunter3' } }));
    expect(response.error).toMatchObject({ details: { code: 'AUTH_PASSWORD_MISMATCH' } });
    expect((await bad.closed).code).toBe(1008);
  });

  it('lets anyone in with auth mode none', async () => {
    gw = await startTestGateway({ auth: 'none' });
    const { client, hello } = await connectClient(gw.url, '', { auth: {} });
    expect(hello.type).toBe('hello-ok');
    await client.close();
  });
});
