// `actorgate start`: resolve credentials, serve, and stop cleanly on SIGINT/SIGTERM: the signal becomes
// the actors' `gateway.shutdown` event (through gateway.close), and the process exits within
// --shutdown-timeout-ms whether peers answer their close or not.
import type { AuthConfig } from './auth/shared-secret.js';
import type { StartConfig } from './config.js';
import { DEFAULT_SHUTDOWN_GRACE_MS, startGateway } from './gateway.js';
import { startInspector, type Inspector } from './inspect.js';
import { createLogger } from './logger.js';
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
      trustedProxies: config.trustedProxies,
      // Peers get part of the budget to answer the 1012 close; the rest is for flushing the pairing state.
      shutdownGraceMs: Math.min(DEFAULT_SHUTDOWN_GRACE_MS, Math.floor(config.shutdownTimeoutMs / 2)),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (error) {
    await inspector?.stop();
    throw error;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      logger.warn({ event: 'gateway.signal', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ event: 'gateway.signal', signal, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'stopping');
    // The hard deadline: whatever still hangs (a peer, the disk), the process is gone by then.
    setTimeout(() => {
      logger.error({ event: 'gateway.shutdown_timeout', shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed: exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    gateway
      .close(`received ${signal}`)
      .finally(() => inspector?.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
