// The Node runtime around the machines: an HTTP server with a WebSocket upgrade, one connection actor
// per socket (each its own root actor), and the supervisor actor whose broadcasts fan out to every
// ready socket.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createActor, fromTransition, type ActorRefFrom, type AnyEventObject, type InspectionEvent } from 'xstate';
import { connectionMachine, type ConnectionContext, type LogRecord } from '../machines/connection.js';
import { EMPTY_PAIRING_STATE, pairingStateOf, type PairingMode, type PairingState } from '../machines/pairing.js';
import { CloseCode, eventFrame, responseError, responseOk, truncateCloseReason, type HandshakeRejection, type OutboundFrame } from '../machines/protocol.js';
import { listPresence, supervisorMachine } from '../machines/supervisor.js';
import { admitting } from './auth/admission.js';
import type { AuthenticationResult } from './auth/authenticate.js';
import { newDeviceToken } from './auth/device-pairing.js';
import type { DeviceCrypto } from './auth/device-proof.js';
import { nodeDeviceCrypto } from './auth/node-crypto.js';
import type { AuthConfig } from './auth/shared-secret.js';
import { Backpressure, DROPPABLE_EVENTS, type OutboundState, type Watermarks } from './backpressure.js';
import { broadcastsOf, emittedBy, encodeBroadcast, presenceWindowFor, reaches, type Recipient } from './broadcasts.js';
import { createCountingClock } from './clock.js';
import { helloOkFrame } from './hello.js';
import type { Logger } from './logger.js';
import {
  AuthFailureLimiter,
  DEFAULT_LIMITS,
  LIMITS_SWEEP_INTERVAL_MS,
  LogThrottle,
  PreauthCounter,
  addressKey,
  unauthorizedCallCode,
  type LimitsConfig,
} from './limits.js';
import { PARAMS_TOO_DEEP, handleRequest } from './methods.js';
import { indexScheduledEvents } from './scheduler-index.js';
import { TrustedProxies, clientAddress, isLoopbackAddress, sanitizeHeaderValue } from './network.js';
import { binaryFrameEvent, decodeTextFrame } from './protocol/decode.js';
import { DurabilityTracker } from './store/durability.js';
import { pairingStore } from './store/pairing-store.js';
import { GATEWAY_VERSION } from './version.js';

export type { LimitsConfig, PairingMode };

export const PRE_AUTH_MAX_PAYLOAD = 64 * 1024;
export const MAX_PAYLOAD = 25 * 1024 * 1024;
export const MAX_BUFFERED_BYTES = 50 * 1024 * 1024;
/** How long peers get to answer the 1012 close before their sockets are terminated. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;
/** Every socket is pinged this often; one that has not answered the previous ping by then is terminated. */
export const DEFAULT_PING_INTERVAL_MS = 30_000;
/**
 * Presence is throttled over a window of at least this long: a lone join reaches everyone at once, and a
 * join storm costs a frame per window (the newest snapshot, at the window's end), not one per join.
 */
export const DEFAULT_PRESENCE_WINDOW_MS = 10;
/** The window stretches so that presence fan-out stays under this many bytes a second (in a storm)... */
export const PRESENCE_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** ...but never past this long: presence is at most this late. */
export const MAX_PRESENCE_WINDOW_MS = 1_000;

/** The gateway could not listen where it was asked to (port in use, no permission, no such address). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'the port is already in use; choose another with --port'
        : cause.code === 'EACCES'
          ? 'permission denied; choose a port above 1023 with --port'
          : cause.code === 'EADDRNOTAVAIL'
            ? 'this machine has no such address; check --host'
            : (cause.code ?? cause.message);
    super(`cannot listen on ${host}:${port}: ${why}`, { cause });
  }
}

export interface GatewayOptions {
  host: string;
  port: number;
  auth: AuthConfig;
  handshakeTimeoutMs: number;
  tickIntervalMs: number;
  logger: Logger;
  crypto?: DeviceCrypto;
  /** Where pairing state is persisted (pairing.json); without it pairing lives in memory only. */
  stateDir?: string;
  /** auto-local approves loopback clients without a browser Origin silently; manual asks an operator. */
  pairingMode?: PairingMode;
  /** How long a pending pairing request waits for an operator (5 minutes). */
  pairingRequestTtlMs?: number;
  /** Receives every actor's inspection events (e.g. `actorgate start --inspect`). */
  inspect?: (event: InspectionEvent) => void;
  /** Per-address connection limits; each one left out takes its default from `DEFAULT_LIMITS`. */
  limits?: Partial<LimitsConfig>;
  /** A peer with more than this many bytes waiting to be written is closed as a slow consumer (50 MiB). */
  maxBufferedBytes?: number;
  /** One timer pings every socket this often; a peer that misses a whole interval is terminated. 0: no pings. */
  pingIntervalMs?: number;
  /** Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. */
  trustedProxies?: string[];
  /** How long `close()` lets peers answer the 1012 close before terminating them (2 s). */
  shutdownGraceMs?: number;
  /**
   * A presence change goes out at once when no presence frame went out within this many ms; the changes
   * within the window go out as one frame, the newest snapshot, at its end (DEFAULT_PRESENCE_WINDOW_MS;
   * 0: every change at once, except those landing in the same tick as a frame just sent).
   */
  presenceWindowMs?: number;
}

export type SupervisorActor = ActorRefFrom<typeof supervisorMachine>;
type ConnectionActor = ActorRefFrom<typeof connectionMachine>;

/** A socket past its handshake: what broadcasts need to pick their audience, and its own sequence. */
interface ReadySocket extends Recipient {
  connection: LiveConnection;
}

interface LiveConnection extends OutboundState {
  connId: string;
  ws: WebSocket;
  actor: ConnectionActor;
  /** False once the machine reached `closed`: later socket events have nobody to go to. */
  live: boolean;
  /** The address this socket counts against as unauthenticated, until it is ready or closed. */
  preauthAddr: string | undefined;
  /** Pinged by the last round of the ping timer and not heard from since. */
  awaitingPong?: boolean;
}

/** A socket carries its connection, so that every socket shares one set of listeners (`this` is the socket). */
const CONNECTION = Symbol('connection');
type TaggedSocket = WebSocket & { [CONNECTION]: LiveConnection };
const connectionOf = (ws: WebSocket) => (ws as TaggedSocket)[CONNECTION];

/** What a gateway holds right now: what tests and operators check to prove nothing is left behind. */
export interface GatewayStats {
  /** Sockets accepted and not yet closed. */
  sockets: number;
  /** Sockets past their handshake. */
  ready: number;
  /** Connection actors that have not reached `closed`. */
  liveConnectionActors: number;
  /** The supervisor's spawned children (one per invoke in flight). */
  supervisorChildren: number;
  /** Delayed events pending on the gateway's clock, across every actor. */
  pendingTimers: number;
  /** Tracked clients in presence (the gateway itself is not counted). */
  presenceEntries: number;
  nodesConnected: number;
  invokesInFlight: number;
}

export interface Gateway {
  readonly port: number;
  readonly url: string;
  readonly supervisor: SupervisorActor;
  connectionCount(): number;
  /** Sockets from this address that have not completed the handshake (what the per-address cap counts). */
  unauthenticatedCount(remoteAddr: string): number;
  stats(): GatewayStats;
  /**
   * Stops: the supervisor and every connection get `gateway.shutdown` (invokes in flight are answered
   * UNAVAILABLE, ready clients get a `shutdown` event, then every socket a 1012 close), peers that do not
   * answer within the grace are terminated, and pending pairing writes are flushed.
   */
  close(reason?: string, options?: { restartExpectedMs?: number }): Promise<void>;
}

function resolveLimits(overrides: Partial<LimitsConfig> = {}): LimitsConfig {
  const defined = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...DEFAULT_LIMITS, ...(Object.fromEntries(defined) as Partial<LimitsConfig>) };
}

/** The watermarks in force: a hard limit set alone pulls the high and low marks under it. */
function resolveWatermarks(limits: LimitsConfig, maxBufferedBytes: number): Watermarks {
  const highWaterBytes = Math.min(limits.highWaterBytes, maxBufferedBytes);
  const lowWaterBytes = limits.lowWaterBytes < highWaterBytes ? limits.lowWaterBytes : Math.floor(highWaterBytes / 4);
  return { highWaterBytes, lowWaterBytes, maxBufferedBytes };
}

/** ws keeps the TCP socket private; its drain event says the write buffer is empty again. */
function onceSocketDrained(ws: WebSocket, callback: () => void): boolean {
  const raw = (ws as unknown as { _socket?: Duplex & { writableNeedDrain?: boolean } })._socket;
  if (!raw?.writableNeedDrain) return false;
  raw.once('drain', callback);
  return true;
}

/**
 * The close code ws fails a socket with for each protocol error it detects (it closes at once, with no
 * reason): what the peer sees, and so what the log says.
 */
export const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
};
/** A socket that ends without a close frame (a reset): the code a peer's WebSocket reports. */
const ABNORMAL_CLOSURE = 1006;

/**
 * TCP connections the server accepts at once, for a WebSocket cap of `maxConnections` (0: no cap): the cap
 * plus headroom (a tenth, at least 64) for upgrades in flight and health checks. Past it the kernel's
 * connection is closed at once, before HTTP: a flood of idle TCP connections that never send an upgrade
 * is bounded by this in number, and by the handshake timeout in time.
 */
export function rawConnectionCap(maxConnections: number): number {
  return maxConnections > 0 ? maxConnections + Math.max(64, Math.ceil(maxConnections / 10)) : 0;
}

/** Refuses an upgrade before the WebSocket handshake, as a plain HTTP answer. */
function refuseUpgrade(socket: Duplex): void {
  socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

/** A credential check that threw (a bug or a failing crypto backend): the client may retry. */
function internalAuthError(): HandshakeRejection {
  return {
    error: { code: 'UNAVAILABLE', message: 'could not check credentials; try again', retryable: true },
    closeCode: CloseCode.internalError,
    closeReason: 'internal error',
  };
}

/** What a connection keeps of its upgrade request. */
interface UpgradeInfo {
  userAgent: string | undefined;
  origin: string | undefined;
  peerAddr: string | undefined;
}

const PREAUTH_REJECTION = 'too many unauthenticated connections';
const GLOBAL_REJECTION = 'too many connections';

/** ws keeps the payload limit on its receiver; raising it after the handshake lifts the pre-auth cap. */
function raisePayloadLimit(ws: WebSocket, limit: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = limit;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const crypto = options.crypto ?? nodeDeviceCrypto;
  const startedAt = Date.now();
  const bootId = randomUUID();
  const connections = new Map<string, LiveConnection>();
  const clock = createCountingClock();
  const readySockets = new Map<string, ReadySocket>();
  let closing = false;
  const pairingMode = options.pairingMode ?? 'auto-local';
  const store = options.stateDir === undefined ? undefined : pairingStore(options.stateDir);
  const limits = resolveLimits(options.limits);
  const maxBufferedBytes = options.maxBufferedBytes ?? options.limits?.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const trustedProxies = new TrustedProxies(options.trustedProxies ?? []);
  /** Upgrades admitted and not yet handed to a connection: they count against the global cap. */
  let upgrading = 0;
  const preauth = new PreauthCounter(limits.maxPreauthPerAddress);
  const preauthRejectionLog = new LogThrottle();
  const globalRejectionLog = new LogThrottle();
  const authLimiter = new AuthFailureLimiter({
    maxFailures: limits.authMaxFailures,
    windowMs: limits.authFailureWindowMs,
    lockoutMs: limits.authLockoutMs,
    exemptLoopback: limits.exemptLoopback,
  });
  /** A socket stops counting as unauthenticated once, when it is ready or closed, whichever comes first. */
  const leavePreauth = (connection: LiveConnection) => {
    if (connection.preauthAddr === undefined) return;
    preauth.release(connection.preauthAddr);
    connection.preauthAddr = undefined;
  };
  const pairing = store ? await store.load() : EMPTY_PAIRING_STATE;

  const supervisor = createActor(supervisorMachine, {
    input: {
      self: {
        host: hostname(),
        ip: options.host,
        version: GATEWAY_VERSION,
        platform: process.platform,
        mode: 'gateway',
        reason: 'self',
        ts: startedAt,
      },
      tickIntervalMs: options.tickIntervalMs,
      pairingMode,
      pairing,
      ...(options.pairingRequestTtlMs !== undefined ? { pairingRequestTtlMs: options.pairingRequestTtlMs } : {}),
    },
    clock,
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });

  // Every change of the pairing state is saved, and the supervisor hears when it is on disk.
  const durability = new DurabilityTracker<PairingState>(
    store ? (state) => store.save(state) : undefined,
    () => {
      const context = supervisor.getSnapshot().context;
      return { revision: context.persistence.revision, state: pairingStateOf(context) };
    },
    {
      onPersisted: (revision) => {
        if (supervisor.getSnapshot().status === 'active') supervisor.send({ type: 'pairing.persisted', revision });
      },
      onFailed: (revision, error) => {
        logger.error({ err: error, event: 'pairing.save_failed', revision }, 'could not save pairing state');
        const message = error instanceof Error ? error.message : String(error);
        if (supervisor.getSnapshot().status === 'active') supervisor.send({ type: 'pairing.persistFailed', revision, message });
      },
    },
  );

  const admission = {
    auth: options.auth,
    crypto,
    pairingMode,
    authLimiter,
    authFailureWindowMs: limits.authFailureWindowMs,
    supervisor,
    logger,
  };

  const health = () => ({
    ok: true,
    ts: Date.now(),
    durationMs: 0,
    version: GATEWAY_VERSION,
    uptimeMs: Date.now() - startedAt,
    connections: { open: connections.size, ready: readySockets.size },
  });
  const presence = () => listPresence(supervisor.getSnapshot().context);

  /**
   * Writes to sockets. Responses, ticks and targeted events are never dropped; presence is coalesced to
   * the newest while a socket is above its high watermark; a peer that lets more than maxBufferedBytes
   * pile up is closed as a slow consumer rather than have the gateway's memory grow.
   */
  const backpressure = new Backpressure(resolveWatermarks(limits, maxBufferedBytes), {
    onSlowConsumer: (state, bufferedBytes, limit) => {
      const connection = state as LiveConnection;
      queueMicrotask(() => connection.live && connection.actor.send({ type: 'socket.slowConsumer', bufferedBytes, limit }));
    },
    onceDrained: (state, callback) => onceSocketDrained((state as LiveConnection).ws, callback),
    onCongested: (state, bufferedBytes) => {
      const { actor } = state as LiveConnection;
      const { connId, remoteAddr } = actor.getSnapshot().context;
      logger.debug({ connId, remoteAddr, event: 'backpressure.holding', bufferedBytes }, 'socket congested: coalescing presence until it drains');
    },
  });
  const write = (connection: LiveConnection, data: string | Buffer) => backpressure.write(connection, data);

  const send = (connId: string, frame: OutboundFrame) => {
    const connection = connections.get(connId);
    if (connection) write(connection, JSON.stringify(frame));
  };

  const logFor = (context: ConnectionContext, record: LogRecord) => {
    if (!logger.isLevelEnabled(record.level)) return;
    const fields: Record<string, unknown> = { connId: context.connId, remoteAddr: context.remoteAddr, durationMs: Date.now() - context.openedAt, ...record.fields };
    const event = fields.event;
    if (event === 'connection.closed' || event === 'connection.helper_closed') {
      // Whether the handshake had completed (the socket leaves readySockets only after this line).
      fields.ready = readySockets.has(context.connId);
      if (fields.cause === 'handshake-timeout') fields.handshakeTimeoutMs = context.handshakeTimeoutMs;
    }
    logger[record.level](fields, record.msg);
  };

  const gatewayConnectionMachine = connectionMachine.provide({
    actions: {
      sendFrame: ({ context }, frame) => send(context.connId, frame),
      closeSocket: ({ context }, { code, reason }) => connections.get(context.connId)?.ws.close(code, truncateCloseReason(reason)),
      terminateSocket: ({ context }) => connections.get(context.connId)?.ws.terminate(),
      log: ({ context }, record) => logFor(context, record),
      // Effects that reach the supervisor run in a microtask: an actor's custom action must not make another
      // actor run its built-in actions synchronously (XState warns, and the order of effects gets murky).
      checkCredentials: ({ context, self }, request) =>
        queueMicrotask(() => {
          const applicant = {
            connId: context.connId,
            remoteAddr: context.remoteAddr,
            challengeNonce: context.challengeNonce,
            isLocalClient: context.isLoopback && !context.origin,
          };
          const decide = (result: AuthenticationResult) => {
            if (!result.ok) {
              self.send({ type: 'auth.failed', rejection: result.rejection });
              return;
            }
            // A device token goes out only once the pairing that issued it is on disk.
            const revision = supervisor.getSnapshot().context.persistence.revision;
            const unsaved = result.session.deviceToken !== undefined && !durability.isDurable(revision);
            self.send(unsaved ? { type: 'auth.passed', session: result.session, awaitPairingRevision: revision } : { type: 'auth.passed', session: result.session });
          };
          const outcome = admitting(request, applicant, admission);
          if (!(outcome instanceof Promise)) {
            decide(outcome);
            return;
          }
          // A device proof's signature is being checked on the thread pool; the connection waits in
          // `authenticating` (its handshake timeout still runs) and may be gone by the answer.
          outcome.then(
            (result) => connections.get(context.connId)?.live && decide(result),
            (error: unknown) => {
              logger.error({ connId: context.connId, err: error, event: 'auth.error' }, 'credential check failed');
              if (connections.get(context.connId)?.live) self.send({ type: 'auth.failed', rejection: internalAuthError() });
            },
          );
        }),
      awaitPairingSaved: ({ context, self }, revision) => {
        durability.whenDurable(revision).then(
          () => connections.get(context.connId)?.live && self.send({ type: 'pairing.persisted', revision }),
          (error: unknown) =>
            connections.get(context.connId)?.live &&
            self.send({ type: 'pairing.persistFailed', message: error instanceof Error ? error.message : String(error) }),
        );
      },
      sendHelloOk: ({ context }) => {
        const connection = connections.get(context.connId);
        const session = context.session;
        if (connection) leavePreauth(connection);
        if (!connection || !session || !context.connectRequestId) return;
        const supervisorContext = supervisor.getSnapshot().context;
        const hello = helloOkFrame(context.connectRequestId, {
          session,
          connId: context.connId,
          bootId,
          snapshot: {
            presence: listPresence(supervisorContext),
            health: health(),
            stateVersion: supervisorContext.stateVersion,
            uptimeMs: Date.now() - startedAt,
          },
          policy: { maxPayload: MAX_PAYLOAD, maxBufferedBytes, tickIntervalMs: options.tickIntervalMs },
        });
        write(connection, hello);
        raisePayloadLimit(connection.ws, MAX_PAYLOAD);
        readySockets.set(context.connId, { connection, role: session.role, scopes: session.scopes, seq: 0 });
      },
      dispatchRequest: ({ context }, request) => queueMicrotask(() => {
        if (!context.session || !connections.get(context.connId)?.live) return;
        const methodContext = { connId: context.connId, session: context.session, health, presence, supervisor, newDeviceToken };
        let response;
        try {
          response = handleRequest(request, methodContext);
        } catch (error) {
          logger.error({ connId: context.connId, method: request.method, err: error }, 'request handler failed');
          response = responseError(request.id, { code: 'UNAVAILABLE', message: 'internal error' });
        }
        if (!response) return;
        send(context.connId, response);
        // Refused before any handler touched the params: a client cannot turn these into error lines.
        if ((response.error?.details as { code?: unknown } | undefined)?.code === PARAMS_TOO_DEEP && logger.isLevelEnabled('debug')) {
          logger.debug({ connId: context.connId, remoteAddr: context.remoteAddr, event: 'request.refused', method: request.method, detail: response.error?.message }, 'request refused');
        }
        const refused = response.ok ? undefined : unauthorizedCallCode(response.error);
        if (refused) connections.get(context.connId)?.actor.send({ type: 'request.unauthorized', method: request.method, code: refused, at: Date.now() });
      }),
      releaseConnection: ({ context }) => {
        const connection = connections.get(context.connId);
        if (connection) {
          connection.live = false;
          leavePreauth(connection);
        }
        readySockets.delete(context.connId);
      },
    },
  });

  // Broadcasts carry a per-connection seq, so a client sees no gaps in what it is sent.
  const emitted$ = emittedBy(supervisor);
  const minPresenceWindowMs = options.presenceWindowMs ?? DEFAULT_PRESENCE_WINDOW_MS;
  /** The size of the last presence frame sent: with the number of ready sockets, what the next window costs. */
  let presenceFrameBytes = 0;
  const presenceWindowMs = () =>
    presenceWindowFor(minPresenceWindowMs, readySockets.size, presenceFrameBytes, PRESENCE_BYTES_PER_SECOND, Math.max(minPresenceWindowMs, MAX_PRESENCE_WINDOW_MS));
  const subscriptions = [
    // Each socket numbers what it is actually sent: a presence frame held back takes its seq when it goes out.
    broadcastsOf(emitted$, presenceWindowMs).subscribe(({ audience, frame }) => {
      // Serialised and encoded once: sockets at the same seq share one buffer.
      const encoded = encodeBroadcast(frame);
      if (frame.event === 'presence') presenceFrameBytes = encoded.bytes;
      const kind = DROPPABLE_EVENTS.has(frame.event) ? frame.event : undefined;
      const render = (socket: ReadySocket, framed: boolean) => (framed ? encoded.framedAt(++socket.seq) : encoded.at(++socket.seq));
      for (const socket of readySockets.values()) {
        if (reaches(socket, audience)) backpressure.broadcast(socket.connection, kind, render, socket);
      }
    }),
    emitted$.subscribe((emitted) => {
      switch (emitted.type) {
        case 'broadcast':
          if (/^(node|device)\.pair\./.test(emitted.event)) logger.info({ event: emitted.event, ...(emitted.payload as object) }, emitted.event);
          break;
        case 'deliver':
          send(emitted.connId, eventFrame(emitted.event, emitted.payload));
          break;
        case 'reply':
          send(emitted.connId, emitted.ok ? responseOk(emitted.requestId, emitted.payload) : responseError(emitted.requestId, emitted.error));
          break;
        case 'credentials.revoked':
          for (const connId of emitted.connIds) {
            const connection = connections.get(connId);
            if (connection?.live) connection.actor.send({ type: 'credentials.revoked', reason: emitted.reason });
          }
          break;
        case 'pairing.changed':
          durability.persist(emitted.revision);
          break;
      }
    }),
  ];
  supervisor.start();

  // Connection actors share one actor system, this host's: a root actor would get a system of its own
  // (its closures, maps and timer tables) per connection. The host keeps no state; a connection actor
  // that fails reports here (its done events land here too and are ignored).
  const connectionHost = createActor(
    fromTransition((state: null, event: AnyEventObject) => {
      if (event.type.startsWith('xstate.error.actor')) logger.error({ event: event.type, err: (event as { error?: unknown }).error }, 'connection actor failed');
      return state;
    }, null),
    { clock, ...(options.inspect ? { inspect: options.inspect } : {}) },
  );
  connectionHost.start();
  // Without this, every connection that ends walks every handshake deadline pending in the shared system.
  indexScheduledEvents(connectionHost.system);

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: PRE_AUTH_MAX_PAYLOAD, clientTracking: false });

  const accept = (ws: WebSocket, { userAgent, origin, peerAddr }: UpgradeInfo, remoteAddr: string): LiveConnection => {
    const connId = randomUUID();
    const actor = createActor(gatewayConnectionMachine, {
      input: {
        connId,
        remoteAddr,
        isLoopback: isLoopbackAddress(remoteAddr),
        ...(userAgent ? { userAgent } : {}),
        ...(origin ? { origin } : {}),
        challengeNonce: randomUUID(),
        openedAt: Date.now(),
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        supervisor,
        unauthorizedCallLimit: limits.unauthorizedCallLimit,
        unauthorizedCallWindowMs: limits.unauthorizedCallWindowMs,
      },
      parent: connectionHost,
    });
    // The upgrade handler counted this socket against its address; the connection gives the slot back.
    // Broadcasts go to the TCP socket as whole frames built once: the WebSocket server compresses nothing
    // and the gateway sends no Blobs, so ws never has a frame queued that one written past it could overtake.
    const frames = (ws as unknown as { _socket?: Duplex })._socket;
    const connection: LiveConnection = { connId, ws, sink: ws, ...(frames ? { frames } : {}), actor, live: true, preauthAddr: remoteAddr };
    connections.set(connId, connection);
    if (logger.isLevelEnabled('debug')) {
      const forwarded = peerAddr !== remoteAddr ? { peerAddr } : {};
      logger.debug({ connId, remoteAddr, ...forwarded, userAgent, origin, event: 'connection.opened' }, 'connection opened');
    }
    (ws as TaggedSocket)[CONNECTION] = connection;
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('error', onSocketError);
    ws.on('close', onSocketClose);
    actor.start();
    return connection;
  };

  // The listeners every socket shares: per connection only the socket's tag, no closures.
  function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean) {
    const connection = connectionOf(this);
    connection.awaitingPong = false;
    if (connection.live) connection.actor.send(isBinary ? binaryFrameEvent : decodeTextFrame(data.toString()));
  }
  function onSocketPong(this: WebSocket) {
    connectionOf(this).awaitingPong = false;
  }
  function onSocketError(this: WebSocket, error: Error & { code?: string }) {
    const connection = connectionOf(this);
    if (!connection.live) return;
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      connection.actor.send({ type: 'frame.tooLarge', limit: readySockets.has(connection.connId) ? MAX_PAYLOAD : PRE_AUTH_MAX_PAYLOAD });
      return;
    }
    // ws fails the socket itself on a protocol error, with its RFC 6455 code and no reason: log what the peer saw.
    const code = error.code === undefined ? undefined : WS_ERROR_CLOSE_CODES[error.code];
    connection.actor.send(code === undefined ? { type: 'socket.error', message: error.message } : { type: 'socket.error', message: error.message, code, reason: '' });
  }
  /**
   * Errors of the TCP socket itself (a reset, a broken pipe). ws does not report them; once the socket has a
   * connection they end it as a socket error (the peer saw no close frame: 1006), before that they are logged
   * at debug (a request that never became a WebSocket).
   */
  function onRawSocketError(this: Duplex & { [CONNECTION]?: LiveConnection }, error: Error) {
    const connection = this[CONNECTION];
    if (connection?.live) connection.actor.send({ type: 'socket.error', message: error.message, code: ABNORMAL_CLOSURE, reason: '' });
    else logger.debug({ err: error.message, event: 'upgrade.error', ...(connection ? { connId: connection.connId } : {}) }, 'socket error during upgrade');
  }
  function onSocketClose(this: WebSocket, code: number, reason: Buffer) {
    const connection = connectionOf(this);
    if (connection.live) connection.actor.send({ type: 'socket.closed', code, reason: reason.toString() });
    leavePreauth(connection);
    connections.delete(connection.connId);
  }

  // A client that sends its upgrade request's headers slowly (or nothing at all) is cut off after the
  // handshake timeout, as one that is slow after the upgrade is; the check runs every second.
  const httpTimeoutMs = Math.max(1_000, options.handshakeTimeoutMs);
  const httpLimits = { headersTimeout: httpTimeoutMs, requestTimeout: httpTimeoutMs, connectionsCheckingInterval: Math.min(1_000, httpTimeoutMs) };
  const server = createServer(httpLimits, (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET' && request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, version: GATEWAY_VERSION, uptimeMs: Date.now() - startedAt }));
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: false, error: 'not found' }));
  });

  // A connection that sends nothing at all is dropped once idle that long (ws clears it on upgrade).
  server.setTimeout(httpTimeoutMs);
  // And there are at most so many of them, WebSockets included.
  const tcpCap = rawConnectionCap(limits.maxConnections);
  if (tcpCap > 0) server.maxConnections = tcpCap;
  const tcpDropLog = new LogThrottle();
  server.on('drop', (dropped?: { remoteAddress?: string }) => {
    const line = tcpDropLog.take('*');
    if (!line.log) return;
    const fields = { event: 'tcp.dropped', reason: GLOBAL_REJECTION, remoteAddr: dropped?.remoteAddress, limit: tcpCap };
    logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'tcp connection dropped');
  });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', onRawSocketError);
    if (closing) {
      refuseUpgrade(socket);
      return;
    }
    const remoteAddr = clientAddress(request.socket.remoteAddress ?? 'unknown', request.headers['x-forwarded-for'], trustedProxies);
    if (limits.maxConnections > 0 && connections.size + upgrading >= limits.maxConnections) {
      refuseUpgrade(socket);
      const line = globalRejectionLog.take('*');
      if (line.log) {
        const fields = { event: 'upgrade.rejected', reason: GLOBAL_REJECTION, remoteAddr, count: connections.size + upgrading, limit: limits.maxConnections };
        logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'upgrade rejected');
      }
      return;
    }
    const admitted = preauth.tryAcquire(remoteAddr);
    if (!admitted.ok) {
      refuseUpgrade(socket);
      const line = preauthRejectionLog.take(addressKey(remoteAddr));
      if (line.log) {
        const fields = {
          event: 'upgrade.rejected',
          reason: PREAUTH_REJECTION,
          remoteAddr,
          count: admitted.count,
          limit: limits.maxPreauthPerAddress,
        };
        logger.warn(line.suppressed > 0 ? { ...fields, suppressed: line.suppressed } : fields, 'upgrade rejected');
      }
      return;
    }
    // What the connection needs of the request, read now: nothing that lives as long as the socket
    // (its close listener, the upgrade callback) keeps the IncomingMessage alive.
    const info: UpgradeInfo = {
      // Header values are kept and logged without control or format characters, and capped.
      userAgent: sanitizeHeaderValue(request.headers['user-agent']),
      origin: sanitizeHeaderValue(request.headers.origin),
      peerAddr: request.socket.remoteAddress,
    };
    const handOver = holdUpgradeSlot(socket, remoteAddr);
    // The 101 answer and the challenge (written as the connection starts, within the upgrade's callback)
    // leave in one write: one packet and one wake-up of the client instead of two.
    socket.cork();
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (handOver()) (socket as Duplex & { [CONNECTION]?: LiveConnection })[CONNECTION] = accept(ws, info, remoteAddr);
    });
    socket.uncork();
  });

  /**
   * The slot is taken from here: handed to the connection once ws completes the upgrade (`handOver()`
   * says true once), given back if the socket goes before that (a bad upgrade request, a peer that hangs up).
   */
  function holdUpgradeSlot(socket: Duplex, remoteAddr: string): () => boolean {
    let handedOver = false;
    upgrading += 1;
    socket.once('close', () => {
      if (handedOver) return;
      handedOver = true;
      upgrading -= 1;
      preauth.release(remoteAddr);
    });
    return () => {
      if (handedOver) return false;
      handedOver = true;
      upgrading -= 1;
      return true;
    };
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    for (const subscription of subscriptions) subscription.unsubscribe();
    supervisor.stop();
    connectionHost.stop();
    throw new ListenError(options.host, options.port, error as NodeJS.ErrnoException);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  logger.info({ event: 'gateway.listening', host: options.host, port, auth: options.auth.mode, handshakeTimeoutMs: options.handshakeTimeoutMs }, 'gateway listening');

  // Time-based limits forget what has expired on access; this sweep catches addresses never seen again.
  const summarisePreauth = (remoteAddr: string, suppressed: number) =>
    logger.warn({ event: 'upgrade.rejected', reason: PREAUTH_REJECTION, remoteAddr, suppressed }, 'upgrade rejected (summary)');
  const summariseGlobal = (_key: string, suppressed: number) =>
    logger.warn({ event: 'upgrade.rejected', reason: GLOBAL_REJECTION, suppressed }, 'upgrade rejected (summary)');
  const summariseTcpDrops = (_key: string, suppressed: number) =>
    logger.warn({ event: 'tcp.dropped', reason: GLOBAL_REJECTION, suppressed, limit: tcpCap }, 'tcp connection dropped (summary)');
  const sweep = setInterval(() => {
    authLimiter.prune();
    preauthRejectionLog.prune(summarisePreauth);
    globalRejectionLog.prune(summariseGlobal);
    tcpDropLog.prune(summariseTcpDrops);
  }, LIMITS_SWEEP_INTERVAL_MS);
  sweep.unref();

  // One timer pings every socket: a peer still owing the previous round's pong is terminated through its
  // connection actor (presence and node entries go with it). The round also sends frames held for
  // congested sockets whose buffer emptied without a drain event.
  const pinger =
    pingIntervalMs > 0
      ? setInterval(() => {
          for (const connection of connections.values()) {
            if (!connection.live) continue;
            if (connection.awaitingPong) {
              connection.actor.send({ type: 'socket.pongTimeout', intervalMs: pingIntervalMs });
              continue;
            }
            connection.awaitingPong = true;
            try {
              connection.ws.ping();
            } catch {
              // The socket is going: its close event ends the connection.
            }
            backpressure.relieve(connection);
          }
        }, pingIntervalMs)
      : undefined;
  pinger?.unref();

  const shutdownGraceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  let closed: Promise<void> | undefined;
  const close = (reason = 'gateway stopping', closeOptions: { restartExpectedMs?: number } = {}) => (closed ??= shutdown(reason, closeOptions));
  const shutdown = async (reason: string, { restartExpectedMs }: { restartExpectedMs?: number }) => {
    closing = true;
    clearInterval(sweep);
    // Refusals the throttle held back since their address's last line are summed up now, not lost.
    preauthRejectionLog.flush(summarisePreauth);
    globalRejectionLog.flush(summariseGlobal);
    tcpDropLog.flush(summariseTcpDrops);
    if (pinger) clearInterval(pinger);
    const event = { type: 'gateway.shutdown' as const, reason, ...(restartExpectedMs !== undefined ? { restartExpectedMs } : {}) };
    logger.info({ event: 'gateway.shutdown', reason, connections: connections.size, invokesInFlight: supervisor.getSnapshot().context.invokes.size }, 'shutting down');
    // The supervisor first: invokes in flight are answered UNAVAILABLE before their callers are closed.
    supervisor.send(event);
    for (const connection of connections.values()) {
      if (connection.live) connection.actor.send(event);
    }
    const deadline = Date.now() + shutdownGraceMs;
    while (connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const connection of connections.values()) connection.ws.terminate();
    // A terminated socket reports its close a moment later; its actor ends through the usual path.
    const terminatedBy = Date.now() + 200;
    while (connections.size > 0 && Date.now() < terminatedBy) await new Promise((resolve) => setTimeout(resolve, 5));
    // Every pairing change made so far is written before the gateway reports itself stopped.
    const lastRevision = supervisor.getSnapshot().context.persistence.revision;
    for (const subscription of subscriptions) subscription.unsubscribe();
    supervisor.stop();
    connectionHost.stop();
    await durability.whenDurable(lastRevision).catch(() => undefined); // a failure was logged by the tracker's hook
    await store?.flush().catch(() => undefined);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    logger.info({ event: 'gateway.stopped', reason }, 'gateway stopped');
  };

  return {
    port,
    url: `ws://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    supervisor,
    connectionCount: () => connections.size,
    unauthenticatedCount: (remoteAddr: string) => preauth.count(remoteAddr),
    stats: () => {
      const snapshot = supervisor.getSnapshot();
      let liveConnectionActors = 0;
      for (const connection of connections.values()) if (connection.live) liveConnectionActors += 1;
      return {
        sockets: connections.size,
        ready: readySockets.size,
        liveConnectionActors,
        supervisorChildren: Object.keys(snapshot.children).length,
        pendingTimers: clock.pending(),
        presenceEntries: snapshot.context.presence.size,
        nodesConnected: snapshot.context.nodes.size,
        invokesInFlight: snapshot.context.invokes.size,
      };
    },
    close,
  };
}
