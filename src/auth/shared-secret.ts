// Shared-secret authentication: the gateway token or password, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConnectAuth } from '../../machines/protocol.js';

export type AuthMode = 'none' | 'token' | 'password';

export interface AuthConfig {
  mode: AuthMode;
  token?: string;
  password?: string;
}

export interface SharedSecretFailure {
  code: 'AUTH_TOKEN_MISSING' | 'AUTH_TOKEN_MISMATCH' | 'AUTH_PASSWORD_MISSING' | 'AUTH_PASSWORD_MISMATCH';
  message: string;
}

/** Hashing first makes the comparison take the same time whatever the lengths. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function checkSharedSecret(config: AuthConfig, auth: ConnectAuth | undefined): SharedSecretFailure | undefined {
  if (config.mode === 'none') return undefined;
  if (config.mode === 'token') {
    const given = auth?.token;
    if (!given) return { code: 'AUTH_TOKEN_MISSING', message: 'gateway token missing' };
    return secretsEqual(given, config.token ?? '') ? undefined : { code: 'AUTH_TOKEN_MISMATCH', message: 'gateway token mismatch' };
  }
  const given = auth?.password;
  if (!given) return { code: 'AUTH_PASSWORD_MISSING', message: 'gateway password missing' };
  return secretsEqual(given, config.password ?? '') ? undefined : { code: 'AUTH_PASSWORD_MISMATCH', message: 'gateway password mismatch' };
}
