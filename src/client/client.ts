// The gateway client: the client machine, run over a WebSocket. Portable: no Node imports; the
// WebSocket constructor is the platform's global one unless injected (Node's entry injects `ws`).
import { Observable, concat, defer, distinctUntilChanged, from, map, of } from 'rxjs';
import type { Actor, SnapshotFrom } from 'xstate';
import { clientMachine, type BackoffPolicy, type ClientEmitted, type StopReason } from '../../machines/client.js';
import type { ClientInfo, ConnectAuth, ErrorShape, Role } from '../../machines/protocol.js';
import type { DeviceIdentity } from './identity.js';
import type { GatewayMethod, ParamsOf, ResultOf } from './methods.js';
import { GatewayRequestError } from './requests.js';
import { ClientSession } from './session.js';
import type { WebSocketConstructor } from './socket.js';

export { CLIENT_VERSION } from './version.js';
export { GatewayRequestError };

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

export function statusOf(snapshot: SnapshotFrom<typeof clientMachine>): ConnectionStatus {
  if (snapshot.status !== 'active') return 'stopped';
  if (snapshot.matches('backingOff')) return 'backing-off';
  if (snapshot.matches('awaitingCredentials')) return 'awaiting-credentials';
  if (snapshot.matches({ online: 'connected' })) return 'connected';
  if (snapshot.matches({ online: { handshake: 'handshaking' } })) return 'handshaking';
  if (snapshot.matches({ online: { handshake: 'awaitingChallenge' } })) return 'awaiting-challenge';
  return 'connecting';
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const session = new ClientSession(options, webSocketOf(options));
  const client = clientApi(session);
  // Started on the next microtask, so that whoever created the client has subscribed to everything
  // from the first dial on; events sent before (a request, close()) wait in the actor's mailbox.
  queueMicrotask(() => session.actor.start());
  return client;
}

function webSocketOf(options: GatewayClientOptions): WebSocketConstructor {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketImpl) throw new Error('no WebSocket here: pass options.WebSocket (on Node 20, use actorgate/client, which injects ws)');
  return WebSocketImpl;
}

/** The client handed out: the session's state as observables, and its operations. */
function clientApi(session: ClientSession): GatewayClient {
  const { actor } = session;
  const state$ = defer(() => concat(of(actor.getSnapshot()), from(actor)));
  return {
    actor,
    state$,
    status$: state$.pipe(map(statusOf), distinctUntilChanged()),
    events$: session.notices.asObservable(),
    get hello() {
      return session.hello;
    },
    stopped: session.stopped,
    updateCredentials(credentials) {
      session.updateCredentials(credentials);
    },
    whenConnected() {
      return whenConnected(session);
    },
    request(method: string, params?: unknown, requestOptions: RequestOptions = {}): Promise<never> {
      return session.request(method, params, requestOptions) as Promise<never>;
    },
    close() {
      return session.close();
    },
  };
}

/** The hello-ok of the current connection, or of the next one; rejects (`STOPPED`) if the client stops first. */
function whenConnected(session: ClientSession): Promise<HelloOk> {
  if (session.hello && statusOf(session.actor.getSnapshot()) === 'connected') return Promise.resolve(session.hello);
  return new Promise((resolve, reject) => {
    const gaveUp = () => reject(new GatewayRequestError('STOPPED', 'the client stopped before connecting'));
    const subscription = session.notices.subscribe({
      next: (notice) => {
        if (notice.type === 'connected' && session.hello) resolve(session.hello);
        else if (notice.type === 'stopped') gaveUp();
        else return;
        subscription.unsubscribe();
      },
      complete: gaveUp,
    });
  });
}
