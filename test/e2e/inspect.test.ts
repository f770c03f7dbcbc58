// `--inspect`: our relay on 127.0.0.1 gets every actor's inspection events from a real gateway, with the secrets
// of the handshake redacted, and hands them only to watchers that are local tools (no Origin) or the relay's own
// bridge page (its Origin). Plain `ws` clients stand in for the browser: they set the Origin a browser would send.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError } from '../../src/cli/config.js';
import { startInspectRelay, type InspectRelay } from '../../src/observability/inspect-relay.js';
import { REDACTED, startInspector, type Inspector } from '../../src/observability/inspect.js';
import type { ConnectParams } from '../../machines/protocol.js';
import { TestClient, connectClient, connectParams } from '../helpers/client.js';
import { createDevice, signDevice } from '../helpers/device.js';
import { TEST_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { hashDeviceToken } from '../../src/auth/device-token.js';

interface Published {
  type: string;
  sessionId: string;
  name?: string;
  event?: { type: string; [key: string]: unknown };
  snapshot?: { value?: unknown; context?: Record<string, unknown> };
  [key: string]: unknown;
}

function listenOnLoopback(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function nonLoopbackIPv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((info) => info !== undefined && info.family === 'IPv4' && !info.internal)?.address;
}

function tcpAccepts(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (accepted: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A GET with the Host header of our choosing (fetch does not let a page, nor us, set it). */
function get(url: string, host?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The HTTP status a WebSocket handshake is refused with; fails if the relay upgrades it. */
function refusal(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('error', (error) => reject(error));
    ws.once('open', () => {
      ws.close();
      reject(new Error(`the relay upgraded ${url} (${JSON.stringify(options)})`));
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });
}

class Watcher {
  readonly raw: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      this.raw.push(data.toString());
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, origin?: string): Promise<Watcher> {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
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

/** The `auth.passed` of the connection whose connect params are these. */
function authPassedOf(params: ConnectParams): (message: Published) => boolean {
  return (m) =>
    m.type === '@xstate.event' &&
    m.event?.type === 'auth.passed' &&
    (m.event.session as { client?: { instanceId?: string } }).client?.instanceId === params.client.instanceId;
}

const FAKE_MARKER = 'injected-by-a-watcher';
const fakeEvent = JSON.stringify({ type: '@xstate.event', _version: '0.7.2', sessionId: 'x:0', event: { type: FAKE_MARKER } });

let inspector: Inspector;
let gw: TestGateway;
let pageOrigins: string[];

beforeAll(async () => {
  inspector = await startInspector({ port: 0 });
  pageOrigins = [`http://127.0.0.1:${inspector.port}`, `http://localhost:${inspector.port}`];
  gw = await startTestGateway({ inspect: inspector.inspect });
});

afterAll(async () => {
  await gw?.close();
  await inspector?.stop();
});

describe('the inspection relay', () => {
  it('is bound to 127.0.0.1 only, on the port the system picked for port 0', () => {
    expect(inspector.port).toBeGreaterThan(0);
    expect(inspector.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: inspector.port });
    expect(inspector.pageUrl).toBe(`http://127.0.0.1:${inspector.port}`);
    expect(inspector.url).toBe(`ws://127.0.0.1:${inspector.port}/`);
  });

  const external = nonLoopbackIPv4();
  it.skipIf(external === undefined)(
    `is not reachable on this machine's non-loopback IPv4 address ${external ?? '(skipped: this machine has none; the bound address is checked above)'}`,
    async () => {
      expect(await tcpAccepts('127.0.0.1', inspector.port)).toBe(true);
      expect(await tcpAccepts(external!, inspector.port)).toBe(false);
    },
  );

  it('serves the bridge page on 127.0.0.1: it embeds the Stately inspector and subscribes back over its own origin', async () => {
    const page = await get(`${inspector.pageUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<iframe id="inspector" title="Stately inspector" src="https://stately.ai/inspect"></iframe>');
    // Buffers until the inspector says it is ready, then posts the parsed events to its origin only.
    expect(page.body).toContain('"@statelyai.connected"');
    expect(page.body).toContain('JSON.parse(message.data)');
    expect(page.body).toContain("new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + \"/\")");
    expect(page.body).not.toContain('/publish/');

    const csp = String(page.headers['content-security-policy']);
    const script = /<script>([\s\S]*?)<\/script>/.exec(page.body)![1]!;
    expect(csp).toContain(`script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(csp).toContain('frame-src https://stately.ai https://*.stately.ai');
    expect(csp).toContain(`connect-src ws://127.0.0.1:${inspector.port} ws://localhost:${inspector.port}`);
    expect(csp).toContain("frame-ancestors 'none'");

    expect((await get(`${inspector.pageUrl}/`, `localhost:${inspector.port}`)).status).toBe(200);
    // A DNS-rebinding page (evil.example resolving to 127.0.0.1) does not even get the page.
    expect((await get(`${inspector.pageUrl}/`, `evil.example:${inspector.port}`)).status).toBe(403);
    expect((await get(`${inspector.pageUrl}/other`)).status).toBe(404);
  });

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
    // The supervisor never holds the token, only its hash (which grants nothing).
    expect(approved.event!.device).toMatchObject({ deviceId: params.device.id, tokenHash: hashDeviceToken(deviceToken!) });

    expect(watcher.raw.filter((text) => text.includes(TEST_TOKEN))).toEqual([]);
    expect(watcher.raw.filter((text) => text.includes(deviceToken!))).toEqual([]);
    expect(watcher.raw.filter((text) => text.includes(params.device!.signature))).toEqual([]);
    for (const message of watcher.messages) expect(message._version).toBe('0.7.2');

    await client.close();
    await signed.close();
    watcher.close();
  });

  it('sends the events to a watcher without Origin or from its own page, first replaying what it kept', async () => {
    for (const origin of [undefined, ...pageOrigins]) {
      const late = await Watcher.open(inspector.url, origin);
      await late.until((m) => m.type === '@xstate.actor' && m.name === 'supervisor', `replayed supervisor actor (Origin ${origin})`, 5_000);
      const { client, params } = await connectClient(gw.url, TEST_TOKEN);
      await late.until(authPassedOf(params), `live auth.passed (Origin ${origin})`, 5_000);
      await client.close();
      late.close();
    }
  });

  it('refuses a watcher from any other origin with 403 before the upgrade', async () => {
    const port = inspector.port;
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`, `http://localhost.evil.example:${port}`]) {
      const refused = await refusal(inspector.url, { origin });
      expect(refused, origin).toEqual({ status: 403, body: 'forbidden: foreign Origin\n' });
    }
    expect((await refusal(inspector.url, { headers: { host: `evil.example:${port}` } })).status).toBe(403);
  });

  it('refuses the publisher path without the secret, and any other path, with 403', async () => {
    const base = `ws://127.0.0.1:${inspector.port}`;
    for (const path of ['/publish/wrong-secret', '/publish/', '/publish', '/other']) {
      expect((await refusal(`${base}${path}`)).status, path).toBe(403);
    }
  });

  it('keeps watchers read-only: what one sends reaches no one and closes it', async () => {
    const sender = await Watcher.open(inspector.url, pageOrigins[0]);
    const bystander = await Watcher.open(inspector.url);
    sender.ws.send(fakeEvent);
    expect(await sender.closed).toEqual({ code: 1008, reason: 'watchers are read-only' });

    // The gateway's next events reach the bystander after anything the relay could have forwarded before them.
    const { client, params } = await connectClient(gw.url, TEST_TOKEN);
    await bystander.until(authPassedOf(params), 'live auth.passed');
    await client.close();
    expect(bystander.raw.filter((text) => text.includes(FAKE_MARKER))).toEqual([]);

    const late = await Watcher.open(inspector.url);
    await late.until(authPassedOf(params), 'replayed auth.passed');
    expect(late.raw.filter((text) => text.includes(FAKE_MARKER))).toEqual([]);
    late.close();
    bystander.close();
  });

  it('refuses a port in use with a ConfigError instead of an uncaught EADDRINUSE', async () => {
    const taken = await listenOnLoopback();
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

describe('the relay and its publisher', () => {
  let relay: InspectRelay;
  beforeAll(async () => {
    relay = await startInspectRelay({ port: 0 });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it('takes the publisher on the secret path only, never from a browser, and forwards its text messages', async () => {
    expect(relay.publishUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${relay.port}/publish/[A-Za-z0-9_-]{43}$`));
    // The secret alone is not enough when the handshake comes from a page (any Origin, the relay's own included).
    expect((await refusal(relay.publishUrl, { origin: relay.pageUrl })).status).toBe(403);

    const watcher = await Watcher.open(relay.watchUrl, relay.pageUrl);
    const publisher = new WebSocket(relay.publishUrl);
    await new Promise((resolve, reject) => {
      publisher.once('open', resolve);
      publisher.once('error', reject);
    });
    await relay.waitForPublisher(100);
    publisher.send(Buffer.from('binary is ignored'), { binary: true });
    for (let i = 0; i < 205; i++) publisher.send(JSON.stringify({ type: '@xstate.event', sessionId: 'p', n: i }));
    await watcher.until((m) => m.n === 204, 'the last published message');
    expect(watcher.messages.map((m) => m.n)).toEqual([...Array(205).keys()]);

    const late = await Watcher.open(relay.watchUrl);
    await late.until((m) => m.n === 204, 'the replay');
    expect(late.messages.map((m) => m.n)).toEqual([...Array(200).keys()].map((i) => i + 5));

    late.close();
    publisher.close();
    const closed = watcher.closed;
    await relay.stop();
    expect(await closed).toEqual({ code: 1001, reason: 'relay stopping' });
    expect(await tcpAccepts('127.0.0.1', relay.port)).toBe(false);
  });
});

describe('actorgate start --inspect', () => {
  it('starts the relay on 127.0.0.1 before the gateway, says what to open, publishes the handshake, and stops on SIGTERM', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'actorgate-inspect-'));
    const bin = new URL('../../bin/actorgate.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, 'start', '--port', '0', '--token', 'cli-secret-token', '--state-dir', stateDir], {
      env: { ...process.env, ACTORGATE_INSPECT: '1', ACTORGATE_INSPECT_PORT: '0' },
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
      const listening = JSON.parse(stdout.split('\n').find((text) => text.includes('"inspect.listening"'))!) as { host: string; port: number; page: string };
      expect(stdout.indexOf('"inspect.listening"')).toBeLessThan(stdout.indexOf('"gateway.listening"'));
      const port = listening.port;
      expect(listening).toMatchObject({ host: '127.0.0.1', page: `http://127.0.0.1:${port}` });
      expect(port).toBeGreaterThan(0);
      // stderr is its own pipe: its line may arrive after stdout's.
      for (let waited = 0; !stderr.includes('in a browser') && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(stderr).toContain(`open http://127.0.0.1:${port} in a browser`);
      // The publisher's secret is never written out.
      expect(`${stdout}${stderr}`).not.toContain('/publish/');

      const page = await fetch(`http://127.0.0.1:${port}/`).then((response) => response.text());
      expect(page).toContain('src="https://stately.ai/inspect"');

      const watcher = await Watcher.open(`ws://127.0.0.1:${port}/`, `http://127.0.0.1:${port}`);
      const { client } = await connectClient(`ws://127.0.0.1:${gatewayPort}`, 'cli-secret-token');
      await watcher.until((m) => m.type === '@xstate.event' && m.event?.type === 'auth.passed', 'auth.passed event');
      expect(watcher.raw.filter((text) => text.includes('cli-secret-token'))).toEqual([]);
      expect((await refusal(`ws://127.0.0.1:${port}/`, { origin: 'https://evil.example' })).status).toBe(403);
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
