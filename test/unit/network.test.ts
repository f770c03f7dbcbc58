// Client addresses behind trusted proxies, and header values made safe to log.
import { describe, expect, it } from 'vitest';
import { TrustedProxies, clientAddress, isLoopbackAddress, sanitizeHeaderValue } from '../../src/transport/network.js';

describe('client address', () => {
  const trusted = new TrustedProxies(['10.0.0.5', '10.1.0.0/16', '::1']);

  it('reads X-Forwarded-For only from a trusted proxy', () => {
    expect(clientAddress('10.0.0.5', '203.0.113.7', trusted)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:10.0.0.5', '203.0.113.7', trusted)).toBe('203.0.113.7');
    expect(clientAddress('::1', '2001:db8::1', trusted)).toBe('2001:db8::1');
    expect(clientAddress('198.51.100.1', '203.0.113.7', trusted)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.5', undefined, trusted)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', '127.0.0.1', new TrustedProxies([]))).toBe('10.0.0.5');
  });

  it('takes the rightmost address that is not a trusted proxy, so a client cannot forge its own', () => {
    expect(clientAddress('10.0.0.5', '1.2.3.4, 203.0.113.7, 10.1.2.3', trusted)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.5', ['127.0.0.1', '203.0.113.7'], trusted)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.5', '203.0.113.7:51234', trusted)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.5', '[2001:db8::2]:443', trusted)).toBe('2001:db8::2');
    // Only proxies, or garbage: the peer's own address stands.
    expect(clientAddress('10.0.0.5', '10.1.0.9', trusted)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', 'evil\r\nX: y', trusted)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', '', trusted)).toBe('10.0.0.5');
  });

  it('validates entries', () => {
    expect(() => TrustedProxies.validate('10.0.0.0/8')).not.toThrow();
    expect(() => TrustedProxies.validate('fd00::/8')).not.toThrow();
    expect(() => TrustedProxies.validate('proxy.local')).toThrow(TypeError);
    expect(() => TrustedProxies.validate('10.0.0.0/40')).toThrow(TypeError);
    expect(() => TrustedProxies.validate('10.0.0.0/8/1')).toThrow(TypeError);
    expect(isLoopbackAddress('::ffff:127.0.0.1')).toBe(true);
  });
});

describe('header values in logs', () => {
  it('removes control and format characters and caps the length on a code point boundary', () => {
    expect(sanitizeHeaderValue('curl/8.0\r\n{"level":60,"msg":"forged"}')).toBe('curl/8.0{"level":60,"msg":"forged"}');
    expect(sanitizeHeaderValue('\u001b[31mred\u001b[0m \u202eevil\u200b')).toBe('[31mred[0m evil');
    expect(sanitizeHeaderValue(['a', 'b'])).toBe('a, b');
    expect(sanitizeHeaderValue(undefined)).toBeUndefined();
    const long = sanitizeHeaderValue('😀'.repeat(300))!;
    expect(Array.from(long)).toHaveLength(256);
    expect(long.endsWith('😀')).toBe(true);
    expect(sanitizeHeaderValue('x'.repeat(10), 4)).toBe('xxxx');
  });
});
