// The probe's reading of a failed connection, and its arguments.
import { describe, expect, it } from 'vitest';
import { parseProbeArgs, ProbeUsageError } from '../../src/observability/probe/args.js';
import { diagnose } from '../../src/observability/probe/diagnosis.js';

const failure = (overrides: Partial<Parameters<typeof diagnose>[0]>) => ({ durationMs: 50, timeoutMs: 10_000, timedOut: false, ...overrides });

describe('probe diagnosis', () => {
  it('reads the time to the close as the guide says: < 100 ms network, then slow handshake, at the deadline timeout', () => {
    expect(diagnose(failure({ code: 1006, durationMs: 99.9 })).cause).toBe('network');
    expect(diagnose(failure({ code: 1006, durationMs: 100 })).cause).toBe('slow-handshake');
    expect(diagnose(failure({ code: 1011, durationMs: 9_999 })).cause).toBe('slow-handshake');
    expect(diagnose(failure({ code: 1006, durationMs: 10_000 })).cause).toBe('handshake-timeout');
    expect(diagnose(failure({ code: 4000, reason: 'handshake timeout', durationMs: 10_002, timedOut: true })).cause).toBe('handshake-timeout');
    // The gateway's own handshake timeout, shorter than the probe's.
    expect(diagnose(failure({ code: 1008, reason: 'handshake timeout', durationMs: 5_000 })).cause).toBe('handshake-timeout');
  });

  it('reads a socket that never opened and failed with a system error as the network, however long it took', () => {
    for (const socketError of ['connect ECONNREFUSED 127.0.0.1:1', 'read ECONNRESET', 'getaddrinfo ENOTFOUND gw.invalid', 'connect EHOSTUNREACH 10.0.0.9:18789']) {
      const diagnosis = diagnose(failure({ code: 1006, durationMs: 2_500, opened: false, socketError }));
      expect(diagnosis.cause, socketError).toBe('network');
      expect(diagnosis.summary).toContain(/\bE[A-Z_]+\b/.exec(socketError)![0]);
    }
    // Not a system error (an upgrade the server answered with 401), or after the socket opened: the clock decides.
    expect(diagnose(failure({ code: 1006, durationMs: 2_500, opened: false, socketError: 'Unexpected server response: 401' })).cause).toBe('slow-handshake');
    expect(diagnose(failure({ code: 1006, durationMs: 2_500, opened: true, socketError: 'read ECONNRESET' })).cause).toBe('slow-handshake');
    // The deadline still wins when it was reached.
    expect(diagnose(failure({ code: 1006, durationMs: 10_000, opened: false, socketError: 'connect ETIMEDOUT 10.0.0.9:18789' })).cause).toBe('handshake-timeout');
  });

  it('prefers what the gateway said over the clock', () => {
    const error = (code: string, extra = {}) => ({ code: 'INVALID_REQUEST' as const, message: code, details: { code, ...extra } });
    expect(diagnose(failure({ code: 1008, reason: 'unauthorized: gateway token mismatch', error: error('AUTH_TOKEN_MISMATCH') }))).toMatchObject({
      cause: 'auth-rejected',
      summary: expect.stringContaining('AUTH_TOKEN_MISMATCH'),
    });
    expect(diagnose(failure({ code: 1008, reason: 'pairing required', error: error('PAIRING_REQUIRED', { requestId: 'req-7' }) }))).toMatchObject({
      cause: 'pairing-required',
      summary: expect.stringContaining('req-7'),
    });
    const limited = { ...error('AUTH_RATE_LIMITED'), retryAfterMs: 4_000 };
    expect(diagnose(failure({ code: 1008, reason: 'too many failed attempts', error: limited }))).toMatchObject({
      cause: 'rate-limited',
      summary: expect.stringContaining('4000 ms'),
    });
    const flooded = { ...error('PAIRING_REQUESTS_LIMITED'), message: 'too many pairing requests are waiting for an operator; try again later', retryAfterMs: 60_000 };
    expect(diagnose(failure({ code: 1008, reason: 'too many pairing requests', error: flooded }))).toEqual({
      cause: 'rate-limited',
      summary: 'too many pairing requests are waiting for an operator: retry in 60000 ms',
    });
    const full = { ...error('PAIRING_LIMIT_REACHED'), message: 'pairing limit reached: no more devices can be paired until an operator removes one' };
    expect(diagnose(failure({ code: 1008, reason: 'pairing limit reached', error: full }))).toEqual({ cause: 'pairing-limit', summary: full.message });
    expect(diagnose(failure({ code: 1002, reason: 'protocol mismatch' })).cause).toBe('protocol-error');
    expect(diagnose(failure({ code: 4001, reason: 'device removed', durationMs: 20_000 })).cause).toBe('credentials-revoked');
  });
});

describe('probe arguments', () => {
  it('takes a ws or wss URL and the options, in either --flag value or --flag=value form', () => {
    expect(parseProbeArgs(['ws://127.0.0.1:18789'])).toEqual({ url: 'ws://127.0.0.1:18789', json: false, timeoutMs: 10_000 });
    expect(parseProbeArgs(['--json', 'wss://gw.example', '--token=t', '--timeout', '500', '--device-key', 'k.json'])).toEqual({
      url: 'wss://gw.example',
      json: true,
      timeoutMs: 500,
      token: 't',
      deviceKey: 'k.json',
    });
  });

  it('refuses what it cannot use', () => {
    for (const argv of [[], ['a', 'b'], ['http://x'], ['nope'], ['ws://x', '--timeout', '0'], ['ws://x', '--token'], ['ws://x', '--token', 'a', '--password', 'b'], ['ws://x', '-q']]) {
      expect(() => parseProbeArgs(argv), argv.join(' ')).toThrow(ProbeUsageError);
    }
  });
});
