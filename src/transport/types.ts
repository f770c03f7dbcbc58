// The seam between the gateway and whatever carries its WebSockets. Today `ws` on `node:http`
// (ws-transport.ts); another runtime's server (Bun.serve's native WebSocket, say) can implement the same
// interfaces, and nothing above this folder changes.

/** A socket as the gateway uses it: a `ws` WebSocket is one (browsers' WebSocket API, server side). */
export interface TransportSocket {
  readonly bufferedAmount: number;
  /** 1 (OPEN) while frames may be written. */
  readonly readyState: number;
  /** Buffers are sent as text frames too (`binary: false`): a broadcast is encoded once for many sockets. */
  send(data: string | Buffer, options: { binary: boolean }): void;
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a close handshake (the peer sees 1006). */
  terminate(): void;
  ping(): void;
}

/**
 * Where whole WebSocket frames can be written as they are (the TCP socket under a WebSocket): a frame may be
 * written in parts between `cork()` and `uncork()`, which go out as one vectored write; `done` is called once
 * that part has left the process's buffers (with an error when the socket was destroyed first).
 */
export interface FrameSink {
  write(part: Buffer, done?: (error?: Error | null) => void): unknown;
  cork(): void;
  uncork(): void;
}

/** What the gateway keeps of an upgrade request: nothing that lives as long as the socket keeps the request alive. */
export interface UpgradeInfo {
  /** The client's address (from X-Forwarded-For when the peer is a trusted proxy). */
  remoteAddr: string;
  /** The TCP peer's own address. */
  peerAddr: string | undefined;
  userAgent: string | undefined;
  /** The browser Origin header, when the upgrade had one. */
  origin: string | undefined;
  /** The Host header: what the client addressed the gateway as. */
  host: string | undefined;
}

/** A fault of a socket, as the transport saw it. */
export interface SocketFault {
  message: string;
  /** The close code the peer sees: a protocol error the transport failed the socket with, 1006 for a reset. */
  code?: number;
  /** A frame above the payload limit in force (the transport closed the socket 1009). */
  tooLarge?: boolean;
}

/**
 * What the gateway does with the sockets a transport accepts. `opened` returns the gateway's record of
 * a socket (`C`), which the transport hands back with each of that socket's events.
 */
export interface SocketHandlers<C> {
  opened(socket: TransportSocket, info: UpgradeInfo): C;
  /** A text frame's UTF-8 bytes (ws has checked they are UTF-8). */
  text(connection: C, data: Buffer): void;
  binary(connection: C): void;
  pong(connection: C): void;
  fault(connection: C, fault: SocketFault): void;
  closed(connection: C, code: number, reason: string): void;
  /** The TCP socket failed before the upgrade completed (a reset during the HTTP exchange). */
  upgradeFailed(error: Error): void;
}

/** An HTTP answer with a JSON body. */
export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** A plain HTTP route of the gateway's port (health checks): declared once, served by the transport. */
export interface HttpRoute {
  method: 'GET';
  path: string;
  answer(): HttpAnswer;
}

/** Whether an upgrade may go ahead; a refusal is answered HTTP 503 before any WebSocket exists. */
export interface UpgradeGate {
  /** Takes a slot for the upgrade (counted against its address and the global cap), or refuses it. */
  admit(remoteAddr: string): boolean;
  /** The upgrade became a socket, which holds the address's slot from now on. */
  upgraded(): void;
  /** The upgrade failed or its peer went before it completed: both slots are given back. */
  abandoned(remoteAddr: string): void;
}

export interface TransportOptions<C> {
  host: string;
  port: number;
  /** Requests and upgrades that take longer than this (their headers, or nothing at all) are cut off. */
  idleTimeoutMs: number;
  /** Raw TCP connections open at once; past it new ones are closed at once (0: no cap). */
  maxRawConnections: number;
  /** The largest frame a socket may send until `raisePayloadLimit` says otherwise. */
  initialMaxPayload: number;
  /** Reverse proxies whose X-Forwarded-For names the client. */
  trustedProxies: readonly string[];
  routes: readonly HttpRoute[];
  gate: UpgradeGate;
  handlers: SocketHandlers<C>;
  /** A raw TCP connection was dropped past the cap. */
  onDrop(remoteAddr: string | undefined): void;
}

export interface Transport {
  /** Listens; resolves with the port bound (the one the system picked for port 0). */
  listen(): Promise<number>;
  /** Closes every connection left (HTTP keep-alives included) and the listening socket. */
  close(): Promise<void>;
  /** Lets a socket send frames up to `bytes` from now on (the limit after the handshake). */
  raisePayloadLimit(socket: TransportSocket, bytes: number): void;
  /** Calls back once when the socket's write buffer has drained; false when no drain is coming. */
  onceDrained(socket: TransportSocket, callback: () => void): boolean;
  /** Where whole frames built once for many sockets may be written for this socket, when the transport allows it. */
  frameWriter(socket: TransportSocket): FrameSink | undefined;
}
