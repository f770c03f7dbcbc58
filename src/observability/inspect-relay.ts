// The relay behind `actorgate start --inspect`: one HTTP + WebSocket server on 127.0.0.1 between the gateway's
// inspection publisher and the browser tabs that watch it.
//
// - GET / answers a bridge page that embeds the Stately inspector (https://stately.ai/inspect) in an iframe,
//   opens a WebSocket back to this relay (same origin, so any port works, 0 included) and hands every event it
//   receives, parsed, to the iframe with postMessage, once the iframe has announced itself with
//   `{ type: '@statelyai.connected' }` (what the inspector posts to its parent when it is ready to receive).
// - A WebSocket upgrade is accepted from two kinds of clients only, everything else gets 403 before the upgrade:
//   - the publisher, on /publish/<secret>, where the secret is random per process and never leaves it (the
//     gateway's createWebSocketInspector); it sends no Origin, as no browser can;
//   - watchers, on /, whose Origin is absent (local tools) or exactly this relay's page origin
//     (http://127.0.0.1:<port> or http://localhost:<port>). Browsers send an Origin with every WebSocket
//     handshake, so another web page open in the same browser cannot subscribe.
//   Every request must also name this relay in its Host header (127.0.0.1:<port> or localhost:<port>), which
//   keeps DNS-rebinding pages out even of the bridge page.
// - Text messages of the publisher are forwarded to every open watcher and the last 200 kept, to be replayed to
//   a watcher that connects later. Watchers are read-only: one that sends anything is closed (1008).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** The relay listens on this address only. */
export const RELAY_HOST = '127.0.0.1';
export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';
/** Publisher messages kept for watchers that connect later. */
export const REPLAY_LIMIT = 200;
/** What the inspector iframe posts to its parent once it listens for events. */
export const INSPECTOR_CONNECTED = '@statelyai.connected';

const PUBLISH_PREFIX = '/publish/';
const WATCH_PATH = '/';
/** Events the bridge page keeps, to hand them all to an inspector that (re)connects. */
const PAGE_HISTORY_LIMIT = 10_000;
/** A watcher has nothing to say; anything longer than this closes it even before it is read. */
const WATCHER_MAX_PAYLOAD = 1_024;
const PUBLISHER_MAX_PAYLOAD = 16 * 1024 * 1024;
/** A watcher that lets this much pile up unsent (a stalled tab) is dropped instead of growing our memory. */
const WATCHER_MAX_BUFFERED = 16 * 1024 * 1024;
/** How long stop() lets watchers answer the close handshake before cutting their sockets. */
const CLOSE_GRACE_MS = 500;

export interface InspectRelayOptions {
  /** TCP port on 127.0.0.1; 0 lets the system pick one (see InspectRelay.port). */
  port: number;
  /** Page the bridge embeds; the Stately inspector unless a test points it elsewhere. */
  inspectorUrl?: string;
}

export interface InspectRelay {
  /** The bound port. */
  readonly port: number;
  /** The bridge page, for a browser on this machine. */
  readonly pageUrl: string;
  /** Where watchers subscribe (read-only). */
  readonly watchUrl: string;
  /** Where the gateway publishes; holds the secret, so it is not to be logged or shown. */
  readonly publishUrl: string;
  /** The server's bound address, as node:net reports it. */
  address(): AddressInfo;
  /** Resolves once a publisher has connected. */
  waitForPublisher(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1:port; rejects with the listen error (EADDRINUSE, EACCES, ...) as Node reports it. */
export async function startInspectRelay(options: InspectRelayOptions): Promise<InspectRelay> {
  const relay = new RelayServer(new URL(options.inspectorUrl ?? STATELY_INSPECTOR_URL));
  const port = await relay.listen(options.port);
  return relayHandle(relay, port);
}

/** What startInspectRelay hands out: the relay's URLs, and its operations. */
function relayHandle(relay: RelayServer, port: number): InspectRelay {
  return {
    port,
    pageUrl: `http://${RELAY_HOST}:${port}`,
    watchUrl: `ws://${RELAY_HOST}:${port}${WATCH_PATH}`,
    publishUrl: `ws://${RELAY_HOST}:${port}${relay.publishPath}`,
    address: () => relay.address(),
    waitForPublisher(timeoutMs) {
      return relay.waitForPublisher(timeoutMs);
    },
    stop() {
      return relay.stop();
    },
  };
}

/** The publisher's last REPLAY_LIMIT text messages, oldest first, replayed to each watcher that connects. */
class ReplayBuffer {
  private readonly messages: string[] = [];

  push(text: string): void {
    this.messages.push(text);
    if (this.messages.length > REPLAY_LIMIT) this.messages.shift();
  }

  replayTo(ws: WebSocket): void {
    for (const text of this.messages) send(ws, text);
  }
}

/** The relay's HTTP server and its two WebSocket servers, publishers and watchers, upgraded into by hand. */
class RelayServer {
  private readonly secret = randomBytes(32).toString('base64url');
  private readonly secretDigest = digest(this.secret);
  private readonly history = new ReplayBuffer();
  private readonly publishers = new WebSocketServer({ noServer: true, maxPayload: PUBLISHER_MAX_PAYLOAD });
  private readonly watchers = new WebSocketServer({ noServer: true, maxPayload: WATCHER_MAX_PAYLOAD });
  private readonly server = createServer((request: IncomingMessage, response: ServerResponse) => this.servePage(request, response));
  /** Known once the port is, as are the Hosts and Origins allowed (none until then). */
  private page: BridgePage | undefined;
  private allowedHosts = new Set<string>();
  private allowedOrigins = new Set<string>();
  private publisherSeen = false;
  private readonly publisherWaiters = new Set<() => void>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly inspectorUrl: URL) {
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    this.publishers.on('connection', (ws: WebSocket) => this.acceptPublisher(ws));
    this.watchers.on('connection', (ws: WebSocket) => this.acceptWatcher(ws));
  }

  /** Where the publisher connects: the secret path. */
  get publishPath(): string {
    return `${PUBLISH_PREFIX}${this.secret}`;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Resolves with the bound port, once the Hosts, Origins and page that depend on it are set. */
  async listen(port: number): Promise<number> {
    await listenOn(this.server, port);
    this.server.on('error', () => undefined);
    const bound = this.address().port;
    this.allowedHosts = new Set([`127.0.0.1:${bound}`, `localhost:${bound}`]);
    this.allowedOrigins = new Set([`http://127.0.0.1:${bound}`, `http://localhost:${bound}`]);
    this.page = bridgePage(this.inspectorUrl, bound);
    return bound;
  }

  waitForPublisher(timeoutMs: number): Promise<void> {
    if (this.publisherSeen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.publisherWaiters.delete(done);
        reject(new Error(`the gateway's inspection publisher did not reach the relay within ${timeoutMs} ms`));
      }, timeoutMs);
      this.publisherWaiters.add(done);
    });
  }

  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      const clients = [...this.publishers.clients, ...this.watchers.clients];
      for (const ws of clients) ws.close(1001, 'relay stopping');
      const cut = setTimeout(() => {
        for (const ws of clients) ws.terminate();
        this.server.closeAllConnections();
      }, CLOSE_GRACE_MS);
      this.publishers.close();
      this.watchers.close();
      this.server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    return this.stopping;
  }

  private knownHost(request: IncomingMessage): boolean {
    return this.allowedHosts.has((request.headers.host ?? '').toLowerCase());
  }

  /** GET / (or HEAD) answers the bridge page; anything else an error. */
  private servePage(request: IncomingMessage, response: ServerResponse): void {
    const path = pathOf(request.url);
    if (!this.knownHost(request)) {
      return plain(response, 403, 'forbidden: open the page as http://127.0.0.1:<port> or http://localhost:<port>\n');
    }
    if (path !== WATCH_PATH) return plain(response, 404, 'not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return plain(response, 405, 'method not allowed\n');
    }
    const page = this.page!;
    response.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(page.html),
      'Content-Security-Policy': page.csp,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
    });
    response.end(request.method === 'HEAD' ? undefined : page.html);
  }

  /** Hands an upgrade to the publishers or the watchers, or refuses it with 403 before upgrading. */
  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = pathOf(request.url);
    const origin = request.headers.origin;
    if (!this.knownHost(request)) return refuse(socket, 'unknown Host');
    if (path.startsWith(PUBLISH_PREFIX)) {
      // Only this process knows the secret; a browser, which always sends an Origin, is never the publisher.
      if (origin !== undefined || !sameDigest(digest(path.slice(PUBLISH_PREFIX.length)), this.secretDigest)) {
        return refuse(socket, 'not the publisher');
      }
      this.publishers.handleUpgrade(request, socket, head, (ws) => this.publishers.emit('connection', ws, request));
      return;
    }
    if (path !== WATCH_PATH) return refuse(socket, 'unknown path');
    if (origin !== undefined && !this.allowedOrigins.has(origin)) return refuse(socket, 'foreign Origin');
    this.watchers.handleUpgrade(request, socket, head, (ws) => this.watchers.emit('connection', ws, request));
  }

  private acceptPublisher(ws: WebSocket): void {
    this.publisherSeen = true;
    for (const resolve of this.publisherWaiters) resolve();
    this.publisherWaiters.clear();
    ws.on('error', () => ws.terminate());
    ws.on('message', (data: RawData, isBinary: boolean) => this.publish(data, isBinary));
  }

  /** Keeps a text message of the publisher for later watchers and forwards it to every open one. */
  private publish(data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    const text = textOf(data);
    this.history.push(text);
    for (const watcher of this.watchers.clients) send(watcher, text);
  }

  private acceptWatcher(ws: WebSocket): void {
    ws.on('error', () => ws.terminate());
    ws.on('message', () => ws.close(1008, 'watchers are read-only'));
    this.history.replayTo(ws);
  }
}

/** Listens on RELAY_HOST:port; rejects with the listen error. */
function listenOn(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({ host: RELAY_HOST, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function send(ws: WebSocket, text: string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount > WATCHER_MAX_BUFFERED) {
    ws.terminate();
    return;
  }
  ws.send(text);
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function pathOf(url: string | undefined): string {
  const text = url ?? '/';
  const end = text.search(/[?#]/);
  return end === -1 ? text : text.slice(0, end);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function plain(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

/** Answers a refused upgrade with a plain HTTP 403 and closes the socket; nothing is upgraded. */
function refuse(socket: Duplex, reason: string): void {
  const body = `forbidden: ${reason}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

interface BridgePage {
  html: string;
  csp: string;
}

/** JSON for inside a <script>: no `<`, so no `</script>` can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('<', '\\u003c');
}

function htmlAttribute(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The bridge page. Its script talks to the iframe only when the iframe's own document has announced itself
 * from the inspector's origin (or a subdomain of it, should the inspector redirect there), and posts events to
 * that origin only. Its CSP allows that one inline script and style, frames from the inspector's origin and
 * WebSockets to this relay, nothing else; the page itself cannot be framed.
 */
function bridgePage(inspectorUrl: URL, port: number): BridgePage {
  const { protocol, host, origin } = inspectorUrl;
  const style = 'html,body{margin:0;height:100%}iframe{display:block;width:100%;height:100%;border:0}';
  const script = `
'use strict';
(() => {
  const inspectorOrigin = ${scriptJson(origin)};
  const inspectorScheme = ${scriptJson(`${protocol}//`)};
  const inspectorHostSuffix = ${scriptJson(`.${host}`)};
  const historyLimit = ${PAGE_HISTORY_LIMIT};
  const frame = document.getElementById('inspector');
  const history = [];
  let target = null;
  const fromInspector = (origin) =>
    origin === inspectorOrigin || (origin.startsWith(inspectorScheme) && origin.endsWith(inspectorHostSuffix));
  const post = (event) => frame.contentWindow && frame.contentWindow.postMessage(event, target);
  window.addEventListener('message', (message) => {
    if (message.source !== frame.contentWindow || !fromInspector(message.origin)) return;
    if (!message.data || message.data.type !== ${scriptJson(INSPECTOR_CONNECTED)}) return;
    target = message.origin;
    history.forEach(post);
  });
  const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${scriptJson(WATCH_PATH)});
  socket.addEventListener('message', (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    history.push(event);
    if (history.length > historyLimit) history.shift();
    if (target) post(event);
  });
  socket.addEventListener('close', () => {
    document.title = 'actorgate inspector (relay closed)';
  });
})();
`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>actorgate inspector</title>
<style>${style}</style>
</head>
<body>
<iframe id="inspector" title="Stately inspector" src="${htmlAttribute(inspectorUrl.href)}"></iframe>
<script>${script}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${cspHash(script)}`,
    `style-src ${cspHash(style)}`,
    `frame-src ${origin} ${protocol}//*.${host}`,
    `connect-src ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
