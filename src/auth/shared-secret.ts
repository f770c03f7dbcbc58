// Shared-secret authentication: the gateway token or password, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConnectAuth, DetailCode } from '../../machines/protocol.js';

export type AuthMode = 'none' | 'token' | 'password';

export interface AuthConfig {
  mode: AuthMode;
  token?: string;
  password?: string;
}

export interface SharedSecretFailure {
  code: Extract<DetailCode, `AUTH_TOKEN_${string}` | `AUTH_PASSWORD_${string}`>;
  message: string;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/** Hashing first makes the comparison take the same time whatever the lengths. */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The configured secret's digest, computed once per secret (every connect compares against it). */
let configured: { secret: string; digest: Buffer } | undefined;
function configuredDigest(secret: string): Buffer {
  if (configured?.secret !== secret) configured = { secret, digest: digest(secret) };
  return configured.digest;
}

const matchesConfigured = (given: string, secret: string) => timingSafeEqual(digest(given), configuredDigest(secret));

export function checkSharedSecret(config: AuthConfig, auth: ConnectAuth | undefined): SharedSecretFailure | undefined {
  if (config.mode === 'none') return undefined;
  if (config.mode === 'token') {
    const given = auth?.token;
    if (!given) return { code: 'AUTH_TOKEN_MISSING', message: 'gateway token missing' };
    return matchesConfigured(given, config.token ?? '') ? undefined : { code: 'AUTH_TOKEN_MISMATCH', message: 'gateway token mismatch' };
  }
  const given = auth?.password;
  if (!given) return { code: 'AUTH_PASSWORD_MISSING', message: 'gateway password missing' };
  return matchesConfigured(given, config.password ?? '') ? undefined : { code: 'AUTH_PASSWORD_MISMATCH', message: 'gateway password mismatch' };
}
