// Gateway settings from flags, then ACTORGATE_* environment variables, then embedded defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuthMode } from './auth/shared-secret.js';
import type { PairingMode } from './gateway.js';
import { checkWatermarks } from './backpressure.js';
import { DEFAULT_LIMITS, type LimitsConfig } from './limits.js';
import type { LogLevelName } from './logger.js';
import { TrustedProxies } from './network.js';

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
  /** Connection limits: per address, for the whole gateway, per socket (refused calls, write buffer). */
  limits: LimitsConfig;
  /** Every socket is pinged this often; a peer that misses a whole interval is terminated. 0: no pings. */
  pingIntervalMs: number;
  /** Reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client. */
  trustedProxies: string[];
  /** After SIGINT/SIGTERM the process exits within this long, whether peers answer or not. */
  shutdownTimeoutMs: number;
  /** Presence changes within this window go out as one frame (the window stretches in storms). */
  presenceWindowMs: number;
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
  pingIntervalMs: 30_000,
  shutdownTimeoutMs: 5_000,
  presenceWindowMs: 10,
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
  'max-connections': { type: 'string' },
  'trusted-proxies': { type: 'string' },
  'unauthorized-call-limit': { type: 'string' },
  'unauthorized-call-window-ms': { type: 'string' },
  'high-water-bytes': { type: 'string' },
  'low-water-bytes': { type: 'string' },
  'max-buffered-bytes': { type: 'string' },
  'ping-interval-ms': { type: 'string' },
  'shutdown-timeout-ms': { type: 'string' },
  'presence-window-ms': { type: 'string' },
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

/** `--trusted-proxies 10.0.0.5,10.1.0.0/16,::1`: addresses and CIDR ranges, comma-separated. */
function trustedProxyList(text: string | undefined): string[] {
  if (text === undefined) return [];
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  for (const entry of entries) {
    try {
      TrustedProxies.validate(entry);
    } catch {
      throw new ConfigError(`--trusted-proxies takes IP addresses and CIDR ranges, comma-separated; "${entry}" is neither`);
    }
  }
  return entries;
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
      // 0 lifts the cap.
      maxConnections: bounded('max-connections', limits.maxConnections, 0, 10_000_000),
      // 0 lets refused calls go on.
      unauthorizedCallLimit: bounded('unauthorized-call-limit', limits.unauthorizedCallLimit, 0, 1_000_000),
      unauthorizedCallWindowMs: bounded('unauthorized-call-window-ms', limits.unauthorizedCallWindowMs, 1, 86_400_000),
      highWaterBytes: bounded('high-water-bytes', limits.highWaterBytes, 1, 2 ** 40),
      lowWaterBytes: bounded('low-water-bytes', limits.lowWaterBytes, 0, 2 ** 40),
      maxBufferedBytes: bounded('max-buffered-bytes', limits.maxBufferedBytes, 1, 2 ** 40),
    },
    // 0 turns pings off (a dead peer is then found only by TCP).
    pingIntervalMs: bounded('ping-interval-ms', DEFAULTS.pingIntervalMs, 0, 3_600_000),
    trustedProxies: trustedProxyList(pick('trusted-proxies')),
    shutdownTimeoutMs: bounded('shutdown-timeout-ms', DEFAULTS.shutdownTimeoutMs, 100, 600_000),
    // 0: only the changes that land in the same tick are merged (the window still stretches in storms).
    presenceWindowMs: bounded('presence-window-ms', DEFAULTS.presenceWindowMs, 0, 10_000),
  };
  try {
    checkWatermarks(config.limits);
  } catch {
    const { lowWaterBytes, highWaterBytes, maxBufferedBytes } = config.limits;
    throw new ConfigError(
      `--low-water-bytes (${lowWaterBytes}) must be below --high-water-bytes (${highWaterBytes}), which must not exceed --max-buffered-bytes (${maxBufferedBytes})`,
    );
  }
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
