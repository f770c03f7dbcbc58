// The browser Origin policy: which pages may talk to the gateway, decided from the Origin and Host headers.
import { describe, expect, it } from 'vitest';
import { checkBrowserOrigin, normalizeAllowedOrigin, type OriginCheckInput } from '../../src/auth/origin-policy.js';

const check = (input: Partial<OriginCheckInput>) =>
  checkBrowserOrigin({ origin: undefined, requestHost: '127.0.0.1:18789', isLoopbackPeer: true, allowedOrigins: [], ...input });

describe('checkBrowserOrigin', () => {
  it('lets in clients that are not browsers (no Origin)', () => {
    expect(check({})).toEqual({ ok: true, matchedBy: 'no-origin' });
    expect(check({ isLoopbackPeer: false, requestHost: 'gw.example.com' })).toEqual({ ok: true, matchedBy: 'no-origin' });
  });

  it('refuses a foreign page, on loopback too', () => {
    expect(check({ origin: 'http://evil.example.com' })).toEqual({ ok: false, reason: 'origin not allowed' });
    expect(check({ origin: 'https://evil.example.com', isLoopbackPeer: false, requestHost: '192.168.1.5:18789' })).toEqual({ ok: false, reason: 'origin not allowed' });
  });

  it('refuses malformed, null and path-carrying origins', () => {
    for (const origin of ['null', 'not a url', 'http://a.example/path', 'http://user:pw@127.0.0.1:18789', 'http://']) {
      expect(check({ origin })).toEqual({ ok: false, reason: 'origin missing or invalid' });
    }
  });

  it("takes the gateway's own origin on a trusted host, not a public one", () => {
    expect(check({ origin: 'http://127.0.0.1:18789' })).toEqual({ ok: true, matchedBy: 'same-origin' });
    expect(check({ origin: 'http://192.168.1.5:18789', requestHost: '192.168.1.5:18789', isLoopbackPeer: false })).toEqual({ ok: true, matchedBy: 'same-origin' });
    expect(check({ origin: 'http://box.local:18789', requestHost: 'box.local:18789', isLoopbackPeer: false })).toMatchObject({ ok: true });
    expect(check({ origin: 'http://gw.example.com', requestHost: 'gw.example.com', isLoopbackPeer: false })).toEqual({ ok: false, reason: 'origin not allowed' });
    // A Host header naming this machine, from a peer that is not on it (a rebinding or a proxy), is no proof.
    expect(check({ origin: 'http://localhost:18789', requestHost: 'localhost:18789', isLoopbackPeer: false })).toMatchObject({ ok: false });
  });

  it('takes a loopback page talking to the gateway from this machine, and only from this machine', () => {
    expect(check({ origin: 'http://localhost:5173' })).toEqual({ ok: true, matchedBy: 'local-loopback' });
    expect(check({ origin: 'http://[::1]:3000' })).toEqual({ ok: true, matchedBy: 'local-loopback' });
    expect(check({ origin: 'http://localhost:5173', isLoopbackPeer: false, requestHost: '10.0.0.2:18789' })).toMatchObject({ ok: false });
  });

  it('takes what the allowlist names, case-insensitively, and everything with *', () => {
    const allowedOrigins = [normalizeAllowedOrigin('HTTPS://App.Example.com')];
    expect(check({ origin: 'https://app.example.com', allowedOrigins, isLoopbackPeer: false })).toEqual({ ok: true, matchedBy: 'allowlist' });
    expect(check({ origin: 'https://app.example.com:8443', allowedOrigins, isLoopbackPeer: false })).toMatchObject({ ok: false });
    expect(check({ origin: 'http://evil.example.com', allowedOrigins: ['*'] })).toEqual({ ok: true, matchedBy: 'allowlist' });
    expect(() => normalizeAllowedOrigin('app.example.com')).toThrow(/not an origin/);
  });
});
