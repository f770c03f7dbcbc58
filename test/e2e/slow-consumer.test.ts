// A client that stops reading is terminated as a slow consumer once its socket buffers more than the limit,
// at once rather than behind a close frame queued after everything it has not read, and the cause is logged;
// frames are not dropped and the gateway's memory does not grow; everyone else keeps being served.
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
