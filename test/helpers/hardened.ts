// A real gateway on 127.0.0.1 with any GatewayOptions (the hardening knobs included) and its logs in memory,
// and sockets that are cleaned up after each test.
import WebSocket from 'ws';
import type { Gateway } from '../../src/gateway/create-gateway.js';
import type { GatewayOptions } from '../../src/config/options.js';
import { createLogger } from '../../src/observability/logger.js';
import { TestClient } from './client.js';
import { LogCapture, TEST_TOKEN, startGateway } from './gateway.js';

export interface Started {
  gateway: Gateway;
  url: string;
  logs: LogCapture;
}

const running: Gateway[] = [];
const sockets: { terminate(): void }[] = [];

export async function startHardened(overrides: GatewayOptions = {}): Promise<Started> {
  const logs = new LogCapture();
  const gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    token: TEST_TOKEN,
    handshakeTimeoutMs: 5_000,
    tickIntervalMs: 30_000,
    logger: createLogger('debug', logs),
    ...overrides,
  });
  running.push(gateway);
  return { gateway, url: gateway.url, logs };
}

/** Remembers a socket to terminate after the test. */
export function track<T extends { ws: { terminate(): void } }>(client: T): T {
  sockets.push(client.ws);
  return client;
}

/** Terminates every tracked socket and closes every gateway started by the test. */
export async function cleanUp(): Promise<void> {
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.all(running.splice(0).map((gateway) => gateway.close('test finished')));
}

/** Opens a socket with extra ws client options (autoPong, headers) and records its frames. */
export async function openWith(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(url, options);
  // TestClient's constructor is private to steer tests to TestClient.open; this helper needs client options.
  const constructed = new (TestClient as unknown as new (ws: WebSocket) => TestClient)(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return track(constructed);
}

/** The HTTP status an upgrade gets: 101 when the socket opens (it is closed again at once). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...(localAddress ? { localAddress } : {}) });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (request, response) => {
      response.resume();
      request.destroy();
      resolve(response.statusCode ?? 0);
    });
    ws.once('error', (error) => reject(error));
  });
}

export async function until(condition: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
