// The gateway's options, in one table: each option's name for `createGateway`, its flag of `actorgate start`
// (and so its ACTORGATE_* variable), its default, its doc and how its value is checked. The type of
// `createGateway`'s options, the CLI's flags and usage, and the README's configuration table all come from here.
import { isLoopbackHostname, normalizeAllowedOrigin } from '../auth/origin-policy.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent } from 'xstate';
import { DEFAULT_UNAUTHORIZED_CALL_LIMIT, DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS } from '../../machines/connection.js';
import { DEFAULT_PAIRING_LIMITS } from '../../machines/pairing.js';
import { ProtocolLimits } from '../../machines/protocol.js';
import { DEFAULT_PAIRING_REQUEST_TTL_MS } from '../../machines/supervisor.js';
import type { DeviceCrypto } from '../auth/device-proof.js';
import type { Logger } from 'pino';
import { isCommandGlob } from '../methods/node-command-policy.js';
import { TrustedProxies } from '../transport/network.js';
import { OptionError } from '../errors.js';

export { OptionError };

/** One option: how it is named, documented, defaulted and checked. `T` is its value's type. */
export interface OptionSpec<T> {
  /** The flag of `actorgate start` (kebab case) and so the variable ACTORGATE_<FLAG>; none: `createGateway` only. */
  readonly flag?: string;
  /** What the flag takes, in the usage (`<n>`); none for a yes/no flag. */
  readonly placeholder?: string;
  readonly default: T;
  /** `actorgate start`'s default when it differs from `createGateway`'s. */
  readonly cliDefault?: () => T;
  /** The default as the docs say it, when its value does not say it. */
  readonly defaultText?: string;
  readonly doc: string;
  /** A flag's or variable's text as a value; throws an OptionError naming `name`. */
  readonly fromText: (text: string, name: string) => T;
  /** A value given to `createGateway`, checked; throws an OptionError naming `name`. */
  readonly check: (value: unknown, name: string) => T;
}

function integer(min: number, max: number) {
  const refuse = (name: string, given: string): never => {
    throw new OptionError(`${name} must be an integer from ${min} to ${max}, got "${given}"`);
  };
  const inRange = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
  const check = (value: unknown, name: string): number => (inRange(value) ? value : refuse(name, String(value)));
  const fromText = (given: string, name: string): number => {
    const value = given.trim() === '' ? NaN : Number(given);
    return inRange(value) ? value : refuse(name, given);
  };
  return { placeholder: '<n>', fromText, check };
}

function oneOf<const V extends string>(values: readonly V[]) {
  const check = (value: unknown, name: string): V => {
    if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as V;
    throw new OptionError(`${name} must be one of ${values.join(', ')}, got "${String(value)}"`);
  };
  return { placeholder: values.join('|'), fromText: check, check };
}

function text(placeholder: string) {
  const check = (value: unknown, name: string): string => {
    if (typeof value === 'string' && value.length > 0) return value;
    throw new OptionError(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  };
  return { placeholder, fromText: check, check };
}

/** A secret or a path that may be left out: undefined is its default. */
function optionalText(placeholder: string) {
  const { fromText, check } = text(placeholder);
  return { placeholder, fromText, check: (value: unknown, name: string) => (value === undefined ? undefined : check(value, name)) };
}

const YES = ['1', 'true', 'yes', 'on'];
const NO = ['0', 'false', 'no', 'off'];

/** A yes/no setting: a flag without a value; its variable takes 1/true/yes/on or 0/false/no/off (any case). */
function yesNo() {
  const fromText = (given: string, name: string): boolean => {
    const normalized = given.trim().toLowerCase();
    if (YES.includes(normalized)) return true;
    if (NO.includes(normalized)) return false;
    throw new OptionError(`${name} must be 1 or 0 (or true/false, yes/no, on/off), got "${given}"`);
  };
  const check = (value: unknown, name: string): boolean => {
    if (typeof value === 'boolean') return value;
    throw new OptionError(`${name} must be true or false, got ${JSON.stringify(value)}`);
  };
  return { fromText, check };
}


/** A list option's text form: comma-separated entries, blanks dropped, each checked by `check`. */
function commaSeparated<T>(check: (value: unknown, name: string) => T) {
  return (given: string, name: string): T =>
    check(
      given.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0),
      name,
    );
}
/** `10.0.0.5,10.1.0.0/16,::1`: IP addresses and CIDR ranges, comma-separated (an array for createGateway). */
function proxyList() {
  const check = (value: unknown, name: string): string[] => {
    if (!Array.isArray(value)) throw new OptionError(`${name} must be an array of IP addresses and CIDR ranges`);
    for (const entry of value) {
      try {
        if (typeof entry !== 'string') throw new TypeError('not a string');
        TrustedProxies.validate(entry);
      } catch {
        throw new OptionError(`${name} takes IP addresses and CIDR ranges, comma-separated; "${String(entry)}" is neither`);
      }
    }
    return value as string[];
  };
  const fromText = commaSeparated(check);
  return { placeholder: '<list>', fromText, check };
}

/** Browser origins, comma-separated: each `*` or `scheme://host[:port]`, kept lower-cased. */
function originList() {
  const check = (value: unknown, name: string): string[] => {
    if (!Array.isArray(value)) throw new OptionError(`${name} must be an array of origins (scheme://host[:port]) or "*"`);
    return value.map((entry) => {
      try {
        if (typeof entry !== 'string') throw new TypeError('not a string');
        return normalizeAllowedOrigin(entry);
      } catch {
        throw new OptionError(`${name} takes origins (scheme://host[:port]) or "*", comma-separated; "${String(entry)}" is neither`);
      }
    });
  };
  const fromText = commaSeparated(check);
  return { placeholder: '<list>', fromText, check };
}

/** `system.*,browser.proxy*`: node command patterns (`*` any run, `?` one character), comma-separated (an array for createGateway). */
function commandGlobList() {
  const check = (value: unknown, name: string): string[] => {
    if (!Array.isArray(value)) throw new OptionError(`${name} must be an array of command patterns`);
    for (const entry of value) {
      if (typeof entry !== 'string' || !isCommandGlob(entry)) {
        throw new OptionError(`${name} takes command patterns (e.g. "system.*"), comma-separated; ${JSON.stringify(entry)} is not one`);
      }
    }
    return value as string[];
  };
  const fromText = commaSeparated(check);
  return { placeholder: '<globs>', fromText, check };
}

/** An option only a program can give (an object, a function): `createGateway` only, no flag. */
function programmatic<T>(what: string, isValid: (value: unknown) => boolean) {
  const check = (value: unknown, name: string): T => {
    if (value === undefined || isValid(value)) return value as T;
    throw new OptionError(`${name} must be ${what}`);
  };
  const fromText = (_text: string, name: string): T => {
    throw new OptionError(`${name} cannot be given as text`);
  };
  return { fromText, check };
}

type InspectSink = (event: InspectionEvent) => void;

/** `--inspect` is a yes/no flag; a program may also pass its own sink for the actors' inspection events. */
function inspection() {
  const { fromText, check: checkYesNo } = yesNo();
  const check = (value: unknown, name: string): boolean | InspectSink => {
    if (typeof value === 'function') return value as InspectSink;
    try {
      return checkYesNo(value, name);
    } catch {
      throw new OptionError(`${name} must be true, false or a function taking inspection events`);
    }
  };
  return { fromText: fromText as (text: string, name: string) => boolean | InspectSink, check };
}

/** An option, its type taken from how it is checked (not from its default, which would widen it). */
function spec<T>(definition: Omit<OptionSpec<T>, 'default' | 'cliDefault'> & { default: NoInfer<T>; cliDefault?: () => NoInfer<T> }): OptionSpec<T> {
  return definition;
}

const MiB = 1024 * 1024;

/** Every option, in the order the usage and the README list them. */
export const OPTIONS = {
  host: spec({ flag: 'host', ...text('<addr>'), default: '127.0.0.1', doc: 'address to listen on' }),
  port: spec({ flag: 'port', ...integer(0, 65_535), default: 18789, doc: 'port to listen on (0 picks a free one)' }),
  auth: spec({
    flag: 'auth',
    ...oneOf(['none', 'token', 'password'] as const),
    default: 'token',
    doc: 'how clients authenticate: the gateway token, the gateway password (compared in constant time), or not at all',
  }),
  allowNoAuthOnNetwork: spec({
    flag: 'allow-no-auth-on-network',
    ...yesNo(),
    default: false,
    doc: 'let --auth none listen on an address other than loopback (anyone who reaches it is then an admin); refused otherwise',
  }),
  allowedOrigins: spec<string[]>({
    flag: 'allowed-origins',
    ...originList(),
    default: [],
    defaultText: 'none',
    doc: 'browser origins allowed besides the defaults (no Origin, the gateway\'s own origin on a trusted host, loopback pages on this machine), comma-separated; * allows every page',
  }),
  token: spec<string | undefined>({
    flag: 'token',
    ...optionalText('<secret>'),
    default: undefined,
    defaultText: 'generated',
    doc: 'the gateway token; when absent one is generated on first start, stored in the state dir (gateway-token, mode 0600) when there is one',
  }),
  password: spec<string | undefined>({
    flag: 'password',
    ...optionalText('<secret>'),
    default: undefined,
    defaultText: 'none',
    doc: 'the gateway password (needed with --auth password)',
  }),
  handshakeTimeoutMs: spec({
    flag: 'handshake-timeout-ms',
    ...integer(1, 600_000),
    default: 10_000,
    doc: "time a client has from the socket's open to a completed connect; slow upgrade headers are cut off after it too",
  }),
  tickIntervalMs: spec({ flag: 'tick-interval-ms', ...integer(10, 3_600_000), default: 30_000, doc: 'interval of the tick event' }),
  stateDir: spec<string | undefined>({
    flag: 'state-dir',
    ...optionalText('<dir>'),
    default: undefined,
    cliDefault: () => join(homedir(), '.actorgate'),
    defaultText: '~/.actorgate for start; none for createGateway',
    doc: 'where the gateway keeps pairing.json and the generated token; without one, pairing lives in memory',
  }),
  logLevel: spec({
    flag: 'log-level',
    ...oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const),
    default: 'info',
    doc: 'pino level; logs are JSON lines on stdout',
  }),
  logger: spec<Logger | undefined>({
    ...programmatic<Logger | undefined>('a pino logger', (value) => typeof (value as Logger)?.isLevelEnabled === 'function'),
    default: undefined,
    defaultText: 'pino on stdout',
    doc: 'a pino logger to write to instead (logLevel is then its own)',
  }),
  pairing: spec({
    flag: 'pairing',
    ...oneOf(['auto-local', 'manual'] as const),
    default: 'auto-local',
    doc: 'auto-local pairs loopback clients without a browser Origin silently; manual asks an operator for every new device and node',
  }),
  pairingTtlMs: spec({
    flag: 'pairing-ttl-ms',
    ...integer(1_000, 86_400_000),
    default: DEFAULT_PAIRING_REQUEST_TTL_MS,
    doc: 'how long a pairing request waits for an operator',
  }),
  pairingMaxPending: spec({
    flag: 'pairing-max-pending',
    ...integer(1, 100_000),
    default: DEFAULT_PAIRING_LIMITS.maxPending,
    doc: 'pending pairing requests of each kind (devices, nodes); beyond it new requests are refused, none already filed is dropped',
  }),
  pairingMaxPendingPerAddress: spec({
    flag: 'pairing-max-pending-per-address',
    ...integer(1, 100_000),
    default: DEFAULT_PAIRING_LIMITS.maxPendingPerAddress,
    doc: 'pending pairing requests of each kind from one client address',
  }),
  pairingMaxDevices: spec({
    flag: 'pairing-max-devices',
    ...integer(1, 1_000_000),
    default: DEFAULT_PAIRING_LIMITS.maxPairedDevices,
    doc: 'paired devices; at the cap approvals and silent pairings are refused until one is removed',
  }),
  pairingMaxNodes: spec({
    flag: 'pairing-max-nodes',
    ...integer(1, 1_000_000),
    default: DEFAULT_PAIRING_LIMITS.maxPairedNodes,
    doc: 'paired nodes; at the cap approvals and silent pairings are refused until one is removed',
  }),
  pairingSilentMax: spec({
    flag: 'pairing-silent-max',
    ...integer(0, 1_000_000),
    default: 30,
    doc: 'devices one address may pair silently (auto-local) within the window; more are refused for a window (0: no limit)',
  }),
  pairingSilentWindowMs: spec({
    flag: 'pairing-silent-window-ms',
    ...integer(1, 86_400_000),
    default: 60_000,
    doc: 'the window those silent pairings are counted in',
  }),
  inspect: spec<boolean | InspectSink>({
    flag: 'inspect',
    ...inspection(),
    default: false,
    doc: "publish every actor's inspection events, secrets redacted, to a relay on 127.0.0.1 for the Stately inspector (a program may pass its own sink instead)",
  }),
  inspectPort: spec({ flag: 'inspect-port', ...integer(0, 65_535), default: 8080, doc: 'port of that relay, on 127.0.0.1 only (0 picks a free one)' }),
  maxPreauthPerAddress: spec({
    flag: 'max-preauth-per-address',
    ...integer(0, 1_000_000),
    default: 32,
    doc: 'sockets per client address still in their handshake; more get HTTP 503 (0: no cap, e.g. behind a reverse proxy)',
  }),
  authMaxFailures: spec({
    flag: 'auth-max-failures',
    ...integer(0, 1_000_000),
    default: 10,
    doc: 'failed authentications per address within the window that lock it out (0: no rate limit)',
  }),
  authFailureWindowMs: spec({ flag: 'auth-failure-window-ms', ...integer(1, 86_400_000), default: 60_000, doc: 'the sliding window those failures are counted in' }),
  authLockoutMs: spec({ flag: 'auth-lockout-ms', ...integer(1, 86_400_000), default: 300_000, doc: 'how long a locked-out address is refused' }),
  authRateLimitLoopback: spec({ flag: 'auth-rate-limit-loopback', ...yesNo(), default: false, doc: 'rate-limit loopback clients too; they are exempt by default' }),
  maxConnections: spec({
    flag: 'max-connections',
    ...integer(0, 10_000_000),
    default: 10_000,
    doc: 'sockets open at once from everyone; more get HTTP 503 (0: no cap); raw TCP connections are capped at this plus a tenth (at least 64)',
  }),
  trustedProxies: spec<string[]>({
    flag: 'trusted-proxies',
    ...proxyList(),
    default: [],
    defaultText: 'none',
    doc: 'reverse proxies (addresses, CIDR ranges, comma-separated) whose X-Forwarded-For names the client',
  }),
  unauthorizedCallLimit: spec({
    flag: 'unauthorized-call-limit',
    ...integer(0, 1_000_000),
    default: DEFAULT_UNAUTHORIZED_CALL_LIMIT,
    doc: 'requests refused for role or scope within the window; one more closes the socket 1008 (0: no limit)',
  }),
  unauthorizedCallWindowMs: spec({
    flag: 'unauthorized-call-window-ms',
    ...integer(1, 86_400_000),
    default: DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS,
    doc: 'the window those refusals are counted in',
  }),
  presenceWindowMs: spec({
    flag: 'presence-window-ms',
    ...integer(0, 10_000),
    default: 10,
    doc: 'a lone presence change goes out at once; those within this window after it go out as one frame, the newest; the window stretches as far as it takes to keep presence fan-out under 32 MiB/s (ready sockets x list bytes / 32 MiB/s; the list is at most 128 KiB)',
  }),
  highWaterBytes: spec({
    flag: 'high-water-bytes',
    ...integer(1, 2 ** 40),
    default: 64 * 1024,
    doc: 'bytes buffered for a socket above which presence frames are held, the newest only, until it drains',
  }),
  lowWaterBytes: spec({ flag: 'low-water-bytes', ...integer(0, 2 ** 40), default: 16 * 1024, doc: 'buffered bytes at or under which held frames are sent' }),
  maxBufferedBytes: spec({
    flag: 'max-buffered-bytes',
    ...integer(1, 2 ** 40),
    default: 50 * MiB,
    doc: 'buffered bytes above which a peer is terminated as a slow consumer (hello-ok policy.maxBufferedBytes)',
  }),
  maxTotalBufferedBytes: spec({
    flag: 'max-total-buffered-bytes',
    ...integer(0, 2 ** 40),
    default: 256 * MiB,
    doc: 'bytes buffered for all sockets together, a broadcast body many share counted once: past 3/4 of it every socket above its low watermark is sent no presence, health or node events until it drains; past it the largest consumers are terminated (0: no cap)',
  }),
  maxNodeEventBytes: spec({
    flag: 'max-node-event-bytes',
    ...integer(1, ProtocolLimits.maxPayloadBytes),
    default: ProtocolLimits.maxNodeEventBytes,
    doc: 'the largest node.event a node may send (its event name and payload JSON, in UTF-8 bytes): a larger one is refused INVALID_REQUEST (NODE_EVENT_TOO_LARGE)',
  }),
  maxInvokesPerCaller: spec({
    flag: 'max-invokes-per-caller',
    ...integer(0, 10_000_000),
    default: ProtocolLimits.maxInvokesPerCaller,
    doc: 'node.invoke calls one connection may have waiting for their nodes; more are refused UNAVAILABLE (TOO_MANY_INVOKES, retryable) (0: no cap)',
  }),
  maxInvokesPerNode: spec({
    flag: 'max-invokes-per-node',
    ...integer(0, 10_000_000),
    default: ProtocolLimits.maxInvokesPerNode,
    doc: 'invokes in flight to one node, from everyone; more are refused the same way (0: no cap)',
  }),
  maxInvokesInFlight: spec({
    flag: 'max-invokes-in-flight',
    ...integer(0, 10_000_000),
    default: ProtocolLimits.maxInvokesInFlight,
    doc: 'invokes in flight on the gateway; more are refused the same way (0: no cap)',
  }),
  pingIntervalMs: spec({
    flag: 'ping-interval-ms',
    ...integer(0, 3_600_000),
    default: 30_000,
    doc: 'ping every socket this often; a peer that misses a whole interval is terminated (0: no pings)',
  }),
  shutdownTimeoutMs: spec({
    flag: 'shutdown-timeout-ms',
    ...integer(100, 600_000),
    default: 5_000,
    doc: 'on close (SIGINT/SIGTERM for start) peers get half of this, at most 2 s, to answer the 1012 close; start exits within it',
  }),
  nodeCommandsAllow: spec<string[]>({
    flag: 'node-commands-allow',
    ...commandGlobList(),
    default: [],
    defaultText: 'all',
    doc: 'node commands (globs: `*`, `?`) an operator may approve and invoke; when set, every other command is refused',
  }),
  nodeCommandsDeny: spec<string[]>({
    flag: 'node-commands-deny',
    ...commandGlobList(),
    default: [],
    defaultText: 'none',
    doc: 'node commands (globs) never approved or invoked, whatever a node declares or the allow list says (e.g. `system.run*,browser.*`)',
  }),
  crypto: spec<DeviceCrypto | undefined>({
    ...programmatic<DeviceCrypto | undefined>('a DeviceCrypto', (value) => typeof (value as DeviceCrypto)?.verifyEd25519 === 'function'),
    default: undefined,
    defaultText: 'node:crypto',
    doc: 'the Ed25519 verifier of device proofs (nobleDeviceCrypto where node:crypto is missing)',
  }),
} as const;

export type OptionName = keyof typeof OPTIONS;
type ValueOf<S> = S extends OptionSpec<infer T> ? T : never;

/** What `createGateway` takes: every option may be left out for its default. */
export type GatewayOptions = { -readonly [K in OptionName]?: ValueOf<(typeof OPTIONS)[K]> };

/** Every option with a value: what was given, else its default. */
export type ResolvedOptions = { -readonly [K in OptionName]: ValueOf<(typeof OPTIONS)[K]> };

/** How an option is named in a message: `--port` for the CLI, `port` for a program. */
export type NameOf = (name: OptionName) => string;

export const programName: NameOf = (name) => name;
export const flagName: NameOf = (name) => {
  const flag = (OPTIONS[name] as OptionSpec<unknown>).flag;
  return flag === undefined ? name : `--${flag}`;
};

/** ACTORGATE_HANDSHAKE_TIMEOUT_MS for --handshake-timeout-ms. */
export function envName(flag: string): string {
  return `ACTORGATE_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

/**
 * Checks what was given, fills in the defaults, and checks the options against each other. A program's
 * unknown option is refused (a type error too); `nameOf` says how messages name an option.
 */
export function resolveOptions(given: GatewayOptions, nameOf: NameOf = programName): ResolvedOptions {
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(OPTIONS, key)) throw new OptionError(`unknown option "${key}"; the options are ${OPTION_NAMES.join(', ')}`);
  }
  const resolved: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const option = OPTIONS[name] as OptionSpec<unknown>;
    const value = given[name];
    resolved[name] = value === undefined ? option.default : option.check(value, nameOf(name));
  }
  const options = resolved as ResolvedOptions;
  resolveWatermarks(options, given, nameOf);
  if (options.auth === 'password' && !options.password) {
    throw new OptionError(`${nameOf('auth')} password needs ${nameOf('password')}${nameOf === flagName ? ' or ACTORGATE_PASSWORD' : ''}`);
  }
  if (options.auth === 'none' && !options.allowNoAuthOnNetwork && !isLoopbackHostname(options.host)) {
    throw new OptionError(
      `${nameOf('auth')} none on ${options.host} would let anyone who reaches it in as an admin; listen on 127.0.0.1, use a token, or give ${nameOf('allowNoAuthOnNetwork')}`,
    );
  }
  if (options.inspect === true && options.inspectPort !== 0 && options.inspectPort === options.port) {
    throw new OptionError(`${nameOf('inspectPort')} and ${nameOf('port')} are both ${options.port}; the relay needs a port of its own`);
  }
  return options;
}

/**
 * The write-buffer watermarks must satisfy low < high <= max. A hard limit given alone pulls the high and
 * low marks that were left to their defaults under it; marks given explicitly that disagree are refused.
 */
function resolveWatermarks(options: ResolvedOptions, given: GatewayOptions, nameOf: NameOf): void {
  if (given.highWaterBytes === undefined) options.highWaterBytes = Math.min(options.highWaterBytes, options.maxBufferedBytes);
  if (given.lowWaterBytes === undefined && options.lowWaterBytes >= options.highWaterBytes) {
    options.lowWaterBytes = Math.floor(options.highWaterBytes / 4);
  }
  const { lowWaterBytes: low, highWaterBytes: high, maxBufferedBytes: max } = options;
  if (low >= 0 && low < high && high <= max) return;
  throw new OptionError(
    `${nameOf('lowWaterBytes')} (${low}) must be below ${nameOf('highWaterBytes')} (${high}), which must not exceed ${nameOf('maxBufferedBytes')} (${max})`,
  );
}

/** The options that have a flag, in table order, with it. */
export function flaggedOptions(): { name: OptionName; flag: string; option: OptionSpec<unknown> }[] {
  return OPTION_NAMES.flatMap((name) => {
    const option = OPTIONS[name] as OptionSpec<unknown>;
    return option.flag === undefined ? [] : [{ name, flag: option.flag, option }];
  });
}

/** The default as the docs show it. */
export function defaultText(option: OptionSpec<unknown>): string {
  if (option.defaultText !== undefined) return option.defaultText;
  if (typeof option.default === 'boolean') return option.default ? 'on' : 'off';
  return String(option.default);
}
