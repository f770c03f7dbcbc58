// How a gateway stops: the supervisor and every connection get `gateway.shutdown` (invokes in flight are
// answered UNAVAILABLE, ready clients get a `shutdown` event, then every socket a 1012 close), peers that
// do not answer within the grace are terminated, and every pairing change made so far is on disk before
// the gateway reports itself stopped.
import type { Logger } from 'pino';
import type { Runtime } from './runtime.js';

export interface StopOptions {
  reason: string;
  restartExpectedMs?: number;
  /** How long peers get to answer the 1012 close before their sockets are terminated. */
  graceMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until every socket is gone or the deadline passes. */
async function untilNoSockets(runtime: Runtime, deadline: number, pollMs: number): Promise<void> {
  while (runtime.table.size > 0 && Date.now() < deadline) await sleep(pollMs);
}

export async function stopRuntime(runtime: Runtime, logger: Logger, { reason, restartExpectedMs, graceMs }: StopOptions): Promise<void> {
  const { table, supervisor, admission } = runtime;
  admission.stopAccepting();
  runtime.stopTimers();
  // Refusals the throttle held back since their address's last line are summed up now, not lost.
  admission.flush();
  const event = { type: 'gateway.shutdown' as const, reason, ...(restartExpectedMs !== undefined ? { restartExpectedMs } : {}) };
  logger.info({ event: 'gateway.shutdown', reason, connections: table.size, invokesInFlight: runtime.view.counts().invokesInFlight }, 'shutting down');
  // The supervisor first: invokes in flight are answered UNAVAILABLE before their callers are closed. The
  // answers settle their requests' promises, and are written within this turn of the event loop.
  supervisor.send(event);
  await new Promise((resolve) => setImmediate(resolve));
  for (const connection of table.values()) {
    if (connection.live) connection.actor.send(event);
  }
  await untilNoSockets(runtime, Date.now() + graceMs, 10);
  for (const connection of table.values()) connection.socket.terminate();
  // A terminated socket reports its close a moment later; its actor ends through the usual path.
  await untilNoSockets(runtime, Date.now() + 200, 5);
  const lastRevision = runtime.view.pairingRevision();
  for (const subscription of runtime.subscriptions) subscription.unsubscribe();
  supervisor.stop();
  runtime.invokes.stop();
  runtime.host.stop();
  runtime.requests.abandonAll({ code: 'UNAVAILABLE', message: 'gateway shutting down', retryable: true });
  await runtime.durability.whenDurable(lastRevision).catch(() => undefined); // a failure was logged by the tracker's hook
  await runtime.store?.flush().catch(() => undefined);
  await runtime.transport.close();
  logger.info({ event: 'gateway.stopped', reason }, 'gateway stopped');
}
