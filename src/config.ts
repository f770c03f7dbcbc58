// Gateway settings from flags, then ACTORGATE_* environment variables, then embedded defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuthMode } from './auth/shared-secret.js';
import type { PairingMode } from './gateway.js';
import { DEFAULT_LIMITS, type LimitsConfig } from './limits.js';
import type { LogLevelName } from './logger.js';

export interface StartConfig {
  host: string;
  port: number;
  auth: AuthMode;
  token?: string;
  password?: string;
  handshakeTimeoutMs: number;
  tickIntervalMs: number;
  stateDir: string;
  logLevel: LogLevelName;
  /** auto-local approves loopback clients without a browser Origin silently; manual asks an operator. */
  pairingMode: PairingMode;
  /** How long a pending pairing request waits for an operator. */
  pairingRequestTtlMs: number;
  /** Publish every actor's inspection events (secrets redacted) to a relay on 127.0.0.1 for the Stately inspector. */
  inspect: boolean;
  /** Port of that relay (HTTP bridge page and WebSocket) on 127.0.0.1; 0 picks a free one. */
  inspectPort: number;
  /** Per-address limits: unauthenticated sockets, and the lockout after failed authentications. */
  limits: LimitsConfig;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 18789,
  auth: 'token' as AuthMode,
  handshakeTimeoutMs: 10_000,
  tickIntervalMs: 30_000,
  logLevel: 'info' as LogLevelName,
  pairingMode: 'auto-local' as PairingMode,
  pairingRequestTtlMs: 300_000,
  inspectPort: 8080,
  limits: DEFAULT_LIMITS,
};

export class ConfigError extends Error {}

const START_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  auth: { type: 'string' },
  token: { type: 'string' },
  password: { type: 'string' },
  'handshake-timeout-ms': { type: 'string' },
  'tick-interval-ms': { type: 'string' },
  'state-dir': { type: 'string' },
  'log-level': { type: 'string' },
  pairing: { type: 'string' },
  'pairing-ttl-ms': { type: 'string' },
  inspect: { type: 'boolean' },
  'inspect-port': { type: 'string' },
  'max-preauth-per-address': { type: 'string' },
  'auth-max-failures': { type: 'string' },
  'auth-failure-window-ms': { type: 'string' },
  'auth-lockout-ms': { type: 'string' },
  'auth-rate-limit-loopback': { type: 'boolean' },
} as const;

type OptionName = keyof typeof START_OPTIONS;
type StringOptionName = { [K in OptionName]: (typeof START_OPTIONS)[K]['type'] extends 'string' ? K : never }[OptionName];
type BooleanOptionName = Exclude<OptionName, StringOptionName>;

function envName(option: OptionName): string {
  return `ACTORGATE_${option.toUpperCase().replaceAll('-', '_')}`;
}

function integer(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/** A yes/no environment variable: 1/true/yes/on or 0/false/no/off (any case); empty means unset. */
function envFlag(name: string, text: string | undefined): boolean | undefined {
  if (text === undefined || text === '') return undefined;
  const normalized = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new ConfigError(`${name} must be 1 or 0 (or true/false, yes/no, on/off), got "${text}"`);
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(`--${name} must be one of ${allowed.join(', ')}, got "${text}"`);
  }
  return text as T;
}

export function parseStartConfig(argv: string[], env: NodeJS.ProcessEnv): StartConfig {
  let values: Partial<Record<StringOptionName, string>> & Partial<Record<BooleanOptionName, boolean>>;
  try {
    values = parseArgs({ args: argv, options: START_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const pick = (option: StringOptionName): string | undefined => {
    const value = values[option] ?? env[envName(option)];
    return value === '' ? undefined : value;
  };
  const text = (option: StringOptionName, fallback: string | number) => pick(option) ?? String(fallback);
  const flag = (option: BooleanOptionName): boolean | undefined => values[option] ?? envFlag(envName(option), env[envName(option)]);
  const bounded = (option: StringOptionName, fallback: number, min: number, max: number) => integer(option, text(option, fallback), min, max);
  const limits = DEFAULTS.limits;

  const config: StartConfig = {
    host: text('host', DEFAULTS.host),
    port: integer('port', text('port', DEFAULTS.port), 0, 65_535),
    auth: oneOf('auth', text('auth', DEFAULTS.auth), ['none', 'token', 'password'] as const),
    handshakeTimeoutMs: integer('handshake-timeout-ms', text('handshake-timeout-ms', DEFAULTS.handshakeTimeoutMs), 1, 600_000),
    tickIntervalMs: integer('tick-interval-ms', text('tick-interval-ms', DEFAULTS.tickIntervalMs), 10, 3_600_000),
    stateDir: pick('state-dir') ?? join(homedir(), '.actorgate'),
    logLevel: oneOf('log-level', text('log-level', DEFAULTS.logLevel), ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const),
    pairingMode: oneOf('pairing', text('pairing', DEFAULTS.pairingMode), ['auto-local', 'manual'] as const),
    pairingRequestTtlMs: integer('pairing-ttl-ms', text('pairing-ttl-ms', DEFAULTS.pairingRequestTtlMs), 1_000, 86_400_000),
    inspect: flag('inspect') ?? false,
    // 0 works: the relay reports the port it got, and its page connects back to wherever it was loaded from.
    inspectPort: integer('inspect-port', text('inspect-port', DEFAULTS.inspectPort), 0, 65_535),
    limits: {
      // 0 lifts the cap (behind a reverse proxy every client has the proxy's address).
      maxPreauthPerAddress: bounded('max-preauth-per-address', limits.maxPreauthPerAddress, 0, 1_000_000),
      // 0 turns the failed-auth rate limit off.
      authMaxFailures: bounded('auth-max-failures', limits.authMaxFailures, 0, 1_000_000),
      authFailureWindowMs: bounded('auth-failure-window-ms', limits.authFailureWindowMs, 1, 86_400_000),
      authLockoutMs: bounded('auth-lockout-ms', limits.authLockoutMs, 1, 86_400_000),
      exemptLoopback: !(flag('auth-rate-limit-loopback') ?? false),
    },
  };
  const token = pick('token');
  const password = pick('password');
  if (token !== undefined) config.token = token;
  if (password !== undefined) config.password = password;
  if (config.auth === 'password' && !config.password) {
    throw new ConfigError('--auth password needs --password or ACTORGATE_PASSWORD');
  }
  if (config.inspect && config.inspectPort !== 0 && config.inspectPort === config.port) {
    throw new ConfigError(`--inspect-port and --port are both ${config.port}; the relay needs a port of its own`);
  }
  return config;
}
