// The gateway client: the client machine, run over a WebSocket. Portable: no Node imports; the
// WebSocket constructor is the platform's global one unless injected (Node's entry injects `ws`).
import { Observable, Subject, concat, defer, distinctUntilChanged, from, map, of } from 'rxjs';
import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import {
  clientMachine,
  type BackoffPolicy,
  type ClientEmitted,
  type HelloSummary,
  type RequestFailure,
  type StopReason,
} from '../../machines/client.js';
import type { ClientInfo, ConnectAuth, ConnectParams, ErrorShape, Role } from '../../machines/protocol.js';
import { signDeviceProof, type DeviceIdentity } from './identity.js';
import type { GatewayMethod, ParamsOf, ResultOf } from './methods.js';
import { messageText, type WebSocketConstructor, type WebSocketLike } from './socket.js';

export const CLIENT_VERSION = '0.1.0';

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

export class GatewayRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly error?: ErrorShape,
  ) {
    super(message);
    this.name = 'GatewayRequestError';
  }
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

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

type Frame = { type?: unknown; id?: unknown; event?: unknown; payload?: unknown; ok?: unknown; error?: unknown; seq?: unknown };

const defaultNow = () => (globalThis.performance ? globalThis.performance.now() : Date.now());

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketImpl) throw new Error('no WebSocket here: pass options.WebSocket (on Node 20, use actorgate/client, which injects ws)');
  const now = options.now ?? defaultNow;
  const wallClock = options.wallClock ?? Date.now;
  const notices = new Subject<ClientNotice>();
  const pending = new Map<string, Pending>();
  let socket: WebSocketLike | undefined;
  let connectId: string | undefined;
  let hello: HelloOk | undefined;
  let nextRequest = 1;
  let auth = options.auth;
  let device = options.device;

  const baseParams = (): ConnectParams => ({
    minProtocol: options.minProtocol ?? 3,
    maxProtocol: options.maxProtocol ?? 4,
    client: { id: 'gateway-client', version: CLIENT_VERSION, platform: 'js', mode: 'backend', ...options.client },
    role: options.role ?? 'operator',
    scopes: options.scopes ?? ['operator.read'],
    ...(options.caps ? { caps: options.caps } : {}),
    ...(options.commands ? { commands: options.commands } : {}),
    ...(auth ? { auth } : {}),
  });

  const settle = (id: string, outcome: { ok: true; value: unknown } | { ok: false; error: Error }) => {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    if (outcome.ok) entry.resolve(outcome.value);
    else entry.reject(outcome.error);
  };

  const machine = clientMachine.provide({
    actions: {
      openSocket: (_, { attempt }) => {
        connectId = `connect-${attempt}`;
        let current: WebSocketLike;
        try {
          current = new WebSocketImpl(options.url);
        } catch (error) {
          // A URL the platform refuses: as good as a connection that failed at once.
          const message = error instanceof Error ? error.message : String(error);
          queueMicrotask(() => {
            notices.next({ type: 'socket.error', message, at: now() });
            actor.send({ type: 'socket.closed', code: 1006, reason: '' });
          });
          return;
        }
        socket = current;
        // Events of a socket this client already gave up on are ignored; listeners stay attached so a
        // late `error` always has one.
        const live = () => socket === current;
        current.addEventListener('open', () => live() && actor.send({ type: 'socket.open' }));
        current.addEventListener('error', (event) => {
          const message = (event as { message?: unknown } | null)?.message;
          if (live() && typeof message === 'string' && message) notices.next({ type: 'socket.error', message, at: now() });
        });
        current.addEventListener('close', (event) => {
          if (!live()) return;
          socket = undefined;
          actor.send({ type: 'socket.closed', code: event.code, reason: event.reason });
        });
        current.addEventListener('message', (event) => live() && onMessage(messageText(event.data)));
      },
      closeSocket: (_, { code, reason }) => {
        const current = socket;
        socket = undefined;
        if (!current) return;
        try {
          current.close(code, reason);
        } catch {
          // Closing a socket that is still connecting may throw on some runtimes; it is dropped either way.
        }
        // Timeouts mean the peer is gone: do not wait for its half of the close handshake.
        if (code !== 1000) current.terminate?.();
      },
      sendConnect: (_, { nonce }) => {
        const params = baseParams();
        if (device) params.device = signDeviceProof(device, params, nonce, wallClock());
        socket?.send(JSON.stringify({ type: 'req', id: connectId, method: 'connect', params }));
      },
      sendRequest: (_, request) => {
        const frame = { type: 'req', id: request.id, method: request.method, ...(request.params !== undefined ? { params: request.params } : {}) };
        socket?.send(JSON.stringify(frame));
      },
      settleRequest: (_, response) => {
        if (response.ok) settle(response.id, { ok: true, value: response.payload });
        else {
          const error = response.error ?? { code: 'UNAVAILABLE', message: 'request failed' };
          settle(response.id, { ok: false, error: new GatewayRequestError(error.code, error.message, error) });
        }
      },
      failRequests: (_, failure: RequestFailure) => {
        for (const id of failure.ids) settle(id, { ok: false, error: new GatewayRequestError(failure.code, failure.message) });
      },
    },
  });

  function onMessage(text: string | undefined) {
    if (text === undefined) return;
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (frame.type === 'event' && typeof frame.event === 'string') {
      if (frame.event === 'connect.challenge') {
        const nonce = (frame.payload as { nonce?: unknown } | undefined)?.nonce;
        if (typeof nonce === 'string') actor.send({ type: 'frame.challenge', nonce });
        return;
      }
      if (frame.event === 'tick') actor.send({ type: 'frame.tick' });
      const seq = typeof frame.seq === 'number' ? { seq: frame.seq } : {};
      notices.next({ type: 'gateway.event', event: frame.event, payload: frame.payload, ...seq, at: now() });
      return;
    }
    if (frame.type !== 'res' || typeof frame.id !== 'string') return;
    const error = frame.error as ErrorShape | undefined;
    if (frame.id === connectId) {
      if (frame.ok === true) {
        hello = frame.payload as HelloOk;
        actor.send({ type: 'frame.helloOk', hello: summarize(hello) });
      } else if (error) {
        actor.send({ type: 'frame.connectError', error });
      }
      return;
    }
    actor.send({ type: 'frame.response', id: frame.id, ok: frame.ok === true, payload: frame.payload, ...(error ? { error } : {}) });
  }

  const actor = createActor(machine, {
    input: {
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
      ...(options.defaultTickIntervalMs !== undefined ? { defaultTickIntervalMs: options.defaultTickIntervalMs } : {}),
      ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
      ...(options.random ? { random: options.random } : {}),
    },
  });
  const stopped = new Promise<StopInfo>((resolve) => {
    actor.on('stopped', ({ reason, code, closeReason, error }) => {
      resolve({ reason, ...(code !== undefined ? { code } : {}), ...(closeReason !== undefined ? { closeReason } : {}), ...(error ? { error } : {}) });
    });
  });
  actor.on('*', (emitted) => notices.next({ ...emitted, at: now() }));
  actor.on('stopped', () => queueMicrotask(() => notices.complete()));

  const state$ = defer(() => concat(of(actor.getSnapshot()), from(actor)));
  const client: GatewayClient = {
    actor,
    state$,
    status$: state$.pipe(map(statusOf), distinctUntilChanged()),
    events$: notices.asObservable(),
    get hello() {
      return hello;
    },
    stopped,
    updateCredentials(credentials) {
      if ('auth' in credentials) auth = credentials.auth;
      if ('device' in credentials) device = credentials.device;
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'credentials.updated' });
    },
    whenConnected() {
      if (hello && statusOf(actor.getSnapshot()) === 'connected') return Promise.resolve(hello);
      return new Promise((resolve, reject) => {
        const gaveUp = () => reject(new GatewayRequestError('STOPPED', 'the client stopped before connecting'));
        const subscription = notices.subscribe({
          next: (notice) => {
            if (notice.type === 'connected' && hello) resolve(hello);
            else if (notice.type === 'stopped') gaveUp();
            else return;
            subscription.unsubscribe();
          },
          complete: gaveUp,
        });
      });
    },
    request(method: string, params?: unknown, requestOptions: RequestOptions = {}): Promise<never> {
      const id = `r${nextRequest++}`;
      return new Promise((resolve, reject) => {
        if (actor.getSnapshot().status !== 'active') {
          reject(new GatewayRequestError('NOT_CONNECTED', 'the client has stopped'));
          return;
        }
        const entry: Pending = { resolve: resolve as (value: unknown) => void, reject };
        if (requestOptions.timeoutMs !== undefined) {
          entry.timer = setTimeout(
            () => settle(id, { ok: false, error: new GatewayRequestError('TIMEOUT', `no answer to ${method} within ${requestOptions.timeoutMs} ms`) }),
            requestOptions.timeoutMs,
          );
        }
        pending.set(id, entry);
        actor.send({ type: 'request.send', id, method, ...(params !== undefined ? { params } : {}) });
      });
    },
    close() {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'stop' });
      return stopped;
    },
  };
  // Started on the next microtask, so that whoever created the client has subscribed to everything
  // from the first dial on; events sent before (a request, close()) wait in the actor's mailbox.
  queueMicrotask(() => actor.start());
  return client;
}

function summarize(hello: HelloOk): HelloSummary {
  const tickIntervalMs = hello.policy?.tickIntervalMs;
  const connId = (hello.server as { connId?: unknown } | undefined)?.connId;
  return {
    protocol: hello.protocol,
    ...(typeof tickIntervalMs === 'number' && tickIntervalMs > 0 ? { tickIntervalMs } : {}),
    ...(typeof connId === 'string' ? { connId } : {}),
  };
}
