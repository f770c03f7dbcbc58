// `actorgate start`: resolve credentials, serve, and stop cleanly on SIGINT/SIGTERM.
import type { AuthConfig } from './auth/shared-secret.js';
import type { StartConfig } from './config.js';
import { startGateway } from './gateway.js';
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
  const gateway = await startGateway({
    host: config.host,
    port: config.port,
    auth,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    tickIntervalMs: config.tickIntervalMs,
    logger,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'gateway.signal', signal }, 'stopping');
    gateway.close(`received ${signal}`).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
