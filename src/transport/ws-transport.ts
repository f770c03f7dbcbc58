// The gateway's transport on Node: a `node:http` server whose upgrades become `ws` WebSockets. It serves
// the declared HTTP routes, bounds what a client may hold before it is a WebSocket (idle and header
// timeouts, a cap on raw TCP connections, the upgrade gate), and turns each socket's events into calls
// of the gateway's handlers. Every socket shares one set of listeners: per socket only a tag.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CloseCode } from '../../machines/protocol.js';
import { TrustedProxies, clientAddress, sanitizeHeaderValue } from './network.js';
import type { FrameSink, HttpRoute, SocketHandlers, Transport, TransportOptions, TransportSocket, UpgradeInfo } from './types.js';
import { WS_ERROR_CLOSE_CODES, WS_FRAME_TOO_LARGE, onceSocketDrained, raisePayloadLimit, rawSocketOf } from './ws-internals.js';

/** A socket carries the gateway's record of it, so that every socket shares one set of listeners. */
const RECORD = Symbol('record');
type Tagged<C> = { [RECORD]?: C };

/** Refuses an upgrade before the WebSocket handshake, as a plain HTTP answer. */
function refuseUpgrade(socket: Duplex): void {
  socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

function answerRoute(routes: readonly HttpRoute[], request: IncomingMessage, response: ServerResponse): void {
  const route = routes.find((candidate) => candidate.method === request.method && candidate.path === request.url);
  const { status, body } = route ? route.answer() : { status: 404, body: { ok: false, error: 'not found' } };
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** The listeners every WebSocket shares (`this` is the socket), calling the gateway's handlers with its record. */
function socketListeners<C>(handlers: SocketHandlers<C>) {
  const recordOf = (ws: WebSocket) => (ws as WebSocket & Tagged<C>)[RECORD] as C;
  return {
    message(this: WebSocket, data: RawData, isBinary: boolean) {
      if (isBinary) handlers.binary(recordOf(this));
      // The frame's bytes as they came: the gateway scans them before it makes them a string (src/protocol/frame-scan.ts).
      else handlers.text(recordOf(this), Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]));
    },
    pong(this: WebSocket) {
      handlers.pong(recordOf(this));
    },
    error(this: WebSocket, error: Error & { code?: string }) {
      if (error.code === WS_FRAME_TOO_LARGE) {
        handlers.fault(recordOf(this), { message: error.message, tooLarge: true });
        return;
      }
      // ws fails the socket itself on a protocol error, with its RFC 6455 code and no reason.
      const code = error.code === undefined ? undefined : WS_ERROR_CLOSE_CODES[error.code];
      handlers.fault(recordOf(this), code === undefined ? { message: error.message } : { message: error.message, code });
    },
    close(this: WebSocket, code: number, reason: Buffer) {
      handlers.closed(recordOf(this), code, reason.toString());
    },
  };
}

/**
 * Errors of the TCP socket itself (a reset, a broken pipe). ws does not report them: once the socket is a
 * WebSocket they end it as a fault the peer saw as 1006, before that they are the upgrade's.
 */
function rawSocketErrors<C>(handlers: SocketHandlers<C>) {
  return function onRawSocketError(this: Duplex & Tagged<C>, error: Error) {
    const record = this[RECORD];
    if (record === undefined) handlers.upgradeFailed(error);
    else handlers.fault(record, { message: error.message, code: CloseCode.abnormalClosure });
  };
}

/** The server's own limits on what a client may hold before it is a WebSocket. */
function httpServer<C>(options: TransportOptions<C>): Server {
  const { idleTimeoutMs, routes } = options;
  // A client that sends its upgrade request's headers slowly (or nothing at all) is cut off after the
  // timeout, as one that is slow after the upgrade is; the check runs every second.
  const limits = { headersTimeout: idleTimeoutMs, requestTimeout: idleTimeoutMs, connectionsCheckingInterval: Math.min(1_000, idleTimeoutMs) };
  const server = createServer(limits, (request, response) => answerRoute(routes, request, response));
  // A connection that sends nothing at all is dropped once idle that long (ws clears it on upgrade).
  server.setTimeout(idleTimeoutMs);
  // And there are at most so many of them, WebSockets included.
  if (options.maxRawConnections > 0) server.maxConnections = options.maxRawConnections;
  server.on('drop', (dropped?: { remoteAddress?: string }) => options.onDrop(dropped?.remoteAddress));
  return server;
}

export function createWsTransport<C>(options: TransportOptions<C>): Transport {
  const { gate, handlers } = options;
  const trustedProxies = new TrustedProxies(options.trustedProxies);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.initialMaxPayload, clientTracking: false });
  const server = httpServer(options);
  const listeners = socketListeners(handlers);
  const onRawSocketError = rawSocketErrors(handlers);

  const accept = (ws: WebSocket, socket: Duplex & Tagged<C>, info: UpgradeInfo) => {
    const record = handlers.opened(ws, info);
    (ws as WebSocket & Tagged<C>)[RECORD] = record;
    socket[RECORD] = record;
    ws.on('message', listeners.message);
    ws.on('pong', listeners.pong);
    ws.on('error', listeners.error);
    ws.on('close', listeners.close);
  };

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', onRawSocketError);
    const peerAddr = request.socket.remoteAddress;
    const remoteAddr = clientAddress(peerAddr ?? 'unknown', request.headers['x-forwarded-for'], trustedProxies);
    if (!gate.admit(remoteAddr)) {
      refuseUpgrade(socket);
      return;
    }
    // What the connection needs of the request, read now: nothing that lives as long as the socket
    // (its close listener, the upgrade callback) keeps the IncomingMessage alive. Header values are kept
    // and logged without control or format characters, and capped.
    const info: UpgradeInfo = {
      remoteAddr,
      peerAddr,
      userAgent: sanitizeHeaderValue(request.headers['user-agent']),
      origin: sanitizeHeaderValue(request.headers.origin),
      host: sanitizeHeaderValue(request.headers.host),
    };
    const handOver = holdUpgradeSlot(socket, remoteAddr);
    // The 101 answer and the challenge (written as the connection starts, within the upgrade's callback)
    // leave in one write: one packet and one wake-up of the client instead of two.
    socket.cork();
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (handOver()) accept(ws, socket, info);
    });
    socket.uncork();
  });

  /**
   * The gate's slot is handed to the socket once ws completes the upgrade (`handOver()` says true once),
   * given back if the peer goes before that (a bad upgrade request, a peer that hangs up).
   */
  function holdUpgradeSlot(socket: Duplex, remoteAddr: string): () => boolean {
    let handedOver = false;
    socket.once('close', () => {
      if (handedOver) return;
      handedOver = true;
      gate.abandoned(remoteAddr);
    });
    return () => {
      if (handedOver) return false;
      handedOver = true;
      gate.upgraded();
      return true;
    };
  }

  return {
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : options.port);
        });
      }),
    close: async () => {
      server.closeAllConnections();
      if (!server.listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    raisePayloadLimit: (socket: TransportSocket, bytes: number) => raisePayloadLimit(socket as WebSocket, bytes),
    onceDrained: (socket: TransportSocket, callback: () => void) => onceSocketDrained(socket as WebSocket, callback),
    frameWriter: (socket: TransportSocket): FrameSink | undefined => rawSocketOf(socket as WebSocket),
  };
}
