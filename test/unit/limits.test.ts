// The per-address limits on a hand-driven clock: nothing here sleeps.
import { describe, expect, it } from 'vitest';
import type { HandshakeRejection } from '../../machines/protocol.js';
import { ConfigError, parseStartConfig } from '../../src/cli/config.js';
import { AuthFailureLimiter, isCredentialFailure, rateLimitedRejection, type AuthFailureLimiterOptions } from '../../src/auth/rate-limit.js';
import { LogThrottle } from '../../src/transport/log-throttle.js';
import { addressKey } from '../../src/transport/network.js';
import { PreauthCounter } from '../../src/transport/upgrade-admission.js';

/** The limits as `actorgate start` resolves them: these options of the table. */
const LIMIT_KEYS = [
  'maxPreauthPerAddress',
  'authMaxFailures',
  'authFailureWindowMs',
  'authLockoutMs',
  'authRateLimitLoopback',
  'maxConnections',
  'unauthorizedCallLimit',
  'unauthorizedCallWindowMs',
  'highWaterBytes',
  'lowWaterBytes',
  'maxBufferedBytes',
] as const;
const limitsOf = (config: ReturnType<typeof parseStartConfig>) => Object.fromEntries(LIMIT_KEYS.map((key) => [key, config[key]]));
const DEFAULT_LIMITS = limitsOf(parseStartConfig([], {}));

function fakeClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const REMOTE = '203.0.113.7';

function limiter(overrides: Partial<AuthFailureLimiterOptions> = {}) {
  const clock = fakeClock();
  const options = { maxFailures: 10, windowMs: 60_000, lockoutMs: 300_000, exemptLoopback: true, now: clock.now, ...overrides };
  return { clock, limiter: new AuthFailureLimiter(options) };
}

function fail(target: AuthFailureLimiter, address: string, times: number) {
  let last;
  for (let i = 0; i < times; i++) last = target.recordFailure(address);
  return last;
}

function rejectionWith(code?: string): HandshakeRejection {
  return {
    error: { code: 'INVALID_REQUEST', message: 'x', ...(code ? { details: { code } } : {}) },
    closeCode: 1008,
    closeReason: 'x',
  };
}

describe('unauthenticated sockets per address', () => {
  it('admits up to the cap, refuses the next with the count, and admits again after a release', () => {
    const counter = new PreauthCounter(32);
    for (let i = 0; i < 32; i++) expect(counter.tryAcquire(REMOTE)).toEqual({ ok: true });
    expect(counter.tryAcquire(REMOTE)).toEqual({ ok: false, count: 32 });
    expect(counter.tryAcquire('198.51.100.1')).toEqual({ ok: true });
    counter.release(REMOTE);
    expect(counter.count(REMOTE)).toBe(31);
    expect(counter.tryAcquire(REMOTE)).toEqual({ ok: true });
    expect(counter.tryAcquire(REMOTE).ok).toBe(false);
  });

  it('forgets an address at zero, ignores a release it never counted, and counts ::ffff:a.b.c.d as a.b.c.d', () => {
    const counter = new PreauthCounter(2);
    counter.tryAcquire('::ffff:10.0.0.1');
    counter.tryAcquire('10.0.0.1');
    expect(counter.tryAcquire('10.0.0.1').ok).toBe(false);
    counter.release('10.0.0.1');
    counter.release('::ffff:10.0.0.1');
    expect(counter.size).toBe(0);
    counter.release('10.0.0.1');
    expect(counter.count('10.0.0.1')).toBe(0);
    expect(counter.size).toBe(0);
  });

  it('has no cap at 0', () => {
    const counter = new PreauthCounter(0);
    for (let i = 0; i < 1_000; i++) expect(counter.tryAcquire(REMOTE).ok).toBe(true);
  });

  it('keeps IPv6 addresses apart from IPv4-mapped ones', () => {
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('2001:db8::1')).toBe('2001:db8::1');
    expect(addressKey('::ffff:abcd')).toBe('::ffff:abcd');
  });
});

describe('rejected-upgrade log throttle', () => {
  it('lets one line per key through per interval and reports how many it held back', () => {
    const clock = fakeClock();
    const throttle = new LogThrottle(10_000, clock.now);
    expect(throttle.take(REMOTE)).toEqual({ log: true, suppressed: 0 });
    for (let i = 0; i < 500; i++) expect(throttle.take(REMOTE)).toEqual({ log: false });
    expect(throttle.take('198.51.100.1')).toEqual({ log: true, suppressed: 0 });
    clock.advance(9_999);
    expect(throttle.take(REMOTE)).toEqual({ log: false });
    clock.advance(1);
    expect(throttle.take(REMOTE)).toEqual({ log: true, suppressed: 501 });
    expect(throttle.take(REMOTE)).toEqual({ log: false });
  });

  it('prunes keys whose interval is over and reports what they still held back', () => {
    const clock = fakeClock();
    const throttle = new LogThrottle(10_000, clock.now);
    throttle.take('a');
    throttle.take('a');
    clock.advance(5_000);
    throttle.take('b');
    clock.advance(5_000);
    const summaries: [string, number][] = [];
    expect(throttle.prune((key, suppressed) => summaries.push([key, suppressed]))).toBe(1);
    expect(summaries).toEqual([['a', 1]]);
    expect(throttle.size).toBe(1);
    clock.advance(5_000);
    expect(throttle.prune()).toBe(1);
    expect(throttle.size).toBe(0);
  });

  it('flushes every key at once, reporting those that held lines back, whatever their interval', () => {
    const clock = fakeClock();
    const throttle = new LogThrottle(10_000, clock.now);
    throttle.take('a');
    throttle.take('a');
    throttle.take('a');
    throttle.take('b');
    const summaries: [string, number][] = [];
    throttle.flush((key, suppressed) => summaries.push([key, suppressed]));
    expect(summaries).toEqual([['a', 2]]);
    expect(throttle.size).toBe(0);
    expect(throttle.take('a')).toEqual({ log: true, suppressed: 0 });
  });

  it('never holds more than its cap, evicting the key logged longest ago', () => {
    const clock = fakeClock();
    const throttle = new LogThrottle(10_000, clock.now, 3);
    for (const key of ['a', 'b', 'c', 'd']) throttle.take(key);
    expect(throttle.size).toBe(3);
    expect(throttle.take('a')).toEqual({ log: true, suppressed: 0 });
    expect(throttle.take('d')).toEqual({ log: false });
  });
});

describe('failed-auth rate limit', () => {
  it('locks an address out at the 10th failure within the window, for the lockout', () => {
    const { clock, limiter: target } = limiter();
    for (let i = 1; i <= 9; i++) {
      expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: false, failures: i });
      expect(target.check(REMOTE)).toEqual({ limited: false });
      clock.advance(1_000);
    }
    expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: true, failures: 10, lockoutMs: 300_000 });
    expect(target.check(REMOTE)).toEqual({ limited: true, retryAfterMs: 300_000 });
    clock.advance(299_999);
    expect(target.check(REMOTE)).toEqual({ limited: true, retryAfterMs: 1 });
    expect(target.check('198.51.100.1')).toEqual({ limited: false });
    clock.advance(1);
    expect(target.check(REMOTE)).toEqual({ limited: false });
    expect(target.size).toBe(0);
  });

  it('counts failures in a sliding window: old ones fall out', () => {
    const { clock, limiter: target } = limiter();
    fail(target, REMOTE, 9);
    clock.advance(60_000); // the nine are now exactly one window old
    expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: false, failures: 1 });
    clock.advance(30_000);
    fail(target, REMOTE, 8);
    clock.advance(29_999);
    expect(target.recordFailure(REMOTE)).toMatchObject({ lockedOut: true });
  });

  it('neither counts nor extends while locked out, and starts afresh after it', () => {
    const { clock, limiter: target } = limiter();
    fail(target, REMOTE, 10);
    clock.advance(100_000);
    expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: false, failures: 0 });
    expect(target.check(REMOTE)).toEqual({ limited: true, retryAfterMs: 200_000 });
    clock.advance(200_000);
    expect(target.check(REMOTE).limited).toBe(false);
    expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: false, failures: 1 });
  });

  it('clears the failures on a success, but not a lockout in force', () => {
    const { limiter: target } = limiter();
    fail(target, REMOTE, 9);
    target.recordSuccess(REMOTE);
    expect(target.size).toBe(0);
    expect(target.recordFailure(REMOTE)).toEqual({ lockedOut: false, failures: 1 });
    fail(target, REMOTE, 9);
    target.recordSuccess(REMOTE);
    expect(target.check(REMOTE).limited).toBe(true);
  });

  it('exempts loopback by default, and limits it when told to', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      const exempt = limiter().limiter;
      expect(fail(exempt, address, 50)).toEqual({ lockedOut: false, failures: 0 });
      expect(exempt.check(address)).toEqual({ limited: false });
      expect(exempt.size).toBe(0);
      const strict = limiter({ exemptLoopback: false }).limiter;
      expect(fail(strict, address, 10)).toMatchObject({ lockedOut: true });
      expect(strict.check(address).limited).toBe(true);
    }
  });

  it('counts ::ffff:a.b.c.d and a.b.c.d as one address', () => {
    const { limiter: target } = limiter();
    fail(target, '::ffff:203.0.113.7', 5);
    expect(fail(target, '203.0.113.7', 5)).toMatchObject({ lockedOut: true });
    expect(target.check('::ffff:203.0.113.7').limited).toBe(true);
  });

  it('does nothing with 0 failures allowed', () => {
    const { limiter: target } = limiter({ maxFailures: 0 });
    expect(fail(target, REMOTE, 100)).toEqual({ lockedOut: false, failures: 0 });
    expect(target.check(REMOTE).limited).toBe(false);
    expect(target.size).toBe(0);
  });

  it('prunes addresses with nothing left in force', () => {
    const { clock, limiter: target } = limiter();
    fail(target, '10.0.0.1', 3);
    fail(target, '10.0.0.2', 10);
    clock.advance(30_000);
    fail(target, '10.0.0.3', 1);
    expect(target.size).toBe(3);
    clock.advance(30_000);
    expect(target.prune()).toBe(1); // 10.0.0.1's window is over; 10.0.0.2 is locked out; 10.0.0.3's failure is recent
    clock.advance(30_000);
    expect(target.prune()).toBe(1);
    expect(target.size).toBe(1);
    clock.advance(240_000);
    expect(target.prune()).toBe(1);
    expect(target.size).toBe(0);
  });

  it('holds at most its cap of addresses: expired ones go first, then the least recently failed', () => {
    const { clock, limiter: target } = limiter({ maxEntries: 3 });
    fail(target, 'a', 1);
    fail(target, 'b', 10); // locked out
    fail(target, 'c', 1);
    clock.advance(60_000); // a's and c's failures expire; b stays locked out
    fail(target, 'd', 1);
    expect(target.size).toBe(2);
    expect(target.check('b').limited).toBe(true);
    fail(target, 'e', 1);
    fail(target, 'b', 1); // refreshes nothing: b is locked out, and keeps its place
    fail(target, 'd', 1); // d failed most recently
    fail(target, 'f', 1); // full, nothing expired: the least recently failed (b) goes
    expect(target.size).toBe(3);
    expect(target.check('b').limited).toBe(false);
    expect(fail(target, 'd', 8)).toMatchObject({ lockedOut: true }); // d kept its two failures
  });
});

describe('what counts as a failed authentication', () => {
  it('counts shared-secret, device-token and device-proof failures', () => {
    for (const code of [
      'AUTH_TOKEN_MISSING',
      'AUTH_TOKEN_MISMATCH',
      'AUTH_PASSWORD_MISSING',
      'AUTH_PASSWORD_MISMATCH',
      'AUTH_DEVICE_TOKEN_MISMATCH',
      'AUTH_SCOPE_MISMATCH',
      'AUTH_BOOTSTRAP_TOKEN_INVALID',
      'DEVICE_AUTH_SIGNATURE_INVALID',
      'DEVICE_AUTH_NONCE_MISMATCH',
      'DEVICE_AUTH_SIGNATURE_EXPIRED',
    ]) {
      expect(isCredentialFailure(rejectionWith(code)), code).toBe(true);
    }
  });

  it('does not count pairing, the rate limit itself, or a rejection without a code', () => {
    for (const code of ['PAIRING_REQUIRED', 'AUTH_RATE_LIMITED', undefined]) {
      expect(isCredentialFailure(rejectionWith(code)), String(code)).toBe(false);
    }
  });

  it('refuses a locked-out connect with AUTH_RATE_LIMITED, retryable, the wait_then_retry hint, and close 1008', () => {
    expect(rateLimitedRejection(1234.2)).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: 'unauthorized: too many failed attempts',
        details: { code: 'AUTH_RATE_LIMITED', authReason: 'rate_limited', canRetryWithDeviceToken: false, recommendedNextStep: 'wait_then_retry' },
        retryable: true,
        retryAfterMs: 1235,
      },
      closeCode: 1008,
      closeReason: 'too many failed attempts',
    });
  });
});

describe('limit flags', () => {
  it('defaults to the reference: 32 unauthenticated sockets, 10 failures per 60 s, 5 min lockout, loopback exempt', () => {
    expect(DEFAULT_LIMITS).toEqual({
      maxPreauthPerAddress: 32,
      authMaxFailures: 10,
      authFailureWindowMs: 60_000,
      authLockoutMs: 300_000,
      authRateLimitLoopback: false,
      maxConnections: 10_000,
      unauthorizedCallLimit: 30,
      unauthorizedCallWindowMs: 60_000,
      highWaterBytes: 64 * 1024,
      lowWaterBytes: 16 * 1024,
      maxBufferedBytes: 50 * 1024 * 1024,
    });
  });

  it('reads flags and ACTORGATE_* variables, flags winning', () => {
    const env = {
      ACTORGATE_MAX_PREAUTH_PER_ADDRESS: '8',
      ACTORGATE_AUTH_MAX_FAILURES: '5',
      ACTORGATE_AUTH_FAILURE_WINDOW_MS: '30000',
      ACTORGATE_AUTH_LOCKOUT_MS: '60000',
      ACTORGATE_AUTH_RATE_LIMIT_LOOPBACK: '1',
    };
    expect(limitsOf(parseStartConfig([], env))).toEqual({
      ...DEFAULT_LIMITS,
      maxPreauthPerAddress: 8,
      authMaxFailures: 5,
      authFailureWindowMs: 30_000,
      authLockoutMs: 60_000,
      authRateLimitLoopback: true,
    });
    const flags = ['--max-preauth-per-address', '0', '--auth-max-failures', '3', '--auth-lockout-ms', '1000'];
    expect(parseStartConfig(flags, env)).toMatchObject({ maxPreauthPerAddress: 0, authMaxFailures: 3, authLockoutMs: 1_000 });
    expect(parseStartConfig(['--auth-rate-limit-loopback'], {}).authRateLimitLoopback).toBe(true);
    expect(parseStartConfig([], { ACTORGATE_AUTH_RATE_LIMIT_LOOPBACK: 'no' }).authRateLimitLoopback).toBe(false);
  });

  it('refuses bad values', () => {
    expect(() => parseStartConfig(['--max-preauth-per-address=-1'], {})).toThrow(
      '--max-preauth-per-address must be an integer from 0 to 1000000, got "-1"',
    );
    expect(() => parseStartConfig(['--auth-lockout-ms', '0'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig(['--auth-failure-window-ms', 'soon'], {})).toThrow(ConfigError);
    expect(() => parseStartConfig([], { ACTORGATE_AUTH_RATE_LIMIT_LOOPBACK: 'maybe' })).toThrow(
      'ACTORGATE_AUTH_RATE_LIMIT_LOOPBACK must be 1 or 0',
    );
  });
});
