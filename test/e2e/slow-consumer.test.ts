// A client that stops reading is closed as a slow consumer (1008) once its socket buffers more than the
// limit, instead of frames being dropped or the gateway's memory growing; everyone else keeps being served.
import { afterEach, expect, it } from 'vitest';
import { connectClient, type TestClient } from '../helpers/client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await gw?.close();
});

it('closes a client that stops reading with 1008 "slow consumer", and keeps serving the others', async () => {
  gw = await startTestGateway({ maxBufferedBytes: 256 * 1024 });
  const { client: stalled, hello } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  const { client: reader } = await connectClient(gw.url, gw.token, { scopes: ['operator.read'] });
  const { client: node } = await connectClient(gw.url, gw.token, {
    role: 'node',
    scopes: [],
    client: { id: 'chatty-node', version: '1.0.0', platform: 'linux', mode: 'node' },
  });
  clients.push(stalled, reader, node);
  expect((hello.policy as { maxBufferedBytes: number }).maxBufferedBytes).toBe(256 * 1024);

  // The stalled client's socket stops reading; the kernel buffers fill, then ws buffers in the gateway.
  (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const payloadJSON = JSON.stringify({ blob: 'x'.repeat(1024 * 1024) });
  const log = gw.logs.waitFor((line) => line.msg === 'slow consumer', 10_000);
  for (let i = 0; i < 64 && !gw.logs.find((line) => line.msg === 'slow consumer'); i++) {
    await node.request('node.event', { event: 'bulk', payloadJSON });
  }
  const line = await log;
  expect(line).toMatchObject({ level: 40, cause: 'slow-consumer', code: 1008, reason: 'slow consumer' });
  expect(String(line.detail)).toMatch(/bytes buffered, limit 262144/);

  // The reader, which keeps reading, got every event and is still connected.
  const received = reader.frames.filter((frame) => frame.event === 'node.event').length;
  expect(received).toBeGreaterThan(0);
  expect((await reader.request('health')).ok).toBe(true);
  expect(reader.ws.readyState).toBe(reader.ws.OPEN);
});
