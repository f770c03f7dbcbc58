// Starts a real gateway on 127.0.0.1 with its JSON logs captured in memory.
import { Writable } from 'node:stream';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import type { GatewayOptions } from '../../src/config/options.js';
import { createLogger } from '../../src/observability/logger.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  private waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (!text) continue;
      const line = JSON.parse(text) as LogLine;
      this.lines.push(line);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(line)) return true;
        waiter.resolve(line);
        return false;
      });
    }
    callback();
  }

  find(predicate: (line: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(predicate);
  }

  waitFor(predicate: (line: LogLine) => boolean, timeoutMs = 5_000): Promise<LogLine> {
    const existing = this.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a log line')), timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  token: string;
  logs: LogCapture;
  close(): Promise<void>;
}

export const TEST_TOKEN = 'test-token-123';

/** A gateway built with createGateway and listening: the way a program embeds it. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const gateway = createGateway(options);
  await gateway.listen();
  return gateway;
}

/** A gateway on 127.0.0.1 (a free port, the test token, debug logs captured) with any options changed. */
export async function startTestGateway(overrides: GatewayOptions = {}): Promise<TestGateway> {
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
  return { gateway, url: gateway.url, token: TEST_TOKEN, logs, close: () => gateway.close('test finished') };
}
