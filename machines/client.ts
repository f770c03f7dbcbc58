// A gateway client's connection, from the first dial to the decision to stop.
// Pure: the runtime opens and closes sockets, writes frames and settles promises as the effects below
// say (provided with `machine.provide(...)`), and reports what its socket does as events. Randomness
// (the backoff's jitter) comes in with the input, so every run of the machine can be replayed.
import { and, assign, emit, enqueueActions, setup } from 'xstate';
import { CloseCode, DetailCode, type ErrorShape } from './protocol.js';

/** Exponential backoff with full jitter: attempt n waits a uniform draw from [0, min(capMs, baseMs * factor^n)]. */
export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, factor: 2, capMs: 30_000 };
/** The reference gateway's tick interval, assumed when hello-ok carries no `policy.tickIntervalMs`. */
export const DEFAULT_TICK_INTERVAL_MS = 30_000;
export const DEFAULT_CLIENT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** The code this client closes with when it gives up on a socket itself (tick or handshake timeout). */
export const CLIENT_TIMEOUT_CLOSE_CODE = 4000;

/** The ceiling of the n-th retry's delay (n from 0): min(cap, base * factor^n). */
export function backoffCeiling(policy: BackoffPolicy, retry: number): number {
  return Math.min(policy.capMs, policy.baseMs * Math.pow(policy.factor, retry));
}

/** Full jitter: a draw from [0, ceiling], whole milliseconds. `random` returns values in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number): number {
  const ceiling = Math.floor(backoffCeiling(policy, retry));
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.min(ceiling, Math.floor(draw * (ceiling + 1)));
}

export interface ClientInput {
  backoff?: BackoffPolicy;
  /** From dialling to hello-ok; past it the client drops the socket (4000 "handshake timeout"). */
  handshakeTimeoutMs?: number;
  /** Watchdog base when hello-ok has no `policy.tickIntervalMs` (30 s, the reference's interval). */
  defaultTickIntervalMs?: number;
  /** Dials without a hello-ok before giving up (a session that ends counts as one); absent: no limit. 1: a probe. */
  maxAttempts?: number;
  /** A source of uniform draws from [0, 1) for the jitter; Math.random when absent. */
  random?: () => number;
}

/** Why the client stopped for good: each needs someone to act before trying again helps. */
export type StopReason = 'closed-by-user' | 'auth-rejected' | 'pairing-required' | 'protocol-error' | 'attempts-exhausted';

/**
 * What the client did about a closed socket. `credentials-revoked` (4001): it stops dialling and waits
 * for new credentials (`credentials.updated`) or a `stop`. `awaiting-approval`: its pairing request is
 * open and the gateway said to wait and retry; it keeps dialling (backing off) until an operator approves.
 * `retry-with-device-token`: the gateway token was refused and the gateway hinted that the device token
 * may do; the client dials once more with it.
 */
export type CloseDecision =
  | 'reconnect'
  | 'back-off'
  | 'rate-limited'
  | 'awaiting-approval'
  | 'retry-with-device-token'
  | 'credentials-revoked'
  | StopReason;

export interface CloseRecord {
  code: number;
  reason: string;
  /** `server`: the gateway (or the network) closed it; `client`: this client gave up on it. */
  by: 'server' | 'client';
}

export interface ClientContext {
  backoff: BackoffPolicy;
  handshakeTimeoutMs: number;
  defaultTickIntervalMs: number;
  maxAttempts?: number;
  random: () => number;
  /** Dials so far. */
  attempt: number;
  /** Retries since the last hello-ok: the exponent of the next backoff. */
  retries: number;
  /** The connect error of the current attempt (the gateway answers it before it closes). */
  rejection?: ErrorShape;
  /** A device token issued in a hello-ok of this run is at hand, one the connect does not send yet. */
  deviceToken: boolean;
  /** The one dial with the device token after a refused gateway token was made since the last hello-ok. */
  deviceTokenRetried: boolean;
  protocol?: number;
  tickIntervalMs?: number;
  connId?: string;
  /** Ids of requests sent on this connection and not answered yet. */
  inFlight: string[];
  lastClose?: CloseRecord;
  lastDecision?: CloseDecision;
  nextDelayMs?: number;
  stopReason?: StopReason;
}

export interface HelloSummary {
  protocol: number;
  tickIntervalMs?: number;
  connId?: string;
  /** The hello-ok carried a device token (`auth.deviceToken`) the client may fall back on (not one it sends already). */
  deviceToken?: boolean;
}

export type ClientEvent =
  | { type: 'socket.open' }
  | { type: 'socket.closed'; code: number; reason: string }
  | { type: 'frame.challenge'; nonce: string }
  | { type: 'frame.helloOk'; hello: HelloSummary }
  | { type: 'frame.connectError'; error: ErrorShape }
  | { type: 'frame.tick' }
  | { type: 'frame.response'; id: string; ok: boolean; payload?: unknown; error?: ErrorShape }
  | { type: 'request.send'; id: string; method: string; params?: unknown }
  /** The runtime holds new credentials: dial again with them. */
  | { type: 'credentials.updated' }
  | { type: 'stop' };

/** What the client reports as it goes, for observers (the library turns them into an Observable). */
export type ClientEmitted =
  | { type: 'attempt'; attempt: number }
  | { type: 'open'; attempt: number }
  | { type: 'challenge'; attempt: number }
  | { type: 'connected'; attempt: number; hello: HelloSummary }
  | { type: 'disconnected'; code: number; reason: string; by: CloseRecord['by']; decision: CloseDecision; delayMs?: number }
  | { type: 'credentials.required'; code: number; reason: string }
  | { type: 'stopped'; reason: StopReason; code?: number; closeReason?: string; error?: ErrorShape };

/** A request the runtime answers itself: it never reached the gateway, or its connection is gone. */
export interface RequestFailure {
  ids: string[];
  code: 'NOT_CONNECTED' | 'DISCONNECTED';
  message: string;
}

const RECONNECT_CODES: readonly number[] = [CloseCode.normal, CloseCode.goingAway, CloseCode.serviceRestart];

function detailCode(error: ErrorShape | undefined): string | undefined {
  const code = (error?.details as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * How a 1008 close is meant, from the connect error when the gateway sent one (its `details.code`
 * is exact), else from the close reason. Anything else under 1008 (handshake timeout, slow consumer,
 * connect required) is a condition that may pass: back off.
 */
export function classifyPolicyClose(
  reason: string,
  rejection?: ErrorShape,
): 'rate-limited' | 'auth-rejected' | 'pairing-required' | 'awaiting-approval' | 'other' {
  const code = detailCode(rejection);
  if (code === DetailCode.AUTH_RATE_LIMITED || code === DetailCode.PAIRING_RATE_LIMITED || code === DetailCode.PAIRING_REQUESTS_LIMITED) return 'rate-limited';
  if (code === DetailCode.PAIRING_REQUIRED) return hintsWaitForApproval(rejection) ? 'awaiting-approval' : 'pairing-required';
  if (code !== undefined && (code.startsWith('AUTH_') || code.startsWith('DEVICE_') || code === DetailCode.CONTROL_UI_ORIGIN_NOT_ALLOWED)) return 'auth-rejected';
  const text = reason.trim().toLowerCase();
  if (text === 'too many failed attempts' || text === 'too many pairings' || text === 'too many pairing requests') return 'rate-limited';
  if (text.startsWith('pairing required')) return 'pairing-required';
  if (text.startsWith('unauthorized') || text.startsWith('device ') || text.startsWith('origin not allowed')) return 'auth-rejected';
  return 'other';
}

/** PAIRING_REQUIRED with the reference's hint to keep dialling: `pauseReconnect: false` or `wait_then_retry`. */
function hintsWaitForApproval(error: ErrorShape | undefined): boolean {
  const details = error?.details as { pauseReconnect?: unknown; recommendedNextStep?: unknown } | undefined;
  return details?.pauseReconnect === false || details?.recommendedNextStep === 'wait_then_retry';
}

/** A refused gateway token the reference says a device token may stand in for. */
export function hintsDeviceTokenRetry(error: ErrorShape | undefined): boolean {
  const details = error?.details as { canRetryWithDeviceToken?: unknown; recommendedNextStep?: unknown; code?: unknown } | undefined;
  return (
    details?.code === DetailCode.AUTH_TOKEN_MISMATCH &&
    (details.canRetryWithDeviceToken === true || details.recommendedNextStep === 'retry_with_device_token')
  );
}

type Close = { code: number; reason: string };
const closeOf = (event: ClientEvent): Close => (event.type === 'socket.closed' ? { code: event.code, reason: event.reason } : { code: 0, reason: '' });

const policyCloseIs =
  (kind: ReturnType<typeof classifyPolicyClose>) =>
  ({ context, event }: { context: ClientContext; event: ClientEvent }) => {
    const { code, reason } = closeOf(event);
    return code === CloseCode.policyViolation && classifyPolicyClose(reason, context.rejection) === kind;
  };

/** The effects the runtime provides, as the semantic actions below enqueue them. */
type Effect =
  | { type: 'openSocket'; params: { attempt: number } }
  | { type: 'closeSocket'; params: { code: number; reason: string } }
  | { type: 'useDeviceToken' }
  | { type: 'sendConnect'; params: { attempt: number; nonce: string } }
  | { type: 'sendRequest'; params: { id: string; method: string; params?: unknown } }
  | { type: 'settleRequest'; params: { id: string; ok: boolean; payload?: unknown; error?: ErrorShape } }
  | { type: 'failRequests'; params: RequestFailure };

interface EffectArgs {
  context: ClientContext;
  event: ClientEvent;
  enqueue: (effect: Effect) => void;
  assign: (patch: Partial<ClientContext>) => void;
  emit: (emitted: ClientEmitted) => void;
}

/**
 * An action made of effects, context updates and emitted events. Typing `enqueue` here, instead of
 * letting `setup` infer it from the very actions object being defined, breaks a circular inference.
 */
function effects<TParams = undefined>(build: (args: EffectArgs, params: TParams) => void) {
  return enqueueActions<ClientContext, ClientEvent, TParams, ClientEvent, never, never, never, never, ClientEmitted>(
    ({ context, event, enqueue }, params) =>
      build(
        {
          context,
          event,
          enqueue: enqueue as unknown as (effect: Effect) => void,
          assign: (patch) => enqueue.assign(patch),
          emit: (emitted) => enqueue.emit(emitted),
        },
        params,
      ),
  );
}

const HANDSHAKE_TIMEOUT = { code: CLIENT_TIMEOUT_CLOSE_CODE, reason: 'handshake timeout' } as const;
const TICK_TIMEOUT = { code: CLIENT_TIMEOUT_CLOSE_CODE, reason: 'tick timeout' } as const;
const USER_CLOSE = { code: CloseCode.normal, reason: 'client closing' } as const;

export const clientMachine = setup({
  types: {
    context: {} as ClientContext,
    events: {} as ClientEvent,
    input: {} as ClientInput,
    emitted: {} as ClientEmitted,
  },
  actions: {
    // Effects the runtime provides. The defaults do nothing so the machine runs anywhere.
    openSocket: (_, _dial: { attempt: number }) => {},
    closeSocket: (_, _close: { code: number; reason: string }) => {},
    /** From the next dial on, the connect carries the device token as `auth.deviceToken`. */
    useDeviceToken: () => {},
    sendConnect: (_, _connect: { attempt: number; nonce: string }) => {},
    sendRequest: (_, _request: { id: string; method: string; params?: unknown }) => {},
    settleRequest: (_, _response: { id: string; ok: boolean; payload?: unknown; error?: ErrorShape }) => {},
    failRequests: (_, _failure: RequestFailure) => {},

    beginAttempt: effects(({ context, enqueue, assign, emit }) => {
      const attempt = context.attempt + 1;
      assign({ attempt, rejection: undefined, protocol: undefined, tickIntervalMs: undefined, connId: undefined });
      emit({ type: 'attempt', attempt });
      enqueue({ type: 'openSocket', params: { attempt } });
    }),
    reportOpen: emit(({ context }) => ({ type: 'open' as const, attempt: context.attempt })),
    answerChallenge: effects(({ context, event, enqueue, emit }) => {
      if (event.type !== 'frame.challenge') return;
      emit({ type: 'challenge', attempt: context.attempt });
      enqueue({ type: 'sendConnect', params: { attempt: context.attempt, nonce: event.nonce } });
    }),
    recordRejection: assign(({ event }) => (event.type === 'frame.connectError' ? { rejection: event.error } : {})),
    recordHello: assign(({ context, event }) => {
      if (event.type !== 'frame.helloOk') return {};
      const { protocol, tickIntervalMs, connId, deviceToken } = event.hello;
      return { protocol, tickIntervalMs, connId, retries: 0, rejection: undefined, deviceToken: context.deviceToken || deviceToken === true, deviceTokenRetried: false };
    }),
    reportConnected: emit(({ context }) => ({
      type: 'connected' as const,
      attempt: context.attempt,
      hello: { protocol: context.protocol ?? 0, tickIntervalMs: context.tickIntervalMs, connId: context.connId },
    })),
    sendTrackedRequest: effects(({ context, event, enqueue, assign }) => {
      if (event.type !== 'request.send') return;
      assign({ inFlight: [...context.inFlight, event.id] });
      enqueue({ type: 'sendRequest', params: { id: event.id, method: event.method, params: event.params } });
    }),
    refuseRequest: effects(({ event, enqueue }) => {
      if (event.type !== 'request.send') return;
      enqueue({ type: 'failRequests', params: { ids: [event.id], code: 'NOT_CONNECTED', message: 'not connected to the gateway' } });
    }),
    settleTrackedRequest: effects(({ context, event, enqueue, assign }) => {
      if (event.type !== 'frame.response' || !context.inFlight.includes(event.id)) return;
      assign({ inFlight: context.inFlight.filter((id) => id !== event.id) });
      const { type: _type, ...response } = event;
      enqueue({ type: 'settleRequest', params: response });
    }),
    /** Requests in flight cannot be answered on another connection: they fail the moment this one ends. */
    failInFlight: effects(({ context, enqueue, assign }) => {
      if (context.inFlight.length === 0) return;
      enqueue({ type: 'failRequests', params: { ids: context.inFlight, code: 'DISCONNECTED', message: 'connection to the gateway lost' } });
      assign({ inFlight: [] });
    }),
    recordServerClose: assign(({ event }) => ({ lastClose: { ...closeOf(event), by: 'server' as const } })),
    /** This client gives up on the socket: close it, and consider it closed from now on. */
    abandonSocket: effects<{ code: number; reason: string }>(({ enqueue, assign }, close) => {
      enqueue({ type: 'closeSocket', params: close });
      assign({ lastClose: { ...close, by: 'client' as const } });
    }),
    /** One more dial, with the device token beside the refused gateway token. */
    retryWithDeviceToken: effects(({ enqueue, assign }) => {
      enqueue({ type: 'useDeviceToken' });
      assign({ deviceTokenRetried: true });
    }),
    scheduleReconnect: effects<'reconnect' | 'back-off' | 'rate-limited' | 'awaiting-approval' | 'retry-with-device-token'>(({ context, assign, emit }, decision) => {
      const jittered = backoffDelay(context.backoff, context.retries, context.random);
      const retryAfterMs = decision === 'rate-limited' ? (context.rejection?.retryAfterMs ?? 0) : 0;
      const delayMs = Math.max(jittered, retryAfterMs);
      assign({ retries: context.retries + 1, nextDelayMs: delayMs, lastDecision: decision });
      const close = context.lastClose ?? { code: 0, reason: '', by: 'server' as const };
      emit({ type: 'disconnected', code: close.code, reason: close.reason, by: close.by, decision, delayMs });
    }),
    recordStop: effects<StopReason>(({ context, assign, emit }, reason) => {
      assign({ stopReason: reason, lastDecision: reason, nextDelayMs: undefined });
      const close = context.lastClose;
      if (close && reason !== 'closed-by-user') {
        emit({ type: 'disconnected', code: close.code, reason: close.reason, by: close.by, decision: reason });
      }
    }),
    /** Credentials were revoked: no more dials until the runtime has new ones. */
    askForCredentials: effects(({ context, assign, emit }) => {
      assign({ lastDecision: 'credentials-revoked', nextDelayMs: undefined });
      const close = context.lastClose ?? { code: CloseCode.credentialsRevoked, reason: '', by: 'server' as const };
      emit({ type: 'disconnected', code: close.code, reason: close.reason, by: close.by, decision: 'credentials-revoked' });
      emit({ type: 'credentials.required', code: close.code, reason: close.reason });
    }),
    /** New credentials start a fresh series of dials. */
    resetRetries: assign({ retries: 0 }),
    reportStopped: emit(({ context }) => ({
      type: 'stopped' as const,
      reason: context.stopReason ?? 'closed-by-user',
      ...(context.lastClose ? { code: context.lastClose.code, closeReason: context.lastClose.reason } : {}),
      ...(context.rejection ? { error: context.rejection } : {}),
    })),
  },
  guards: {
    isCredentialsRevoked: ({ event }) => closeOf(event).code === CloseCode.credentialsRevoked,
    isProtocolError: ({ event }) => closeOf(event).code === CloseCode.protocolError,
    isRateLimited: policyCloseIs('rate-limited'),
    isAuthRejected: policyCloseIs('auth-rejected'),
    isPairingRequired: policyCloseIs('pairing-required'),
    isAwaitingApproval: policyCloseIs('awaiting-approval'),
    /** The gateway token was refused with the hint to try the device token, one is at hand, and it was not tried yet. */
    mayRetryWithDeviceToken: ({ context, event }) =>
      closeOf(event).code === CloseCode.policyViolation && context.deviceToken && !context.deviceTokenRetried && hintsDeviceTokenRetry(context.rejection),
    /** Dials since the last hello-ok (this one included) reached maxAttempts. */
    attemptsExhausted: ({ context }) => context.maxAttempts !== undefined && context.retries + 1 >= context.maxAttempts,
    isOrderlyClose: ({ event }) => RECONNECT_CODES.includes(closeOf(event).code),
    isAnswerToInFlight: ({ context, event }) => event.type === 'frame.response' && context.inFlight.includes(event.id),
  },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
    reconnectDelay: ({ context }) => context.nextDelayMs ?? 0,
    tickWatchdog: ({ context }) => 2 * (context.tickIntervalMs ?? context.defaultTickIntervalMs),
  },
}).createMachine({
  id: 'client',
  context: ({ input }) => ({
    backoff: input.backoff ?? DEFAULT_BACKOFF,
    handshakeTimeoutMs: input.handshakeTimeoutMs ?? DEFAULT_CLIENT_HANDSHAKE_TIMEOUT_MS,
    defaultTickIntervalMs: input.defaultTickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS,
    ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
    random: input.random ?? Math.random,
    deviceToken: false,
    deviceTokenRetried: false,
    attempt: 0,
    retries: 0,
    inFlight: [],
  }),
  initial: 'online',
  on: {
    // Outside `connected` nothing can carry a request: it fails at once rather than wait for a socket.
    'request.send': { actions: 'refuseRequest' },
  },
  states: {
    online: {
      entry: 'beginAttempt',
      on: {
        stop: { target: 'stopped', actions: [{ type: 'abandonSocket', params: USER_CLOSE }, { type: 'recordStop', params: 'closed-by-user' }] },
        // The decision table: the close code (and for 1008 the gateway's reason) says whether retrying can help.
        'socket.closed': [
          { guard: 'isCredentialsRevoked', target: 'awaitingCredentials', actions: ['recordServerClose', 'askForCredentials'] },
          { guard: 'isProtocolError', target: 'stopped', actions: ['recordServerClose', { type: 'recordStop', params: 'protocol-error' }] },
          {
            guard: 'mayRetryWithDeviceToken',
            target: 'backingOff',
            actions: ['recordServerClose', 'retryWithDeviceToken', { type: 'scheduleReconnect', params: 'retry-with-device-token' }],
          },
          { guard: 'isAuthRejected', target: 'stopped', actions: ['recordServerClose', { type: 'recordStop', params: 'auth-rejected' }] },
          { guard: 'isPairingRequired', target: 'stopped', actions: ['recordServerClose', { type: 'recordStop', params: 'pairing-required' }] },
          // No dials left to wait with: the pairing it waits for is why it stops.
          {
            guard: and(['isAwaitingApproval', 'attemptsExhausted']),
            target: 'stopped',
            actions: ['recordServerClose', { type: 'recordStop', params: 'pairing-required' }],
          },
          { guard: 'attemptsExhausted', target: 'stopped', actions: ['recordServerClose', { type: 'recordStop', params: 'attempts-exhausted' }] },
          // Its pairing request is open: dial again (backing off) until an operator approves it.
          { guard: 'isAwaitingApproval', target: 'backingOff', actions: ['recordServerClose', { type: 'scheduleReconnect', params: 'awaiting-approval' }] },
          { guard: 'isRateLimited', target: 'backingOff', actions: ['recordServerClose', { type: 'scheduleReconnect', params: 'rate-limited' }] },
          { guard: 'isOrderlyClose', target: 'backingOff', actions: ['recordServerClose', { type: 'scheduleReconnect', params: 'reconnect' }] },
          { target: 'backingOff', actions: ['recordServerClose', { type: 'scheduleReconnect', params: 'back-off' }] },
        ],
      },
      initial: 'handshake',
      states: {
        handshake: {
          after: {
            handshakeTimeout: [
              {
                guard: 'attemptsExhausted',
                target: '#client.stopped',
                actions: [{ type: 'abandonSocket', params: HANDSHAKE_TIMEOUT }, { type: 'recordStop', params: 'attempts-exhausted' }],
              },
              {
                target: '#client.backingOff',
                actions: [{ type: 'abandonSocket', params: HANDSHAKE_TIMEOUT }, { type: 'scheduleReconnect', params: 'back-off' }],
              },
            ],
          },
          initial: 'connecting',
          states: {
            connecting: {
              on: { 'socket.open': { target: 'awaitingChallenge', actions: 'reportOpen' } },
            },
            awaitingChallenge: {
              on: { 'frame.challenge': { target: 'handshaking', actions: 'answerChallenge' } },
            },
            handshaking: {
              on: {
                'frame.helloOk': { target: '#client.online.connected', actions: 'recordHello' },
                // The gateway closes right after its error; the close decides, with the error's details at hand.
                'frame.connectError': { actions: 'recordRejection' },
              },
            },
          },
        },
        connected: {
          entry: 'reportConnected',
          exit: 'failInFlight',
          on: {
            'request.send': { actions: 'sendTrackedRequest' },
            'frame.response': { guard: 'isAnswerToInFlight', actions: 'settleTrackedRequest' },
          },
          initial: 'watching',
          states: {
            watching: {
              after: {
                tickWatchdog: [
                  {
                    guard: 'attemptsExhausted',
                    target: '#client.stopped',
                    actions: [{ type: 'abandonSocket', params: TICK_TIMEOUT }, { type: 'recordStop', params: 'attempts-exhausted' }],
                  },
                  {
                    target: '#client.backingOff',
                    actions: [{ type: 'abandonSocket', params: TICK_TIMEOUT }, { type: 'scheduleReconnect', params: 'back-off' }],
                  },
                ],
              },
              on: { 'frame.tick': { target: 'watching', reenter: true } },
            },
          },
        },
      },
    },
    backingOff: {
      after: { reconnectDelay: 'online' },
      on: { stop: { target: 'stopped', actions: { type: 'recordStop', params: 'closed-by-user' } } },
    },
    awaitingCredentials: {
      on: {
        'credentials.updated': { target: 'online', actions: 'resetRetries' },
        stop: { target: 'stopped', actions: { type: 'recordStop', params: 'closed-by-user' } },
      },
    },
    stopped: {
      type: 'final',
      entry: 'reportStopped',
    },
  },
});

export type ClientMachine = typeof clientMachine;
