// A client that stops reading is terminated as a slow consumer once its socket buffers more than the limit,
// at once rather than behind a close frame queued after everything it has not read, and the cause is logged;
// frames are not dropped and the gateway's memory does not grow; everyone else keeps being served. Node
// events are skipped for a congested socket instead (its seq shows the gap), so they alone never make one.
import { afterEach, expect, it } from 'vitest';
import { connectClient, type TestClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/hardened.js';

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

const pause = (client: TestClient) => (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();

it('terminates a client that stops reading, logs why, and keeps serving the others', async () => {
  gw = await startTestGateway({ maxBufferedBytes: 256 * 1024 });
  const { client: stalled, hello } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  const { client: reader } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  clients.push(stalled, reader);
  expect((hello.policy as { maxBufferedBytes: number }).maxBufferedBytes).toBe(256 * 1024);
  const sockets = gw.gateway.stats().sockets;

  // The stalled client's socket stops reading; the kernel buffers fill, then the gateway's. A program's own
  // broadcasts are never dropped, so they pile up until the limit.
  pause(stalled);
  const blob = 'x'.repeat(1024 * 1024);
  const log = gw.logs.waitFor((line) => line.msg === 'slow consumer', 20_000);
  for (let i = 0; i < 256 && !gw.logs.find((line) => line.msg === 'slow consumer'); i++) {
    gw.gateway.broadcast('demo.bulk', { i, blob });
    await reader.request('health'); // paced by a reader's round trip
  }
  const line = await log;
  // Terminated: the peer sees the TCP connection go (1006), and the log says so and why.
  expect(line).toMatchObject({ level: 40, cause: 'slow-consumer', code: 1006, reason: 'slow consumer' });
  expect(String(line.detail)).toMatch(/bytes buffered, limit 262144/);
  // The socket is gone from the gateway at once, whatever it had buffered (a close frame would wait behind it).
  await until(() => gw.gateway.stats().sockets === sockets - 1, 5_000, 'the stalled socket destroyed');

  // The reader, which keeps reading, got every broadcast and is still connected.
  expect(reader.frames.filter((frame) => frame.event === 'demo.bulk').length).toBeGreaterThan(0);
  expect((await reader.request('health')).ok).toBe(true);
  expect(reader.ws.readyState).toBe(reader.ws.OPEN);
});

it('skips node events for a client that stops reading rather than let them pile up: its seq shows the gap', async () => {
  // A limit above the high watermark plus one event: the write that finds a socket under its high watermark
  // does not take it past its limit.
  gw = await startTestGateway({ maxBufferedBytes: 2 * 1024 * 1024 });
  const { client: stalled } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  const { client: reader } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  const { client: node } = await connectClient(gw.url, gw.token, {
    role: 'node',
    scopes: [],
    client: { id: 'chatty-node', version: '1.0.0', platform: 'linux', mode: 'node' },
  });
  clients.push(stalled, reader, node);
  pause(stalled);
  // Far more than the kernel's buffers and the limit together: the stalled client would have been a slow consumer.
  const payloadJSON = JSON.stringify({ blob: 'x'.repeat(512 * 1024) });
  const events = 48;
  const nodeEvents = (client: TestClient) => client.frames.filter((frame) => frame.event === 'node.event');
  for (let i = 0; i < events; i++) {
    expect((await node.request('node.event', { event: 'bulk', payloadJSON })).ok).toBe(true);
    // Paced by the reader, which is never congested so gets every one.
    await until(() => nodeEvents(reader).length === i + 1, 10_000, `the reader got node event ${i + 1}`);
  }
  expect(gw.logs.find((line) => line.cause === 'slow-consumer')).toBeUndefined();

  // Once it reads again it gets what it was sent, with a gap in its seqs where node events were skipped.
  (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  expect((await stalled.request('health')).ok).toBe(true); // answered after everything written before it: drained
  expect((await node.request('node.event', { event: 'final', payloadJSON: '{}' })).ok).toBe(true);
  await until(() => nodeEvents(stalled).some((frame) => (frame.payload as { event: string }).event === 'final'), 5_000, 'the stalled client got the last one');
  const seen = nodeEvents(stalled).length;
  expect(seen).toBeGreaterThan(1);
  expect(seen).toBeLessThan(events + 1);
  const seqs = stalled.frames.filter((frame) => typeof frame.seq === 'number').map((frame) => frame.seq as number);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  // Every node event took a seq, sent or skipped: what is missing is exactly what was skipped.
  expect(seqs.at(-1)! - seqs[0]! + 1 - seqs.length).toBe(events + 1 - seen);
  expect(stalled.ws.readyState).toBe(stalled.ws.OPEN);
});

it('when all sockets together buffer more than the gateway-wide cap, sheds, then terminates the largest consumers, and no one else', async () => {
  // Each socket may buffer 64 MiB, all together 8 MiB: the cap, not the sockets' own limit, is what acts.
  gw = await startTestGateway({ maxBufferedBytes: 64 * 1024 * 1024, maxTotalBufferedBytes: 8 * 1024 * 1024 });
  const stalled: TestClient[] = [];
  for (let i = 0; i < 6; i++) stalled.push((await connectClient(gw.url, gw.token, { scopes: ['operator.read'] })).client);
  const { client: reader } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  clients.push(...stalled, reader);
  for (const client of stalled) pause(client);
  const sockets = gw.gateway.stats().sockets;

  // A program's broadcasts are never dropped: the stalled sockets hold every body, shared, so the bytes held are
  // about one copy of what was broadcast, not six.
  const blob = 'x'.repeat(256 * 1024);
  const terminated = () => gw.logs.lines.filter((line) => line.cause === 'slow-consumer');
  for (let i = 0; i < 400 && terminated().length < stalled.length; i++) {
    gw.gateway.broadcast('demo.bulk', { i, blob });
    await reader.request('health');
  }
  expect(gw.logs.find((line) => line.event === 'buffers.shedding')).toMatchObject({ level: 40, limit: 8 * 1024 * 1024 });
  // The bodies are freed only once no socket holds them: every stalled socket goes, and only they.
  expect(terminated()).toHaveLength(stalled.length);
  for (const line of terminated()) {
    expect(line).toMatchObject({ code: 1006, reason: 'slow consumer' });
    expect(String(line.detail)).toMatch(/the largest consumer while all sockets held \d+, limit 8388608/);
  }
  await until(() => gw.gateway.stats().sockets === sockets - stalled.length, 5_000, 'the stalled sockets destroyed');
  expect((await reader.request('health')).ok).toBe(true);
  expect(reader.ws.readyState).toBe(reader.ws.OPEN);
});
