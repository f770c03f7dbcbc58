// Failed authentications per client address, as the reference gateway limits them: a sliding window of
// failures locks an address out for a while. Pure logic with an injectable clock (no timers, no I/O): the
// gateway feeds it addresses and outcomes and sweeps it now and then; tests drive the clock by hand.
import { CloseCode, DetailCode, type HandshakeRejection } from '../../machines/protocol.js';
import { MAX_TRACKED_ADDRESSES, addressKey, isLoopbackAddress, makeRoom } from '../transport/network.js';

export type Clock = () => number;

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

  /**
   * Loopback is exempt when so configured, but never a browser page: any site the user visits can open a
   * socket to 127.0.0.1, so failures from a page with an Origin always count, per origin.
   */
  isExempt(address: string, browserOrigin?: string): boolean {
    return browserOrigin === undefined && this.options.exemptLoopback && isLoopbackAddress(address);
  }

  /** Failures are counted per address; those of a browser page on loopback, per page origin. */
  private keyOf(address: string, browserOrigin: string | undefined): string {
    return browserOrigin !== undefined && isLoopbackAddress(address) ? `origin ${browserOrigin}` : addressKey(address);
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
  check(address: string, browserOrigin?: string): AuthLimitDecision {
    if (!this.enabled || this.isExempt(address, browserOrigin)) return { limited: false };
    const now = this.now();
    const record = this.current(this.keyOf(address, browserOrigin), now);
    if (!record || record.lockedUntil === 0) return { limited: false };
    return { limited: true, retryAfterMs: record.lockedUntil - now };
  }

  /**
   * Records a failed authentication. Returns the lockout when this failure started one. Failures while
   * locked out (from connects that were already past {@link check}) neither count nor extend it.
   */
  recordFailure(address: string, browserOrigin?: string): { lockedOut: false; failures: number } | { lockedOut: true; failures: number; lockoutMs: number } {
    if (!this.enabled || this.isExempt(address, browserOrigin)) return { lockedOut: false, failures: 0 };
    const now = this.now();
    const key = this.keyOf(address, browserOrigin);
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
  recordSuccess(address: string, browserOrigin?: string): void {
    const key = this.keyOf(address, browserOrigin);
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
  return (
    /^AUTH_(TOKEN|PASSWORD)_/.test(code) ||
    code === DetailCode.AUTH_DEVICE_TOKEN_MISMATCH ||
    code === DetailCode.AUTH_SCOPE_MISMATCH ||
    code === DetailCode.AUTH_BOOTSTRAP_TOKEN_INVALID ||
    code.startsWith('DEVICE_AUTH_')
  );
}

/** The refusal of a connect from a locked-out address: an error response, then close 1008. */
export function rateLimitedRejection(retryAfterMs: number): HandshakeRejection {
  return {
    error: {
      code: 'INVALID_REQUEST',
      message: 'unauthorized: too many failed attempts',
      details: { code: DetailCode.AUTH_RATE_LIMITED, authReason: 'rate_limited', canRetryWithDeviceToken: false, recommendedNextStep: 'wait_then_retry' },
      retryable: true,
      retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
    },
    closeCode: CloseCode.policyViolation,
    closeReason: 'too many failed attempts',
  };
}
