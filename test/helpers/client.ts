// A small WebSocket test client that records every frame and the close.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { ConnectParams } from '../../machines/protocol.js';

export type Frame = { type: string; [key: string]: unknown };
export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  private waiters: { predicate: (frame: Frame) => boolean; resolve: (frame: Frame) => void }[] = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(frame)) return true;
        waiter.resolve(frame);
        return false;
      });
    });
    ws.on('error', () => {});
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    const ws = new WebSocket(url, { headers });
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  next(predicate: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const existing = this.frames.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      });
    });
  }

  challenge(): Promise<Frame> {
    return this.next((frame) => frame.type === 'event' && frame.event === 'connect.challenge');
  }

  async challengeNonce(): Promise<string> {
    return ((await this.challenge()).payload as { nonce: string }).nonce;
  }

  event(name: string, after = 0): Promise<Frame> {
    let seen = 0;
    return this.next((frame) => frame.type === 'event' && frame.event === name && ++seen > after);
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** Sends a request and resolves with its response frame. */
  request(method: string, params?: unknown): Promise<Frame> {
    const id = `r${this.nextId++}`;
    this.send({ type: 'req', id, method, params });
    return this.next((frame) => frame.type === 'res' && frame.id === id);
  }

  close(code = 1000): Promise<Closed> {
    this.ws.close(code);
    return this.closed;
  }
}

export function connectParams(overrides: Partial<ConnectParams> = {}): ConnectParams {
  return {
    minProtocol: 3,
    maxProtocol: 4,
    client: { id: 'test', version: '1.0.0', platform: 'linux', mode: 'test', instanceId: randomUUID() },
    role: 'operator',
    scopes: ['operator.read'],
    ...overrides,
  };
}

/** Opens a socket and completes the handshake; resolves with the client and its hello-ok payload. */
export async function connectClient(
  url: string,
  token: string,
  overrides: Partial<ConnectParams> = {},
): Promise<{ client: TestClient; hello: Record<string, unknown>; params: ConnectParams }> {
  const client = await TestClient.open(url);
  await client.challenge();
  const params = connectParams({ auth: { token }, ...overrides });
  const response = await client.request('connect', params);
  if (!response.ok) throw new Error(`handshake failed: ${JSON.stringify(response.error)}`);
  return { client, hello: response.payload as Record<string, unknown>, params };
}
