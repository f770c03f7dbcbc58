// Gateway settings from flags, then ACTORGATE_* environment variables, then embedded defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuthMode } from './auth/shared-secret.js';
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
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 18789,
  auth: 'token' as AuthMode,
  handshakeTimeoutMs: 10_000,
  tickIntervalMs: 30_000,
  logLevel: 'info' as LogLevelName,
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
} as const;

type OptionName = keyof typeof START_OPTIONS;

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

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(`--${name} must be one of ${allowed.join(', ')}, got "${text}"`);
  }
  return text as T;
}

export function parseStartConfig(argv: string[], env: NodeJS.ProcessEnv): StartConfig {
  let values: Partial<Record<OptionName, string>>;
  try {
    values = parseArgs({ args: argv, options: START_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const pick = (option: OptionName): string | undefined => {
    const value = values[option] ?? env[envName(option)];
    return value === '' ? undefined : value;
  };
  const text = (option: OptionName, fallback: string | number) => pick(option) ?? String(fallback);

  const config: StartConfig = {
    host: text('host', DEFAULTS.host),
    port: integer('port', text('port', DEFAULTS.port), 0, 65_535),
    auth: oneOf('auth', text('auth', DEFAULTS.auth), ['none', 'token', 'password'] as const),
    handshakeTimeoutMs: integer('handshake-timeout-ms', text('handshake-timeout-ms', DEFAULTS.handshakeTimeoutMs), 1, 600_000),
    tickIntervalMs: integer('tick-interval-ms', text('tick-interval-ms', DEFAULTS.tickIntervalMs), 10, 3_600_000),
    stateDir: pick('state-dir') ?? join(homedir(), '.actorgate'),
    logLevel: oneOf('log-level', text('log-level', DEFAULTS.logLevel), ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const),
  };
  const token = pick('token');
  const password = pick('password');
  if (token !== undefined) config.token = token;
  if (password !== undefined) config.password = password;
  if (config.auth === 'password' && !config.password) {
    throw new ConfigError('--auth password needs --password or ACTORGATE_PASSWORD');
  }
  return config;
}
