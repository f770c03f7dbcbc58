// `actorgate start`: serve a gateway built with createGateway, and stop cleanly on SIGINT/SIGTERM: the
// signal becomes the actors' `gateway.shutdown` event (through gateway.close), and the process exits within
// --shutdown-timeout-ms whether peers answer their close or not.
import { resolveGatewaySecret } from '../auth/gateway-secret.js';
import { createGateway, type Gateway } from '../gateway/create-gateway.js';
import { tuneHeapForGateway } from '../gateway/heap-tuning.js';
import type { ResolvedOptions } from '../config/options.js';
import type { Logger } from 'pino';

/** Where to watch the actors, when start serves with --inspect. */
function announceInspector(gateway: Gateway): void {
  if (gateway.inspector) {
    process.stderr.write(
      `actorgate: watch the actors live: open ${gateway.inspector.pageUrl} in a browser on this machine ` +
        `(it embeds the Stately inspector from stately.ai; the relay listens on 127.0.0.1 only and refuses other web pages; secrets redacted)\n`,
    );
  }
}

export async function runStart(config: ResolvedOptions): Promise<void> {
  tuneHeapForGateway();
  // The token is settled (read, or generated and stored) before the gateway starts, so that a generated one
  // is printed before anything listens with it.
  const secret = await resolveGatewaySecret(config);
  if (secret.tokenSource === 'generated') {
    const where = secret.tokenFile ? `stored in ${secret.tokenFile}, mode 0600` : 'not stored: no state dir';
    process.stderr.write(`actorgate: generated a gateway token (${where}):\n${secret.auth.token}\n`);
  }
  const gateway = createGateway({ ...config, ...(secret.auth.token !== undefined ? { token: secret.auth.token } : {}) });
  await gateway.listen();
  announceInspector(gateway);
  const stop = signalHandler({
    close: (reason) => gateway.close(reason),
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger: gateway.logger,
    exit: (code) => process.exit(code),
  });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

export interface SignalHandlerOptions {
  /** Stops everything: the gateway (its actors get `gateway.shutdown`), then the rest. */
  close(reason: string): Promise<unknown>;
  /** The hard deadline from the first signal to the exit. */
  shutdownTimeoutMs: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  exit(code: number): void;
  /** The timer of the deadline (injectable for tests); it must not keep the process alive. */
  setDeadline?: (callback: () => void, ms: number) => void;
}

/**
 * What SIGINT and SIGTERM do: the first one stops the gateway and exits 0 once it stopped (1 if that
 * failed), or 1 at the deadline, whatever still hangs (a peer, the disk); a second one exits 1 at once.
 */
export function signalHandler(options: SignalHandlerOptions): (signal: NodeJS.Signals) => void {
  const { logger, exit, shutdownTimeoutMs } = options;
  const setDeadline = options.setDeadline ?? ((callback, ms) => setTimeout(callback, ms).unref());
  let stopping = false;
  return (signal) => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      logger.warn({ event: 'gateway.signal', signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ event: 'gateway.signal', signal, shutdownTimeoutMs }, 'stopping');
    setDeadline(() => {
      logger.error({ event: 'gateway.shutdown_timeout', shutdownTimeoutMs }, 'shutdown deadline passed: exiting');
      exit(1);
    }, shutdownTimeoutMs);
    options.close(`received ${signal}`).then(
      () => exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
}
