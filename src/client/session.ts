// One gateway client's run of the client machine: the machine's effects carried out on a WebSocket, the
// gateway's frames turned into machine events, and what the machine and the socket report, as notices.
// Portable: no Node imports; the WebSocket constructor is handed in.
import { Subject } from 'rxjs';
import { createActor } from 'xstate';
import { clientMachine, type ClientInput, type HelloSummary, type RequestFailure } from '../../machines/client.js';
import { CloseCode, type ConnectAuth, type ConnectParams, type ErrorShape } from '../../machines/protocol.js';
import type { ClientActor, ClientNotice, GatewayClientOptions, HelloOk, RequestOptions, StopInfo } from './types.js';
import { signDeviceProof, type DeviceIdentity } from './identity.js';
import { GatewayRequestError, PendingRequests, type RequestResponse } from './requests.js';
import { messageText, type WebSocketConstructor, type WebSocketLike } from './socket.js';
import { CLIENT_VERSION } from './version.js';

type Frame = { type?: unknown; id?: unknown; event?: unknown; payload?: unknown; ok?: unknown; error?: unknown; seq?: unknown };

const defaultNow = () => (globalThis.performance ? globalThis.performance.now() : Date.now());

export class ClientSession {
  readonly actor: ClientActor;
  readonly notices = new Subject<ClientNotice>();
  /** Resolves once the client has stopped for good. */
  readonly stopped: Promise<StopInfo>;
  private readonly pending = new PendingRequests();
  private readonly now: () => number;
  private readonly wallClock: () => number;
  private socket: WebSocketLike | undefined;
  private connectId: string | undefined;
  private lastHello: HelloOk | undefined;
  private auth: ConnectAuth | undefined;
  private device: DeviceIdentity | undefined;
  /** The device token the gateway issued in a hello-ok of this run. */
  private issuedDeviceToken: string | undefined;

  constructor(
    private readonly options: GatewayClientOptions,
    private readonly WebSocketImpl: WebSocketConstructor,
  ) {
    this.now = options.now ?? defaultNow;
    this.wallClock = options.wallClock ?? Date.now;
    this.auth = options.auth;
    this.device = options.device;
    this.actor = createActor(this.machineWithEffects(), { input: machineInput(options) });
    this.stopped = whenStopped(this.actor);
    this.actor.on('*', (emitted) => this.notices.next({ ...emitted, at: this.now() }));
    this.actor.on('stopped', () => queueMicrotask(() => this.notices.complete()));
  }

  /** The last hello-ok payload, as the gateway sent it. */
  get hello(): HelloOk | undefined {
    return this.lastHello;
  }

  /** Credentials for the next dials; a client waiting for them (after a 4001) dials again. */
  updateCredentials(credentials: { auth?: ConnectAuth; device?: DeviceIdentity }): void {
    if ('auth' in credentials) this.auth = credentials.auth;
    if ('device' in credentials) this.device = credentials.device;
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'credentials.updated' });
  }

  /** Hands a request to the machine; settles with the gateway's answer, or rejects with a GatewayRequestError. */
  request(method: string, params: unknown, requestOptions: RequestOptions): Promise<unknown> {
    const id = this.pending.nextId();
    return new Promise((resolve, reject) => {
      if (this.actor.getSnapshot().status !== 'active') {
        reject(new GatewayRequestError('NOT_CONNECTED', 'the client has stopped'));
        return;
      }
      this.pending.add(id, method, resolve, reject, requestOptions.timeoutMs);
      this.actor.send({ type: 'request.send', id, method, ...(params !== undefined ? { params } : {}) });
    });
  }

  close(): Promise<StopInfo> {
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'stop' });
    return this.stopped;
  }

  /** The client machine, its effects provided by this session. */
  private machineWithEffects() {
    return clientMachine.provide({
      actions: {
        openSocket: (_, { attempt }) => this.openSocket(attempt),
        closeSocket: (_, { code, reason }) => this.closeSocket(code, reason),
        useDeviceToken: () => this.useDeviceToken(),
        sendConnect: (_, { nonce }) => this.sendConnect(nonce),
        sendRequest: (_, request) => this.sendRequest(request),
        settleRequest: (_, response: RequestResponse) => this.pending.settle(response),
        failRequests: (_, failure: RequestFailure) => this.pending.fail(failure),
      },
    });
  }

  private openSocket(attempt: number): void {
    this.connectId = `connect-${attempt}`;
    let current: WebSocketLike;
    try {
      current = new this.WebSocketImpl(this.options.url);
    } catch (error) {
      this.failDial(error);
      return;
    }
    this.socket = current;
    this.listen(current);
  }

  /** A URL the platform refuses: as good as a connection that failed at once. */
  private failDial(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    queueMicrotask(() => {
      this.notices.next({ type: 'socket.error', message, at: this.now() });
      this.actor.send({ type: 'socket.closed', code: CloseCode.abnormalClosure, reason: '' });
    });
  }

  /**
   * Reports what the socket does to the machine. Events of a socket this client already gave up on are
   * ignored; listeners stay attached so a late `error` always has one.
   */
  private listen(current: WebSocketLike): void {
    const live = () => this.socket === current;
    current.addEventListener('open', () => live() && this.actor.send({ type: 'socket.open' }));
    current.addEventListener('error', (event) => {
      const message = (event as { message?: unknown } | null)?.message;
      if (live() && typeof message === 'string' && message) this.notices.next({ type: 'socket.error', message, at: this.now() });
    });
    current.addEventListener('close', (event) => {
      if (!live()) return;
      this.socket = undefined;
      this.actor.send({ type: 'socket.closed', code: event.code, reason: event.reason });
    });
    current.addEventListener('message', (event) => live() && this.onMessage(messageText(event.data)));
  }

  private closeSocket(code: number, reason: string): void {
    const current = this.socket;
    this.socket = undefined;
    if (!current) return;
    try {
      current.close(code, reason);
    } catch {
      // Closing a socket that is still connecting may throw on some runtimes; it is dropped either way.
    }
    // Timeouts mean the peer is gone: do not wait for its half of the close handshake.
    if (code !== 1000) current.terminate?.();
  }

  /** The gateway token was refused and the gateway hinted the device token may do: it goes beside it. */
  private useDeviceToken(): void {
    if (this.issuedDeviceToken !== undefined) this.auth = { ...this.auth, deviceToken: this.issuedDeviceToken };
  }

  /**
   * Keeps the device token a hello-ok carries; whether the client may fall back on it (the reference allows
   * that only on a trusted transport: loopback, or wss) and does not send it already.
   */
  private keepDeviceToken(hello: HelloOk): boolean {
    const token = (hello.auth as { deviceToken?: unknown } | undefined)?.deviceToken;
    if (typeof token !== 'string' || token === '' || !this.device || !isTrustedEndpoint(this.options.url)) return false;
    this.issuedDeviceToken = token;
    return this.auth?.deviceToken !== token;
  }

  private sendConnect(nonce: string): void {
    const params = this.connectParams();
    if (this.device) params.device = signDeviceProof(this.device, params, nonce, this.wallClock());
    this.socket?.send(JSON.stringify({ type: 'req', id: this.connectId, method: 'connect', params }));
  }

  /** The connect params, with the credentials of the moment (the device proof is added to them). */
  private connectParams(): ConnectParams {
    const { options, auth } = this;
    return {
      minProtocol: options.minProtocol ?? 3,
      maxProtocol: options.maxProtocol ?? 4,
      client: { id: 'gateway-client', version: CLIENT_VERSION, platform: 'js', mode: 'backend', ...options.client },
      role: options.role ?? 'operator',
      scopes: options.scopes ?? ['operator.read'],
      ...(options.caps ? { caps: options.caps } : {}),
      ...(options.commands ? { commands: options.commands } : {}),
      ...(auth ? { auth } : {}),
    };
  }

  private sendRequest(request: { id: string; method: string; params?: unknown }): void {
    const frame = { type: 'req', id: request.id, method: request.method, ...(request.params !== undefined ? { params: request.params } : {}) };
    this.socket?.send(JSON.stringify(frame));
  }

  private onMessage(text: string | undefined): void {
    if (text === undefined) return;
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (frame.type === 'event' && typeof frame.event === 'string') this.onEvent(frame.event, frame);
    else if (frame.type === 'res' && typeof frame.id === 'string') this.onResponse(frame.id, frame);
  }

  /** An event frame: the handshake's challenge goes to the machine only; every other event is a notice. */
  private onEvent(event: string, frame: Frame): void {
    if (event === 'connect.challenge') {
      const nonce = (frame.payload as { nonce?: unknown } | undefined)?.nonce;
      if (typeof nonce === 'string') this.actor.send({ type: 'frame.challenge', nonce });
      return;
    }
    if (event === 'tick') this.actor.send({ type: 'frame.tick' });
    const seq = typeof frame.seq === 'number' ? { seq: frame.seq } : {};
    this.notices.next({ type: 'gateway.event', event, payload: frame.payload, ...seq, at: this.now() });
  }

  /** A response frame: to the current connect (hello-ok, or its rejection), or to a request. */
  private onResponse(id: string, frame: Frame): void {
    const error = frame.error as ErrorShape | undefined;
    if (id === this.connectId) {
      if (frame.ok === true) {
        this.lastHello = frame.payload as HelloOk;
        const deviceToken = this.keepDeviceToken(this.lastHello);
        this.actor.send({ type: 'frame.helloOk', hello: { ...summarize(this.lastHello), ...(deviceToken ? { deviceToken } : {}) } });
      } else if (error) {
        this.actor.send({ type: 'frame.connectError', error });
      }
      return;
    }
    this.actor.send({ type: 'frame.response', id, ok: frame.ok === true, payload: frame.payload, ...(error ? { error } : {}) });
  }
}

/** Loopback or TLS: where the reference lets a client fall back on its device token by itself. */
function isTrustedEndpoint(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    return protocol === 'wss:' || hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
  } catch {
    return false;
  }
}

/** The machine's input: the options given, the machine's defaults for the others. */
function machineInput(options: GatewayClientOptions): ClientInput {
  return {
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
    ...(options.defaultTickIntervalMs !== undefined ? { defaultTickIntervalMs: options.defaultTickIntervalMs } : {}),
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.random ? { random: options.random } : {}),
  };
}

/** Resolves with why the actor stopped, once its machine has emitted `stopped`. */
function whenStopped(actor: ClientActor): Promise<StopInfo> {
  return new Promise<StopInfo>((resolve) => {
    actor.on('stopped', ({ reason, code, closeReason, error }) => {
      resolve({ reason, ...(code !== undefined ? { code } : {}), ...(closeReason !== undefined ? { closeReason } : {}), ...(error ? { error } : {}) });
    });
  });
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
