// Gateway settings from flags, then ACTORGATE_* environment variables, then embedded defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuthMode } from './auth/shared-secret.js';
import type { PairingMode } from './gateway.js';
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
  /** Publish every actor's inspection events (secrets redacted) to a local @statelyai/inspect relay. */
  inspect: boolean;
  /** Port of that relay (HTTP bridge page and WebSocket). */
  inspectPort: number;
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
} as const;

type OptionName = keyof typeof START_OPTIONS;
type StringOptionName = { [K in OptionName]: (typeof START_OPTIONS)[K]['type'] extends 'string' ? K : never }[OptionName];

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
  let values: Partial<Record<StringOptionName, string>> & { inspect?: boolean };
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
    inspect: values.inspect ?? envFlag(envName('inspect'), env[envName('inspect')]) ?? false,
    // From 1: the relay writes its port into the page it serves and cannot report one picked by the system.
    inspectPort: integer('inspect-port', text('inspect-port', DEFAULTS.inspectPort), 1, 65_535),
  };
  const token = pick('token');
  const password = pick('password');
  if (token !== undefined) config.token = token;
  if (password !== undefined) config.password = password;
  if (config.auth === 'password' && !config.password) {
    throw new ConfigError('--auth password needs --password or ACTORGATE_PASSWORD');
  }
  if (config.inspect && config.inspectPort === config.port) {
    throw new ConfigError(`--inspect-port and --port are both ${config.port}; the relay needs a port of its own`);
  }
  return config;
}
