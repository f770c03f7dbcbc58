// Connection limits, per client address as the reference gateway has them (a cap on sockets that have
// not completed the handshake, a lockout after repeated failed authentication), and for the whole
// gateway and each socket (a cap on connections, refused calls, the write buffer's watermarks).
// Pure logic with an injectable clock (no timers, no I/O): the gateway feeds it addresses and outcomes,
// and sweeps it now and then; tests drive the clock by hand.
import { DEFAULT_UNAUTHORIZED_CALL_LIMIT, DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS } from '../machines/connection.js';
import { CloseCode, type HandshakeRejection } from '../machines/protocol.js';
import { DEFAULT_WATERMARKS } from './backpressure.js';
import { isLoopbackAddress } from './network.js';

export interface LimitsConfig {
  /** Sockets per remote address that have not completed the handshake; further upgrades get HTTP 503. 0: no cap. */
  maxPreauthPerAddress: number;
  /** Failed authentications per address within the window that trigger a lockout. 0: no rate limit. */
  authMaxFailures: number;
  /** The sliding window those failures are counted in. */
  authFailureWindowMs: number;
  /** How long a locked-out address is refused before its credentials are checked again. */
  authLockoutMs: number;
  /** Loopback clients (127.0.0.0/8, ::1) are never locked out. */
  exemptLoopback: boolean;
  /** Sockets open at once, handshaking or ready, from everyone; further upgrades get HTTP 503. 0: no cap. */
  maxConnections: number;
  /** Requests refused for the caller's role or scope within the window that close the socket (1008). 0: no limit. */
  unauthorizedCallLimit: number;
  unauthorizedCallWindowMs: number;
  /** Buffered bytes above which presence and health frames are coalesced to the newest. */
  highWaterBytes: number;
  /** Buffered bytes at or under which the held frames are sent. */
  lowWaterBytes: number;
  /** Buffered bytes above which the peer is closed as a slow consumer (1008). */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxPreauthPerAddress: 32,
  authMaxFailures: 10,
  authFailureWindowMs: 60_000,
  authLockoutMs: 300_000,
  exemptLoopback: true,
  maxConnections: 10_000,
  unauthorizedCallLimit: DEFAULT_UNAUTHORIZED_CALL_LIMIT,
  unauthorizedCallWindowMs: DEFAULT_UNAUTHORIZED_CALL_WINDOW_MS,
  ...DEFAULT_WATERMARKS,
};

/** Details codes of a request refused for who the caller is: what the unauthorized-call limit counts. */
export const UNAUTHORIZED_CALL_CODES: ReadonlySet<string> = new Set(['ROLE_NOT_ALLOWED', 'MISSING_SCOPE']);

/** The `details.code` of an error response when it refused the caller's role or scope. */
export function unauthorizedCallCode(error: { details?: unknown } | undefined): string | undefined {
  const code = (error?.details as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNAUTHORIZED_CALL_CODES.has(code) ? code : undefined;
}

/** At most this many addresses are remembered by the time-based limiters; the oldest go first. */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** A rejected-upgrade log line per address at most this often; the ones in between are counted. */
export const REJECTION_LOG_INTERVAL_MS = 10_000;
/** How often the gateway sweeps expired entries out of the time-based limiters. */
export const LIMITS_SWEEP_INTERVAL_MS = 60_000;

export type Clock = () => number;

/** One key per client: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function addressKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Evicts the oldest entries (Map insertion order) until there is room for one more. */
function makeRoom<K, V>(map: Map<K, V>, cap: number): void {
  for (const key of map.keys()) {
    if (map.size < cap) return;
    map.delete(key);
  }
}

/**
 * Counts the sockets of each address that are still in their handshake. O(1) per operation; an address
 * leaves the Map when its count drops to zero, so the Map holds only addresses with pending sockets.
 */
export class PreauthCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts one more pending socket, or refuses with the current count when the address is at its cap. */
  tryAcquire(address: string): { ok: true } | { ok: false; count: number } {
    const key = addressKey(address);
    const count = this.counts.get(key) ?? 0;
    if (this.max > 0 && count >= this.max) return { ok: false, count };
    this.counts.set(key, count + 1);
    return { ok: true };
  }

  release(address: string): void {
    const key = addressKey(address);
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }

  count(address: string): number {
    return this.counts.get(addressKey(address)) ?? 0;
  }

  /** Addresses with at least one pending socket. */
  get size(): number {
    return this.counts.size;
  }
}

/**
 * Lets a repeated log line through at most once per interval and key, and says how many were held back
 * since the last one, so a flood leaves one line per address every interval.
 */
export class LogThrottle {
  private readonly entries = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = REJECTION_LOG_INTERVAL_MS,
    private readonly now: Clock = Date.now,
    private readonly maxEntries = MAX_TRACKED_ADDRESSES,
  ) {}

  /** Whether to log now; `suppressed` is how many lines for this key were held back before this one. */
  take(key: string): { log: true; suppressed: number } | { log: false } {
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed++;
      return { log: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.entries.delete(key); // re-inserted last: the Map stays ordered by the time of the last line
    if (!entry && this.entries.size >= this.maxEntries) {
      this.prune();
      makeRoom(this.entries, this.maxEntries);
    }
    this.entries.set(key, { loggedAt: now, suppressed: 0 });
    return { log: true, suppressed };
  }

  /**
   * Forgets keys whose interval is over; returns how many went. `onSuppressed` hears of each one that
   * still had lines held back, so a flood that stopped can still be summed up in one last line.
   */
  prune(onSuppressed?: (key: string, suppressed: number) => void): number {
    const now = this.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (now - entry.loggedAt < this.intervalMs) break; // ordered by loggedAt: the rest are newer
      this.entries.delete(key);
      removed++;
      if (entry.suppressed > 0) onSuppressed?.(key, entry.suppressed);
    }
    return removed;
  }

  /** Forgets every key; `onSuppressed` hears of each one that still had lines held back (at shutdown). */
  flush(onSuppressed: (key: string, suppressed: number) => void): void {
    for (const [key, entry] of this.entries) if (entry.suppressed > 0) onSuppressed(key, entry.suppressed);
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

export type AuthLimitDecision = { limited: false } | { limited: true; retryAfterMs: number };

export interface AuthFailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  exemptLoopback: boolean;
  now?: Clock;
  maxEntries?: number;
}

interface AddressRecord {
  /** Times of the failures still inside the window, oldest first; at most maxFailures of them. */
  failures: number[];
  /** Epoch ms until which the address is refused; 0 when not locked out. */
  lockedUntil: number;
}

/**
 * Failed authentications per address in a sliding window: `maxFailures` of them within `windowMs` lock
 * the address out for `lockoutMs`. Each address keeps at most `maxFailures` timestamps; expired entries
 * are dropped when the address is seen again and by {@link prune}; past `maxEntries` addresses the one
 * least recently failed goes first.
 */
export class AuthFailureLimiter {
  private readonly records = new Map<string, AddressRecord>();
  private readonly now: Clock;
  private readonly maxEntries: number;

  constructor(private readonly options: AuthFailureLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? MAX_TRACKED_ADDRESSES;
  }

  private get enabled(): boolean {
    return this.options.maxFailures > 0;
  }

  isExempt(address: string): boolean {
    return this.options.exemptLoopback && isLoopbackAddress(address);
  }

  /** Drops what has expired from one record; true when nothing is left of it. */
  private expire(record: AddressRecord, now: number): boolean {
    if (record.lockedUntil !== 0 && record.lockedUntil <= now) record.lockedUntil = 0;
    const windowStart = now - this.options.windowMs;
    let expired = 0;
    while (expired < record.failures.length && record.failures[expired]! <= windowStart) expired++;
    if (expired > 0) record.failures.splice(0, expired);
    return record.lockedUntil === 0 && record.failures.length === 0;
  }

  /** The record of an address with its expired parts dropped, or undefined (and forgotten) when empty. */
  private current(key: string, now: number): AddressRecord | undefined {
    const record = this.records.get(key);
    if (record && this.expire(record, now)) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }

  /** Whether an address is locked out now, and for how much longer. */
  check(address: string): AuthLimitDecision {
    if (!this.enabled || this.isExempt(address)) return { limited: false };
    const now = this.now();
    const record = this.current(addressKey(address), now);
    if (!record || record.lockedUntil === 0) return { limited: false };
    return { limited: true, retryAfterMs: record.lockedUntil - now };
  }

  /**
   * Records a failed authentication. Returns the lockout when this failure started one. Failures while
   * locked out (from connects that were already past {@link check}) neither count nor extend it.
   */
  recordFailure(address: string): { lockedOut: false; failures: number } | { lockedOut: true; failures: number; lockoutMs: number } {
    if (!this.enabled || this.isExempt(address)) return { lockedOut: false, failures: 0 };
    const now = this.now();
    const key = addressKey(address);
    let record = this.current(key, now);
    if (record?.lockedUntil) return { lockedOut: false, failures: record.failures.length };
    if (record) {
      this.records.delete(key); // re-inserted last: the Map stays ordered by the latest failure
    } else {
      if (this.records.size >= this.maxEntries) {
        this.prune();
        makeRoom(this.records, this.maxEntries);
      }
      record = { failures: [], lockedUntil: 0 };
    }
    this.records.set(key, record);
    record.failures.push(now);
    const failures = record.failures.length;
    if (failures < this.options.maxFailures) return { lockedOut: false, failures };
    record.failures = [];
    record.lockedUntil = now + this.options.lockoutMs;
    return { lockedOut: true, failures, lockoutMs: this.options.lockoutMs };
  }

  /** A successful authentication clears the address's failures; a lockout in force stays. */
  recordSuccess(address: string): void {
    const key = addressKey(address);
    const record = this.current(key, this.now());
    if (!record) return;
    if (record.lockedUntil === 0) this.records.delete(key);
    else record.failures = [];
  }

  /** Forgets every address with nothing left in force; returns how many went. */
  prune(): number {
    const now = this.now();
    let removed = 0;
    for (const [key, record] of this.records) {
      if (!this.expire(record, now)) continue;
      this.records.delete(key);
      removed++;
    }
    return removed;
  }

  /** Addresses remembered (with failures in the window or a lockout in force, until pruned). */
  get size(): number {
    return this.records.size;
  }
}

/**
 * Whether a refused handshake was a failed credential check, to be rate-limited: a wrong or missing
 * gateway token or password, a device token that does not match, a device proof that does not hold.
 * Not a device waiting for pairing approval, and not a refusal from the rate limit itself.
 */
export function isCredentialFailure(rejection: HandshakeRejection): boolean {
  const code = (rejection.error.details as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return false;
  return /^AUTH_(TOKEN|PASSWORD)_/.test(code) || code === 'AUTH_DEVICE_TOKEN_MISMATCH' || code.startsWith('DEVICE_AUTH_');
}

/** The refusal of a connect from a locked-out address: an error response, then close 1008. */
export function rateLimitedRejection(retryAfterMs: number): HandshakeRejection {
  return {
    error: {
      code: 'INVALID_REQUEST',
      message: 'unauthorized: too many failed attempts',
      details: { code: 'AUTH_RATE_LIMITED' },
      retryable: true,
      retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
    },
    closeCode: CloseCode.policyViolation,
    closeReason: 'too many failed attempts',
  };
}
