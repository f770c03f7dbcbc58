// The client's public types: its options, its notices and the API it returns. Portable: no Node imports.
import type { Observable } from 'rxjs';
import type { Actor, SnapshotFrom } from 'xstate';
import type { BackoffPolicy, ClientEmitted, StopReason, clientMachine } from '../../machines/client.js';
import type { ClientInfo, ConnectAuth, ErrorShape, Role } from '../../machines/protocol.js';
import type { DeviceIdentity } from './identity.js';
import type { GatewayMethod, ParamsOf, ResultOf } from './methods.js';
import type { WebSocketConstructor } from './socket.js';

export interface GatewayClientOptions {
  url: string;
  /** The WebSocket constructor; the global `WebSocket` when absent (browsers, Deno, Bun, Node 22+). */
  WebSocket?: WebSocketConstructor;
  auth?: ConnectAuth;
  /** Signs a v3 device proof with every connect. */
  device?: DeviceIdentity;
  /** Merged over the defaults: id `gateway-client`, mode `backend`, platform `js`. */
  client?: Partial<ClientInfo>;
  role?: Role;
  scopes?: string[];
  caps?: string[];
  commands?: string[];
  minProtocol?: number;
  maxProtocol?: number;
  backoff?: BackoffPolicy;
  handshakeTimeoutMs?: number;
  defaultTickIntervalMs?: number;
  /** Dials without a hello-ok before giving up; 1: connect once and never retry. No limit when absent. */
  maxAttempts?: number;
  /** Uniform draws from [0, 1) for the backoff's jitter (Math.random). */
  random?: () => number;
  /** A monotonic clock in ms for the `at` of notices (performance.now). */
  now?: () => number;
  /** Wall clock for device signatures (Date.now). */
  wallClock?: () => number;
}

/** Where the connection is, in one word. */
export type ConnectionStatus =
  | 'connecting'
  | 'awaiting-challenge'
  | 'handshaking'
  | 'connected'
  | 'backing-off'
  | 'awaiting-credentials'
  | 'stopped';

export type HelloOk = Record<string, unknown> & { protocol: number; policy?: { tickIntervalMs?: number } };

/** What the client reports (the machine's lifecycle), and the gateway's events, each stamped with `at`. */
export type ClientNotice =
  | (ClientEmitted & { at: number })
  | { type: 'gateway.event'; event: string; payload?: unknown; seq?: number; at: number }
  /** What the socket said went wrong, when it says (`ws` does: `connect ECONNREFUSED ...`; browsers do not). */
  | { type: 'socket.error'; message: string; at: number };

export interface StopInfo {
  reason: StopReason;
  code?: number;
  closeReason?: string;
  error?: ErrorShape;
}

export interface RequestOptions {
  /** Reject with `TIMEOUT` when no answer came within this time (the connection stays up). */
  timeoutMs?: number;
}

export type ClientActor = Actor<typeof clientMachine>;

export interface GatewayClient {
  readonly actor: ClientActor;
  /** Snapshots of the client machine, the current one first. */
  readonly state$: Observable<SnapshotFrom<typeof clientMachine>>;
  /** The connection status, the current one first, each change once. */
  readonly status$: Observable<ConnectionStatus>;
  readonly events$: Observable<ClientNotice>;
  /** The last hello-ok payload, as the gateway sent it. */
  readonly hello: HelloOk | undefined;
  /** Resolves once the client has stopped for good (its own close, or a close retrying cannot fix). */
  readonly stopped: Promise<StopInfo>;
  /** The hello-ok of the current connection, or of the next one; rejects (`STOPPED`) if the client stops first. */
  whenConnected(): Promise<HelloOk>;
  /**
   * Credentials for the next dials. After a 4001 (status `awaiting-credentials`, notice
   * `credentials.required`) the client waits for this before it dials again.
   */
  updateCredentials(credentials: { auth?: ConnectAuth; device?: DeviceIdentity }): void;
  request<M extends GatewayMethod>(method: M, params?: ParamsOf<M>, options?: RequestOptions): Promise<ResultOf<M>>;
  request(method: string, params?: unknown, options?: RequestOptions): Promise<unknown>;
  close(): Promise<StopInfo>;
}
