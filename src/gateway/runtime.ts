// A listening gateway, put together from its concerns: the supervisor and what it says, the outbound side,
// the connections and their actors, and the transport. Built by `listen()`, taken apart by `stopRuntime`.
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { ConnectionContext } from '../../machines/connection.js';
import type { PairingState } from '../../machines/pairing.js';
import { ProtocolLimits, eventFrame } from '../../machines/protocol.js';
import { createCountingClock, type CountingClock } from '../actors/clock.js';
import type { AdmissionPolicy } from '../auth/admission.js';
import { newDeviceToken } from '../auth/device-pairing.js';
import { hashDeviceToken } from '../auth/device-token.js';
import type { GatewaySecret } from '../auth/gateway-secret.js';
import { nodeDeviceCrypto } from '../auth/node-crypto.js';
import { AuthFailureLimiter } from '../auth/rate-limit.js';
import { ConnectionTable, type Connection } from '../connections/connection.js';
import { provideConnectionEffects } from '../connections/effects.js';
import { startConnectionHost } from '../connections/host.js';
import { startPinging } from '../connections/keepalive.js';
import { socketHandlers } from '../connections/sockets.js';
import type { BuiltinServices } from '../methods/builtin/index.js';
import { NodeCommandPolicy } from '../methods/node-command-policy.js';
import type { MethodRegistry } from '../methods/registry.js';
import type { Logger } from 'pino';
import { Backpressure } from '../outbound/backpressure.js';
import { PRESENCE_AUDIENCE, reaches } from '../outbound/broadcasts.js';
import { GatewayBuffers } from '../outbound/budget.js';
import { Outbound, localFanOut, type FanOutAdapter } from '../outbound/outbound.js';
import { helloOkFrame } from '../protocol/hello.js';
import type { DurabilityTracker } from '../store/durability.js';
import type { JsonFileStore } from '../store/json-file-store.js';
import { persistPairing } from '../store/pairing-persistence.js';
import { InvokeRunner } from '../supervisor/invokes.js';
import { SupervisorRequests } from '../supervisor/requests.js';
import { createSupervisor, type SupervisorActor } from '../supervisor/supervisor.js';
import { SupervisorView } from '../supervisor/view.js';
import { UpgradeAdmission } from '../transport/upgrade-admission.js';
import type { Transport } from '../transport/types.js';
import { createWsTransport } from '../transport/ws-transport.js';
import { healthPayload, httpRoutes } from './http-routes.js';
import type { ResolvedOptions } from '../config/options.js';
import { wireSupervisor } from './supervisor-wiring.js';

/** Expired entries of the per-address limits are swept this often (they are also dropped on access). */
const LIMITS_SWEEP_INTERVAL_MS = 60_000;

export interface RuntimeInput {
  options: ResolvedOptions;
  logger: Logger;
  registry: MethodRegistry;
  /** hello-ok's features, serialised. */
  featuresJson(): string;
  secret: GatewaySecret;
  store: JsonFileStore<PairingState> | undefined;
  pairing: PairingState;
  inspect: ((event: InspectionEvent) => void) | undefined;
}

export interface Runtime {
  readonly port: number;
  readonly startedAt: number;
  readonly clock: CountingClock;
  readonly supervisor: SupervisorActor;
  /** The invoke actors, started and told what happens as the supervisor says. */
  readonly invokes: InvokeRunner;
  readonly view: SupervisorView;
  readonly requests: SupervisorRequests;
  readonly table: ConnectionTable;
  readonly outbound: Outbound<Connection>;
  readonly adapter: FanOutAdapter;
  readonly admission: UpgradeAdmission;
  readonly transport: Transport;
  readonly durability: DurabilityTracker<PairingState>;
  readonly store: JsonFileStore<PairingState> | undefined;
  readonly host: AnyActorRef;
  readonly subscriptions: Subscription[];
  /** Stops the timers of the runtime's own (pings, the limits' sweep). */
  stopTimers(): void;
}

/** The supervisor, its reader and its request table, and the pairing state's persistence. */
function superviseShared(input: RuntimeInput, clock: CountingClock, startedAt: number) {
  const { options } = input;
  const supervisor = createSupervisor({
    host: options.host,
    startedAt,
    tickIntervalMs: options.tickIntervalMs,
    pairingMode: options.pairing,
    pairingTtlMs: options.pairingTtlMs,
    pairingLimits: {
      maxPending: options.pairingMaxPending,
      maxPendingPerAddress: options.pairingMaxPendingPerAddress,
      maxPairedDevices: options.pairingMaxDevices,
      maxPairedNodes: options.pairingMaxNodes,
    },
    pairing: input.pairing,
    invokeLimits: { perCaller: options.maxInvokesPerCaller, perNode: options.maxInvokesPerNode, total: options.maxInvokesInFlight },
    clock,
    ...(input.inspect ? { inspect: input.inspect } : {}),
  });
  const view = new SupervisorView(supervisor);
  const requests = new SupervisorRequests(supervisor);
  const durability = persistPairing({
    store: input.store,
    snapshot: () => view.pairingSnapshot(),
    report: (event) => view.isActive() && supervisor.send(event),
    logger: input.logger,
  });
  return { supervisor, view, requests, durability };
}

/** Who is let in: the per-address lockout after failed authentications, the credentials, the pairing gate. */
function admissionPolicy(input: RuntimeInput, supervisor: SupervisorActor, view: SupervisorView): AdmissionPolicy {
  const { options } = input;
  return {
    auth: input.secret.auth,
    crypto: options.crypto ?? nodeDeviceCrypto,
    pairingMode: options.pairing,
    authLimiter: new AuthFailureLimiter({
      maxFailures: options.authMaxFailures,
      windowMs: options.authFailureWindowMs,
      lockoutMs: options.authLockoutMs,
      exemptLoopback: !options.authRateLimitLoopback,
    }),
    authFailureWindowMs: options.authFailureWindowMs,
    pairings: view.devicePairings((event) => supervisor.send(event)),
    allowedOrigins: options.allowedOrigins,
    // Counted as the failure limiter counts failures: pairingSilentMax within the window refuses the address for a window.
    silentPairings: new AuthFailureLimiter({
      maxFailures: options.pairingSilentMax,
      windowMs: options.pairingSilentWindowMs,
      lockoutMs: options.pairingSilentWindowMs,
      exemptLoopback: false,
    }),
    nodeIds: { claimRefusal: (session) => view.nodeIdClaimRefusal(session) },
    logger: input.logger,
  };
}

/**
 * Writes to sockets. Responses, ticks and targeted events are never dropped; presence is coalesced to
 * the newest and node events skipped while a socket is above its high watermark; a peer that lets more
 * than maxBufferedBytes pile up is terminated as a slow consumer, and when every socket together holds
 * more than maxTotalBufferedBytes the largest consumers are, rather than have the gateway's memory grow.
 */
function outboundSide(options: ResolvedOptions, logger: Logger, table: ConnectionTable, transport: () => Transport) {
  const { highWaterBytes, lowWaterBytes, maxBufferedBytes, maxTotalBufferedBytes } = options;
  const slowConsumer = (connection: Connection, bufferedBytes: number, limit: number, gatewayBytes?: number) =>
    queueMicrotask(
      () => connection.live && connection.actor.send({ type: 'socket.slowConsumer', bufferedBytes, limit, ...(gatewayBytes === undefined ? {} : { gatewayBytes }) }),
    );
  const buffers =
    maxTotalBufferedBytes > 0
      ? new GatewayBuffers(maxTotalBufferedBytes, {
          sockets: () => table.values(),
          onLargestConsumer: (state, bufferedBytes, totalBytes, limit) => slowConsumer(state as Connection, bufferedBytes, limit, totalBytes),
          onShedding: (shedding, totalBytes, limit) =>
            shedding
              ? logger.warn({ event: 'buffers.shedding', totalBytes, limit }, 'gateway buffers past 3/4 of their cap: congested sockets get no presence, health or node events')
              : logger.info({ event: 'buffers.relieved', totalBytes, limit }, 'gateway buffers back under 3/4 of their cap'),
        })
      : undefined;
  const backpressure = new Backpressure(
    { highWaterBytes, lowWaterBytes, maxBufferedBytes },
    {
      onSlowConsumer: (state, bufferedBytes, limit) => slowConsumer(state as Connection, bufferedBytes, limit),
      onceDrained: (state, callback) => transport().onceDrained((state as Connection).socket, callback),
      onCongested: (state, bufferedBytes) => {
        const { connId, remoteAddr } = state as Connection;
        logger.debug({ connId, remoteAddr, event: 'backpressure.holding', bufferedBytes }, 'socket congested: coalescing presence until it drains');
      },
    },
    buffers,
  );
  const outbound = new Outbound<Connection>(backpressure, () => table.readyConnections());
  return { backpressure, outbound, adapter: localFanOut(outbound) };
}

/** The parts that do not touch the network: shared state, its persistence, the outbound side, the admission. */
function buildCore(input: RuntimeInput, transport: () => Transport, services: (services: BuiltinServices) => void) {
  const { options, logger } = input;
  const clock = createCountingClock();
  const startedAt = Date.now();
  const { supervisor, view, requests, durability } = superviseShared(input, clock, startedAt);
  const table = new ConnectionTable();
  const admission = new UpgradeAdmission({
    maxConnections: options.maxConnections,
    maxPreauthPerAddress: options.maxPreauthPerAddress,
    openSockets: () => table.size,
    logger,
  });
  const { backpressure, outbound, adapter } = outboundSide(options, logger, table, transport);
  const invokes = new InvokeRunner({
    report: (event) => view.isActive() && supervisor.send(event),
    tellNodeToCancel: (nodeConnId, cancel) => {
      const connection = table.get(nodeConnId);
      if (!connection?.live) return;
      outbound.send(connection, eventFrame('node.invoke.cancel', cancel));
      logger.debug({ event: 'invoke.cancelled', ...cancel, nodeConnId }, 'node told to cancel an invoke');
    },
    onActorError: (invokeId, err) => logger.error({ event: 'invoke.failed', invokeId, err }, 'invoke actor failed'),
    clock,
    ...(input.inspect ? { inspect: input.inspect } : {}),
  });
  view.countInvokeActors(() => invokes.size);
  const health = { startedAt, openSockets: () => table.size, readySockets: () => table.readyCount };
  const nodeCommands = new NodeCommandPolicy({ allow: options.nodeCommandsAllow, deny: options.nodeCommandsDeny });
  services({ view, requests, health: () => healthPayload(health), newDeviceToken, hashDeviceToken, nodeCommands, maxNodeEventBytes: options.maxNodeEventBytes });
  const subscriptions = wireSupervisor({
    supervisor,
    invokes,
    requests,
    table,
    outbound,
    adapter,
    persist: (revision) => durability.persist(revision),
    presenceWindowMs: options.presenceWindowMs,
    logger,
  });
  supervisor.start();
  const credentials = admissionPolicy(input, supervisor, view);
  return { clock, startedAt, supervisor, invokes, view, requests, durability, table, admission, backpressure, outbound, adapter, health, subscriptions, credentials };
}

type Core = ReturnType<typeof buildCore>;

/** The connection actors and their effects, as handlers of the transport's sockets. */
function buildConnections(input: RuntimeInput, core: Core, transport: () => Transport) {
  const { options, logger } = input;
  const { table, view, durability, outbound, admission, health, startedAt } = core;
  const bootId = randomUUID();
  const host = startConnectionHost(core.clock, logger, input.inspect);
  const leavePreauth = (connection: Connection) => {
    if (connection.preauthAddr === undefined) return;
    admission.release(connection.preauthAddr);
    connection.preauthAddr = undefined;
  };
  const policy = { maxPayload: ProtocolLimits.maxPayloadBytes, maxBufferedBytes: options.maxBufferedBytes, tickIntervalMs: options.tickIntervalMs };
  const helloOk = (context: ConnectionContext) => {
    const session = context.session!;
    const presence = reaches(session, PRESENCE_AUDIENCE) ? view.presence() : [];
    const snapshot = { presence, health: healthPayload(health), stateVersion: view.stateVersion(), uptimeMs: Date.now() - startedAt };
    // The socket's own limit: small for read-only and pairing operators (src/methods/registry.ts, maxPayloadFor).
    const ownPolicy = { ...policy, maxPayload: input.registry.maxPayloadFor(session) };
    return helloOkFrame(context.connectRequestId!, { session, connId: context.connId, bootId, snapshot, policy: ownPolicy }, input.featuresJson());
  };
  const machine = provideConnectionEffects({
    table,
    outbound,
    logger,
    credentials: {
      policy: core.credentials,
      pairingRevision: () => view.pairingRevision(),
      isDurable: (revision) => durability.isDurable(revision),
      isLive: (connId) => table.get(connId)?.live === true,
    },
    requests: { registry: input.registry, outbound, logger },
    whenDurable: (revision) => durability.whenDurable(revision),
    helloOk,
    raisePayloadLimit: (socket, bytes) => transport().raisePayloadLimit(socket, bytes),
    maxPayloadFor: (session) => input.registry.maxPayloadFor(session),
    leavePreauth,
    // In a microtask, as every effect of a connection's that reaches the supervisor.
    tokenUndelivered: (deviceId, token) =>
      queueMicrotask(() => view.isActive() && core.supervisor.send({ type: 'device.token.undelivered', deviceId, tokenHash: hashDeviceToken(token) })),
  });
  const handlers = socketHandlers({
    machine,
    host,
    supervisor: core.supervisor,
    table,
    logger,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    unauthorizedCallLimit: options.unauthorizedCallLimit,
    unauthorizedCallWindowMs: options.unauthorizedCallWindowMs,
    frameWriter: (socket) => transport().frameWriter(socket),
    leavePreauth,
    frameLimits: input.registry,
  });
  return { host, handlers };
}

/** Builds every part and listens; on a failure to listen, what was started is stopped again. */
export async function startRuntime(input: RuntimeInput, services: (services: BuiltinServices) => void): Promise<Runtime> {
  const { options } = input;
  // The transport is made last (it needs the connections' handlers), and the parts made before it reach it through this.
  let made: Transport | undefined;
  const transport = () => made!;
  const core = buildCore(input, transport, services);
  const { host, handlers } = buildConnections(input, core, transport);
  made = createWsTransport<Connection>({
    host: options.host,
    port: options.port,
    idleTimeoutMs: Math.max(1_000, options.handshakeTimeoutMs),
    maxRawConnections: core.admission.tcpCap,
    initialMaxPayload: ProtocolLimits.preAuthMaxPayloadBytes,
    trustedProxies: options.trustedProxies,
    routes: httpRoutes(core.health),
    gate: core.admission,
    onDrop: (remoteAddr) => core.admission.dropped(remoteAddr),
    handlers,
  });
  let port: number;
  try {
    port = await made.listen();
  } catch (error) {
    for (const subscription of core.subscriptions) subscription.unsubscribe();
    core.supervisor.stop();
    core.invokes.stop();
    host.stop();
    throw error;
  }
  const stopPinging = startPinging(core.table, core.backpressure, options.pingIntervalMs);
  // Time-based limits forget what has expired on access; this sweep catches addresses never seen again.
  const sweep = setInterval(() => {
    core.credentials.authLimiter.prune();
    core.credentials.silentPairings.prune();
    core.admission.sweep();
  }, LIMITS_SWEEP_INTERVAL_MS);
  sweep.unref();
  const { clock, startedAt, supervisor, invokes, view, requests, table, outbound, adapter, admission, durability, subscriptions } = core;
  return {
    port,
    startedAt,
    clock,
    supervisor,
    invokes,
    view,
    requests,
    table,
    outbound,
    adapter,
    admission,
    transport: made,
    durability,
    store: input.store,
    host,
    subscriptions,
    stopTimers: () => {
      stopPinging();
      clearInterval(sweep);
    },
  };
}
