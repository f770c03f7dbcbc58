// `--inspect`: the @statelyai/inspect relay gets every actor's inspection events from a real gateway, with
// the secrets of the handshake redacted. A plain `ws` client stands in for the browser's bridge page: the
// relay forwards each text message it receives to every other client and replays the last 200 to a
// newcomer.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError } from '../../src/config.js';
import { REDACTED, startInspector, type Inspector } from '../../src/inspect.js';
import type { ConnectParams } from '../../machines/protocol.js';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { TEST_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface Published {
  type: string;
  sessionId: string;
  name?: string;
  event?: { type: string; [key: string]: unknown };
  snapshot?: { value?: unknown; context?: Record<string, unknown> };
  [key: string]: unknown;
}

/** Listens like the relay does (no host) on a port the system picks, then frees it. */
function listenAnywhere(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const server = await listenAnywhere();
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

class Watcher {
  readonly raw: string[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      this.raw.push(data.toString());
    });
  }

  static async open(url: string): Promise<Watcher> {
    const ws = new WebSocket(url);
    const watcher = new Watcher(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return watcher;
  }

  get messages(): Published[] {
    return this.raw.map((text) => JSON.parse(text) as Published);
  }

  async until(predicate: (message: Published) => boolean, what: string, timeoutMs = 3_000): Promise<Published> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`the relay sent no ${what}; got ${this.raw.length} messages`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.ws.close();
  }
}

let inspector: Inspector;
let gw: TestGateway;

beforeAll(async () => {
  inspector = await startInspector({ port: await freePort() });
  gw = await startTestGateway({ inspect: inspector.inspect });
});

afterAll(async () => {
  await gw?.close();
  await inspector?.stop();
});

describe('the inspection relay', () => {
  it('relays the actors of real handshakes, with the gateway token, device signature and device token redacted', async () => {
    const watcher = await Watcher.open(inspector.url);
    const { client } = await connectClient(gw.url, TEST_TOKEN);

    // An operator's device-signed connect too: its params carry device.signature, and auto-local pairing
    // approves the loopback device at once and issues its device token.
    const signed = await TestClient.open(gw.url);
    const nonce = await signed.challengeNonce();
    const params: ConnectParams = connectParams({ auth: { token: TEST_TOKEN } });
    params.device = signDevice(createDevice(), params, nonce);
    const signedHello = await signed.request('connect', params);
    expect(signedHello.ok).toBe(true);
    const deviceToken = (signedHello.payload as { auth: { deviceToken?: string } }).auth.deviceToken;
    expect(deviceToken).toEqual(expect.any(String));

    const supervisor = await watcher.until((m) => m.type === '@xstate.actor' && m.name === 'supervisor', 'supervisor actor');
    const connection = await watcher.until((m) => m.type === '@xstate.actor' && m.name === 'connection', 'connection actor');
    const connect = await watcher.until(
      (m) => m.type === '@xstate.event' && m.event?.type === 'frame.connect' && m.sessionId === connection.sessionId,
      'frame.connect event',
    );
    await watcher.until((m) => m.type === '@xstate.snapshot' && m.sessionId === connection.sessionId && m.snapshot?.value === 'ready', 'ready snapshot');
    await watcher.until((m) => m.type === '@xstate.event' && m.event?.type === 'connection.joined' && m.sessionId === supervisor.sessionId, 'join on the supervisor');
    const deviceConnect = await watcher.until(
      (m) => m.type === '@xstate.event' && m.event?.type === 'frame.connect' && (m.event.params as ConnectParams).device !== undefined,
      'device-signed frame.connect',
    );

    expect(connection.snapshot?.context?.supervisor).toEqual({ xstate$$type: 1, id: supervisor.sessionId });
    expect((connect.event!.params as ConnectParams).auth).toEqual({ token: REDACTED });
    const device = (deviceConnect.event!.params as ConnectParams).device!;
    expect(device.signature).toBe(REDACTED);
    expect(device.id).toBe(params.device.id);

    const devicePassed = await watcher.until(
      (m) => m.type === '@xstate.event' && m.event?.type === 'auth.passed' && m.sessionId === deviceConnect.sessionId,
      'auth.passed of the device',
    );
    expect((devicePassed.event!.session as { deviceToken?: string }).deviceToken).toBe(REDACTED);
    const approved = await watcher.until(
      (m) => m.type === '@xstate.event' && m.event?.type === 'device.pair.silentlyApproved' && m.sessionId === supervisor.sessionId,
      'silent pairing approval on the supervisor',
    );
    expect(approved.event!.device).toMatchObject({ deviceId: params.device.id, token: REDACTED });

    expect(watcher.raw.filter((text) => text.includes(TEST_TOKEN))).toEqual([]);
    expect(watcher.raw.filter((text) => text.includes(deviceToken!))).toEqual([]);
    expect(watcher.raw.filter((text) => text.includes(params.device!.signature))).toEqual([]);
    for (const message of watcher.messages) expect(message._version).toBe('0.7.2');

    await client.close();
    await signed.close();
    watcher.close();
  });

  it('replays what it kept to a watcher that connects later', async () => {
    const late = await Watcher.open(inspector.url);
    await late.until((m) => m.type === '@xstate.actor' && m.name === 'supervisor', 'replayed supervisor actor', 1_000);
    late.close();
  });

  it('refuses a port in use with a ConfigError instead of an uncaught EADDRINUSE', async () => {
    const taken = await listenAnywhere();
    const { port } = taken.address() as { port: number };
    try {
      const starting = startInspector({ port });
      await expect(starting).rejects.toBeInstanceOf(ConfigError);
      await expect(starting).rejects.toThrow(`--inspect-port ${port} is already in use`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('actorgate start --inspect', () => {
  it('starts the relay before the gateway, says what to open, publishes the handshake, and stops on SIGTERM', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-inspect-'));
    const port = await freePort();
    const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, 'start', '--port', '0', '--token', 'cli-secret-token', '--state-dir', stateDir], {
      env: { ...process.env, ACTORGATE_INSPECT: '1', ACTORGATE_INSPECT_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    try {
      const gatewayPort = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 10_000);
        child.stdout!.on('data', (chunk) => {
          stdout += chunk;
          const line = stdout.split('\n').find((text) => text.includes('"gateway.listening"'));
          if (!line) return;
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        });
      });
      expect(stdout.indexOf('"inspect.listening"')).toBeGreaterThanOrEqual(0);
      expect(stdout.indexOf('"inspect.listening"')).toBeLessThan(stdout.indexOf('"gateway.listening"'));
      expect(stderr).toContain(`open http://localhost:${port} in a browser`);

      const page = await fetch(`http://127.0.0.1:${port}/`).then((response) => response.text());
      expect(page).toContain('https://stately.ai/inspect');
      expect(page).toContain(`ws://localhost:${port}`);

      const watcher = await Watcher.open(`ws://127.0.0.1:${port}`);
      const { client } = await connectClient(`ws://127.0.0.1:${gatewayPort}`, 'cli-secret-token');
      await watcher.until((m) => m.type === '@xstate.event' && m.event?.type === 'auth.passed', 'auth.passed event');
      expect(watcher.raw.filter((text) => text.includes('cli-secret-token'))).toEqual([]);
      await client.close();
      watcher.close();

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
