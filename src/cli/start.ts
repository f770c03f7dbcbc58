// `actorgate start`: resolve credentials, serve, and stop cleanly on SIGINT/SIGTERM: the signal becomes
// the actors' `gateway.shutdown` event (through gateway.close), and the process exits within
// --shutdown-timeout-ms whether peers answer their close or not.
import type { AuthConfig } from './auth/shared-secret.js';
import type { StartConfig } from './config.js';
import { DEFAULT_SHUTDOWN_GRACE_MS, startGateway } from './gateway.js';
import { tuneHeapForGateway } from './heap-tuning.js';
import { startInspector, type Inspector } from './inspect.js';
import { createLogger, type Logger } from './logger.js';
import { loadOrCreateToken } from './state-dir.js';

/** The auth settings to serve with; in token mode without a token, the stored or newly generated one. */
export async function authConfigFor(config: StartConfig): Promise<AuthConfig> {
  if (config.auth === 'none') return { mode: 'none' };
  if (config.auth === 'password') return { mode: 'password', password: config.password ?? '' };
  if (config.token) return { mode: 'token', token: config.token };
  const stored = await loadOrCreateToken(config.stateDir);
  if (stored.generated) {
    process.stderr.write(`actorgate: generated a gateway token (stored in ${stored.path}, mode 0600):\n${stored.token}\n`);
  }
  return { mode: 'token', token: stored.token };
}

export async function runStart(config: StartConfig): Promise<void> {
  tuneHeapForGateway();
  const logger = createLogger(config.logLevel);
  const auth = await authConfigFor(config);
  let inspector: Inspector | undefined;
  if (config.inspect) {
    inspector = await startInspector({ port: config.inspectPort });
    logger.info(
      { event: 'inspect.listening', host: inspector.address().address, port: inspector.port, relay: inspector.url, page: inspector.pageUrl },
      'inspection relay listening',
    );
    process.stderr.write(
      `actorgate: watch the actors live: open ${inspector.pageUrl} in a browser on this machine ` +
        `(it embeds the Stately inspector from stately.ai; the relay listens on 127.0.0.1 only and refuses other web pages; secrets redacted)\n`,
    );
  }
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway({
      host: config.host,
      port: config.port,
      auth,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      tickIntervalMs: config.tickIntervalMs,
      logger,
      stateDir: config.stateDir,
      pairingMode: config.pairingMode,
      pairingRequestTtlMs: config.pairingRequestTtlMs,
      limits: config.limits,
      pingIntervalMs: config.pingIntervalMs,
      presenceWindowMs: config.presenceWindowMs,
      trustedProxies: config.trustedProxies,
      // Peers get part of the budget to answer the 1012 close; the rest is for flushing the pairing state.
      shutdownGraceMs: Math.min(DEFAULT_SHUTDOWN_GRACE_MS, Math.floor(config.shutdownTimeoutMs / 2)),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (error) {
    await inspector?.stop();
    throw error;
  }
  const stop = signalHandler({
    close: (reason) => gateway.close(reason).finally(() => inspector?.stop()),
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger,
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
