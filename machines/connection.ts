// The life of one gateway connection, from the socket's open to its close.
// Pure: the runtime decodes frames into events, and provides the effects (write a frame, close the
// socket, write a log line, check credentials, answer a request) with `machine.provide(...)`.
import { assign, enqueueActions, sendTo, setup, type AnyActorRef } from 'xstate';
import {
  CloseCode,
  eventFrame,
  invalidRequest,
  negotiateProtocol,
  responseError,
  type ConnectParams,
  type HandshakeRejection,
  type OutboundFrame,
  type Session,
} from './protocol.js';
import type { SupervisorEvent } from './supervisor.js';

export interface ConnectionInput {
  connId: string;
  remoteAddr: string;
  isLoopback: boolean;
  userAgent?: string;
  /** The browser Origin header, when the upgrade had one: such clients are never paired silently. */
  origin?: string;
  /** The Host header of the upgrade: with the Origin, it tells the gateway's own pages from others. */
  requestHost?: string;
  challengeNonce: string;
  /** Epoch ms of the socket's open, echoed in the challenge. */
  openedAt: number;
  handshakeTimeoutMs: number;
  /** Capabilities announced in the challenge (protocol 4). */
  capabilities?: string[];
  supervisor: AnyActorRef;
  /**
   * More than this many requests refused for the caller's role or scope within the window close the
   * socket (1008 "too many unauthorized calls"); 0 lets them go on.
   */
  unauthorizedCallLimit?: number;
  unauthorizedCallWindowMs?: number;
}

/** A caller refused this many times for its role or scope within the window is disconnected. */
export const DEFAULT_UNAUTHORIZED_CALL_LIMIT = 30;
export const DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS = 60_000;
// Shared by every connection that has none of its own (most): no array allocated per connection.
const NO_CAPABILITIES: string[] = Object.freeze([]) as unknown as string[];
const NO_CALLS: number[] = Object.freeze([]) as unknown as number[];

export type CloseCauseKind =
  | 'handshake-timeout'
  | 'closed-before-connect'
  | 'helper-closed-before-connect'
  | 'peer-closed'
  | 'socket-error'
  | 'malformed-frame'
  | 'invalid-connect'
  | 'protocol-mismatch'
  | 'connect-required'
  | 'auth-rejected'
  | 'frame-too-large'
  | 'slow-consumer'
  | 'pong-timeout'
  | 'unauthorized-calls'
  | 'pairing-not-saved'
  | 'shutdown'
  | 'credentials-revoked';

export interface CloseCause {
  kind: CloseCauseKind;
  code: number;
  reason: string;
  /** Who ended it: the gateway closes the socket itself; a peer or a broken socket already did. */
  by: 'gateway' | 'peer' | 'socket';
  detail?: string;
}

export interface ConnectionContext extends Omit<ConnectionInput, 'capabilities' | 'unauthorizedCallLimit' | 'unauthorizedCallWindowMs'> {
  capabilities: string[];
  unauthorizedCallLimit: number;
  unauthorizedCallWindowMs: number;
  /** When the recent refused calls were made (epoch ms, oldest first), at most limit + 1 of them. */
  unauthorizedCalls: number[];
  /** The pairing-state revision that must be on disk before hello-ok (it hands over a device token). */
  awaitedPairingRevision?: number;
  connectRequestId?: string;
  negotiatedProtocol?: number;
  session?: Session;
  closeCause?: CloseCause;
}

export type ConnectionEvent =
  | { type: 'frame.connect'; id: string; params: ConnectParams }
  | { type: 'frame.connectInvalid'; id: string; message: string }
  | { type: 'frame.request'; id: string; method: string; params?: unknown }
  /** `details` (with a `code`): refused before it was parsed, for its size or shape; answered with them when it has an id. */
  | { type: 'frame.malformed'; id?: string; message: string; details?: Record<string, unknown> }
  | { type: 'frame.tooLarge'; bytes?: number; limit: number }
  /** The peer reads slower than it is sent to: its socket buffered more than the limit. */
  /** Above its own limit; or, with `gatewayBytes`, the largest consumer while every socket together held that many, above `limit`. */
  | { type: 'socket.slowConsumer'; bufferedBytes: number; limit: number; gatewayBytes?: number }
  /** `code`/`reason`: the close the peer sees (a protocol error ws failed the socket with, 1006 for a reset); 1011 without. */
  | { type: 'socket.error'; message: string; code?: number; reason?: string }
  | { type: 'socket.closed'; code: number; reason: string }
  /** The peer did not answer the last ping within a whole ping interval. */
  | { type: 'socket.pongTimeout'; intervalMs: number }
  /**
   * Credentials hold. With `awaitPairingRevision`, the session hands over a device token whose pairing is
   * not on disk yet: hello-ok waits until that revision of the pairing state is saved.
   */
  | { type: 'auth.passed'; session: Session; awaitPairingRevision?: number }
  | { type: 'pairing.persisted'; revision: number }
  | { type: 'pairing.persistFailed'; message: string }
  /** A request of this connection was refused for its role or scope (`at`: epoch ms). */
  | { type: 'request.unauthorized'; method: string; code: string; at: number }
  | { type: 'auth.failed'; rejection: HandshakeRejection }
  | { type: 'gateway.shutdown'; reason: string; restartExpectedMs?: number }
  | { type: 'credentials.revoked'; reason: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

export interface AuthenticationRequest {
  requestId: string;
  params: ConnectParams;
  protocol: number;
}

export interface DispatchedRequest {
  id: string;
  method: string;
  params?: unknown;
}

const SWIFTPM_HELPER_AGENT = 'swiftpm-testing-helper';

type CauseParams = Omit<CloseCause, 'by'> & { by?: CloseCause['by'] };

/** The effects the runtime provides, as the semantic actions below enqueue them. */
type Effect =
  | { type: 'sendFrame'; params: OutboundFrame }
  | { type: 'closeSocket'; params: { code: number; reason: string } }
  | { type: 'terminateSocket' }
  | { type: 'log'; params: LogRecord }
  | { type: 'checkCredentials'; params: AuthenticationRequest }
  | { type: 'recordCause'; params: CauseParams };

interface EffectArgs {
  context: ConnectionContext;
  event: ConnectionEvent;
  enqueue: (effect: Effect) => void;
}

/**
 * An action made of effects. Typing `enqueue` here, instead of letting `setup` infer it from the very
 * actions object being defined, breaks a circular inference that TypeScript cannot resolve.
 */
function effects<TParams = undefined>(build: (args: EffectArgs, params: TParams) => void) {
  return enqueueActions<ConnectionContext, ConnectionEvent, TParams, ConnectionEvent, never, never, never, never, never>(
    ({ context, event, enqueue }, params) =>
      build({ context, event, enqueue: enqueue as unknown as (effect: Effect) => void }, params),
  );
}

// A handshake's effects are the runtime's actions with these as their params, not `enqueueActions`
// (which builds an enqueue function and resolves a nested action list every time it runs).
function challengeFrame(context: ConnectionContext): OutboundFrame {
  return eventFrame('connect.challenge', { nonce: context.challengeNonce, ts: context.openedAt, capabilities: context.capabilities });
}

function describeReady(context: ConnectionContext): LogRecord {
  const session = context.session!;
  const fields = {
    event: 'connection.ready',
    role: session.role,
    clientId: session.client.id,
    clientMode: session.client.mode,
    protocol: session.protocol,
    deviceId: session.deviceId,
  };
  return { level: 'info', msg: 'handshake complete', fields };
}

function describeClose(context: ConnectionContext): LogRecord {
  const cause = context.closeCause;
  if (!cause) return { level: 'error', msg: 'connection closed without a recorded cause' };
  const fields = { event: 'connection.closed', cause: cause.kind, code: cause.code, reason: cause.reason, detail: cause.detail };
  switch (cause.kind) {
    case 'handshake-timeout':
      return { level: 'warn', msg: `handshake timeout conn=${context.connId}`, fields };
    case 'closed-before-connect':
      return { level: 'warn', msg: 'closed before connect', fields };
    case 'helper-closed-before-connect':
      // Noise, counted apart: one info line per helper, with an event of its own.
      return { level: 'info', msg: 'closed before connect (swiftpm helper)', fields: { ...fields, event: 'connection.helper_closed' } };
    case 'socket-error':
      return { level: 'warn', msg: 'socket error', fields };
    case 'credentials-revoked':
      return { level: 'warn', msg: 'credentials revoked', fields };
    case 'slow-consumer':
      return { level: 'warn', msg: 'slow consumer', fields };
    case 'pong-timeout':
      return { level: 'warn', msg: `pong timeout conn=${context.connId}`, fields };
    case 'unauthorized-calls':
      return { level: 'warn', msg: 'too many unauthorized calls', fields };
    case 'pairing-not-saved':
      return { level: 'error', msg: 'pairing not saved', fields };
    case 'peer-closed':
    case 'shutdown':
      return { level: 'info', msg: 'connection closed', fields };
    default:
      return { level: 'warn', msg: 'handshake rejected', fields };
  }
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actions: {
    // Effects the runtime provides. The defaults do nothing so the machine runs anywhere.
    sendFrame: (_, _frame: OutboundFrame) => {},
    closeSocket: (_, _close: { code: number; reason: string }) => {},
    terminateSocket: () => {},
    log: (_, _record: LogRecord) => {},
    checkCredentials: (_, _request: AuthenticationRequest) => {},
    sendHelloOk: () => {},
    dispatchRequest: (_, _request: DispatchedRequest) => {},
    releaseConnection: () => {},
    /** Sends `pairing.persisted` (or `pairing.persistFailed`) back once this revision is on disk. */
    awaitPairingSaved: (_, _revision: number) => {},

    recordConnectRequest: assign(({ event }) => {
      if (event.type !== 'frame.connect') return {};
      const { minProtocol, maxProtocol } = event.params;
      return { connectRequestId: event.id, negotiatedProtocol: negotiateProtocol(minProtocol, maxProtocol) };
    }),
    recordSession: assign(({ event }) => {
      if (event.type !== 'auth.passed') return {};
      return event.awaitPairingRevision === undefined
        ? { session: event.session }
        : { session: event.session, awaitedPairingRevision: event.awaitPairingRevision };
    }),
    recordUnauthorizedCall: assign(({ context, event }) => {
      if (event.type !== 'request.unauthorized') return {};
      return { unauthorizedCalls: recentCalls(context, event.at) };
    }),
    rejectUnsavedPairing: effects(({ event, context, enqueue }) => {
      if (event.type !== 'pairing.persistFailed') return;
      if (context.connectRequestId) {
        const error = { code: 'UNAVAILABLE' as const, message: 'could not save the pairing state; try again', retryable: true };
        enqueue({ type: 'sendFrame', params: responseError(context.connectRequestId, error) });
      }
      enqueue({
        type: 'recordCause',
        params: { kind: 'pairing-not-saved', code: CloseCode.internalError, reason: 'pairing not saved', detail: event.message },
      });
    }),
    recordCause: assign((_, cause: CauseParams) => ({ closeCause: { by: 'gateway' as const, ...cause } })),
    recordPeerClose: assign(({ event }, kind: 'closed-before-connect' | 'helper-closed-before-connect' | 'peer-closed') => {
      if (event.type !== 'socket.closed') return {};
      return { closeCause: { kind, code: event.code, reason: event.reason, by: 'peer' as const } };
    }),
    recordSocketError: assign(({ event }) => {
      if (event.type !== 'socket.error') return {};
      const cause: CloseCause = { kind: 'socket-error', code: event.code ?? CloseCode.internalError, reason: event.reason ?? 'socket error', by: 'socket', detail: event.message };
      return { closeCause: cause };
    }),
    answerError: effects<{ message: string; details?: unknown }>(({ event, enqueue }, error) => {
      const id = 'id' in event ? event.id : undefined;
      if (id) enqueue({ type: 'sendFrame', params: responseError(id, invalidRequest(error.message, error.details)) });
    }),
    rejectProtocolMismatch: effects(({ event, enqueue }) => {
      if (event.type !== 'frame.connect') return;
      const error = invalidRequest('protocol mismatch', { expectedProtocol: { min: 3, max: 4 } });
      enqueue({ type: 'sendFrame', params: responseError(event.id, error) });
      enqueue({ type: 'recordCause', params: { kind: 'protocol-mismatch', code: CloseCode.protocolError, reason: 'protocol mismatch' } });
    }),
    rejectCredentials: effects(({ event, context, enqueue }) => {
      if (event.type !== 'auth.failed' || !context.connectRequestId) return;
      const { error, closeCode, closeReason } = event.rejection;
      const detail = (error.details as { code?: string } | undefined)?.code;
      enqueue({ type: 'sendFrame', params: responseError(context.connectRequestId, error) });
      enqueue({ type: 'recordCause', params: { kind: 'auth-rejected', code: closeCode, reason: closeReason, detail } });
    }),
    announceShutdown: effects(({ event, enqueue }) => {
      if (event.type !== 'gateway.shutdown') return;
      const payload = { reason: event.reason, restartExpectedMs: event.restartExpectedMs };
      enqueue({ type: 'sendFrame', params: eventFrame('shutdown', payload) });
    }),
    endSocket: effects(({ context, enqueue }) => {
      const cause = context.closeCause;
      if (cause?.by === 'gateway') enqueue({ type: 'closeSocket', params: { code: cause.code, reason: cause.reason } });
      else if (cause?.by === 'socket') enqueue({ type: 'terminateSocket' });
    }),
    reportJoin: sendTo(
      ({ context }) => context.supervisor,
      ({ context }): SupervisorEvent => ({
        type: 'connection.joined',
        connId: context.connId,
        remoteAddr: context.remoteAddr,
        session: context.session!,
        isLocalClient: context.isLoopback && !context.origin,
      }),
    ),
    reportLeave: sendTo(
      ({ context }) => context.supervisor,
      ({ context }): SupervisorEvent => ({ type: 'connection.left', connId: context.connId }),
    ),
  },
  guards: {
    sharesNoProtocolVersion: ({ event }) =>
      event.type === 'frame.connect' && negotiateProtocol(event.params.minProtocol, event.params.maxProtocol) === undefined,
    isSwiftPmHelperFromLoopback: ({ context }) =>
      context.isLoopback && (context.userAgent ?? '').toLowerCase().includes(SWIFTPM_HELPER_AGENT),
    hasRequestId: ({ event }) => 'id' in event && typeof event.id === 'string' && event.id.length > 0,
    mustAwaitPairingSave: ({ event }) => event.type === 'auth.passed' && event.awaitPairingRevision !== undefined,
    exceedsUnauthorizedCallLimit: ({ context, event }) =>
      event.type === 'request.unauthorized' &&
      context.unauthorizedCallLimit > 0 &&
      recentCalls(context, event.at).length > context.unauthorizedCallLimit,
  },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
  },
}).createMachine({
  id: 'connection',
  // One shape for the connection's whole life: every field is there from the start (undefined until it is
  // known), in one order, so each assign copies an object of the same hidden class (a spread of the input
  // made one shape per combination of optional fields, and each assign added fields to it).
  context: ({ input }): ConnectionContext => ({
    connId: input.connId,
    remoteAddr: input.remoteAddr,
    isLoopback: input.isLoopback,
    userAgent: input.userAgent,
    origin: input.origin,
    requestHost: input.requestHost,
    challengeNonce: input.challengeNonce,
    openedAt: input.openedAt,
    handshakeTimeoutMs: input.handshakeTimeoutMs,
    capabilities: input.capabilities ?? NO_CAPABILITIES,
    supervisor: input.supervisor,
    unauthorizedCallLimit: input.unauthorizedCallLimit ?? DEFAULT_UNAUTHORIZED_CALL_LIMIT,
    unauthorizedCallWindowMs: input.unauthorizedCallWindowMs ?? DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS,
    unauthorizedCalls: NO_CALLS,
    awaitedPairingRevision: undefined,
    connectRequestId: undefined,
    negotiatedProtocol: undefined,
    session: undefined,
    closeCause: undefined,
  }),
  initial: 'handshaking',
  on: {
    'socket.error': { target: '.closed', actions: 'recordSocketError' },
    'frame.tooLarge': {
      target: '.closed',
      // ws has already closed it 1009 with no reason: the log says what the peer saw.
      actions: { type: 'recordCause', params: ({ event }) => ({ kind: 'frame-too-large', code: CloseCode.messageTooBig, reason: '', detail: `frame above ${event.limit} bytes` }) },
    },
    'socket.slowConsumer': {
      target: '.closed',
      actions: {
        type: 'recordCause',
        // Terminated, not closed: a close frame would wait behind everything already buffered.
        params: ({ event }) => ({
          kind: 'slow-consumer',
          code: CloseCode.abnormalClosure,
          reason: 'slow consumer',
          by: 'socket',
          detail:
            event.gatewayBytes === undefined
              ? `${event.bufferedBytes} bytes buffered, limit ${event.limit}`
              : `${event.bufferedBytes} bytes buffered, the largest consumer while all sockets held ${event.gatewayBytes}, limit ${event.limit}`,
        }),
      },
    },
    'socket.pongTimeout': {
      target: '.closed',
      actions: {
        type: 'recordCause',
        params: ({ event }) => ({
          kind: 'pong-timeout',
          code: CloseCode.abnormalClosure,
          reason: 'pong timeout',
          by: 'socket',
          detail: `no pong within ${event.intervalMs} ms`,
        }),
      },
    },
    'gateway.shutdown': {
      target: '.closed',
      actions: { type: 'recordCause', params: { kind: 'shutdown', code: CloseCode.serviceRestart, reason: 'gateway shutting down' } },
    },
  },
  states: {
    handshaking: {
      after: {
        handshakeTimeout: {
          target: 'closed',
          actions: { type: 'recordCause', params: { kind: 'handshake-timeout', code: CloseCode.policyViolation, reason: 'handshake timeout' } },
        },
      },
      on: {
        'socket.closed': [
          { guard: 'isSwiftPmHelperFromLoopback', target: 'closed', actions: { type: 'recordPeerClose', params: 'helper-closed-before-connect' } },
          { target: 'closed', actions: { type: 'recordPeerClose', params: 'closed-before-connect' } },
        ],
        'frame.malformed': {
          target: 'closed',
          actions: [
            { type: 'answerError', params: ({ event }) => ({ message: event.message, details: event.details }) },
            {
              type: 'recordCause',
              params: ({ event }) => ({ kind: 'malformed-frame', code: CloseCode.protocolError, reason: 'malformed frame', detail: event.message }),
            },
          ],
        },
      },
      initial: 'awaitingConnect',
      states: {
        awaitingConnect: {
          entry: { type: 'sendFrame', params: ({ context }) => challengeFrame(context) },
          on: {
            'frame.connect': [
              { guard: 'sharesNoProtocolVersion', target: '#connection.closed', actions: 'rejectProtocolMismatch' },
              {
                target: 'authenticating',
                actions: [
                  'recordConnectRequest',
                  { type: 'checkCredentials', params: ({ context, event }) => ({ requestId: event.id, params: event.params, protocol: context.negotiatedProtocol! }) },
                ],
              },
            ],
            'frame.connectInvalid': {
              target: '#connection.closed',
              actions: [
                { type: 'answerError', params: ({ event }) => ({ message: event.message }) },
                {
                  type: 'recordCause',
                  params: ({ event }) => ({ kind: 'invalid-connect', code: CloseCode.protocolError, reason: 'invalid connect params', detail: event.message }),
                },
              ],
            },
            'frame.request': {
              target: '#connection.closed',
              actions: [
                { type: 'answerError', params: { message: 'first request must be connect' } },
                {
                  type: 'recordCause',
                  params: ({ event }) => ({ kind: 'connect-required', code: CloseCode.policyViolation, reason: 'connect required', detail: event.method }),
                },
              ],
            },
          },
        },
        authenticating: {
          on: {
            'auth.passed': [
              { guard: 'mustAwaitPairingSave', target: 'persisting', actions: 'recordSession' },
              { target: '#connection.ready', actions: 'recordSession' },
            ],
            'auth.failed': { target: '#connection.closed', actions: 'rejectCredentials' },
            'frame.connect': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
            'frame.connectInvalid': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
            'frame.request': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
          },
        },
        // The device was paired on this connect (or just before it): its token goes out in hello-ok only
        // once the pairing state holding it is on disk, so a crash cannot forget a device told it is paired.
        persisting: {
          entry: { type: 'awaitPairingSaved', params: ({ context }) => context.awaitedPairingRevision ?? 0 },
          on: {
            'pairing.persisted': { target: '#connection.ready' },
            'pairing.persistFailed': { target: '#connection.closed', actions: 'rejectUnsavedPairing' },
            'frame.connect': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
            'frame.connectInvalid': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
            'frame.request': { actions: { type: 'answerError', params: { message: 'handshake in progress' } } },
          },
        },
      },
    },
    ready: {
      entry: [{ type: 'log', params: ({ context }) => describeReady(context) }, 'reportJoin', 'sendHelloOk'],
      exit: 'reportLeave',
      on: {
        'frame.request': { actions: { type: 'dispatchRequest', params: ({ event }) => event } },
        'request.unauthorized': [
          {
            guard: 'exceedsUnauthorizedCallLimit',
            target: 'closed',
            actions: {
              type: 'recordCause',
              params: ({ context, event }) => ({
                kind: 'unauthorized-calls',
                code: CloseCode.policyViolation,
                reason: 'too many unauthorized calls',
                detail: `${context.unauthorizedCallLimit + 1} refused within ${context.unauthorizedCallWindowMs} ms, last ${event.method} (${event.code})`,
              }),
            },
          },
          { actions: 'recordUnauthorizedCall' },
        ],
        'frame.connect': { actions: { type: 'answerError', params: { message: 'already connected' } } },
        'frame.connectInvalid': { actions: { type: 'answerError', params: { message: 'already connected' } } },
        'frame.malformed': [
          { guard: 'hasRequestId', actions: { type: 'answerError', params: ({ event }) => ({ message: event.message, details: event.details }) } },
          {
            target: 'closed',
            actions: {
              type: 'recordCause',
              params: ({ event }) => ({ kind: 'malformed-frame', code: CloseCode.protocolError, reason: 'malformed frame', detail: event.message }),
            },
          },
        ],
        'socket.closed': { target: 'closed', actions: { type: 'recordPeerClose', params: 'peer-closed' } },
        'credentials.revoked': {
          target: 'closed',
          actions: {
            type: 'recordCause',
            params: ({ event }) => ({ kind: 'credentials-revoked', code: CloseCode.credentialsRevoked, reason: event.reason }),
          },
        },
        'gateway.shutdown': {
          target: 'closed',
          actions: [
            'announceShutdown',
            { type: 'recordCause', params: { kind: 'shutdown', code: CloseCode.serviceRestart, reason: 'gateway shutting down' } },
          ],
        },
      },
    },
    closed: {
      type: 'final',
      entry: ['endSocket', { type: 'log', params: ({ context }) => describeClose(context) }, 'releaseConnection'],
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;

/** The refused calls still inside the window once one more is made at `at`, at most limit + 1 of them. */
export function recentCalls(context: Pick<ConnectionContext, 'unauthorizedCalls' | 'unauthorizedCallLimit' | 'unauthorizedCallWindowMs'>, at: number): number[] {
  const windowStart = at - context.unauthorizedCallWindowMs;
  const recent = context.unauthorizedCalls.filter((time) => time > windowStart);
  recent.push(at);
  const keep = Math.max(1, context.unauthorizedCallLimit + 1);
  return recent.length > keep ? recent.slice(recent.length - keep) : recent;
}
