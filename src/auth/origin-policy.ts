// Which browser pages may talk to the gateway. A WebSocket from a web page carries the page's Origin, and
// a browser lets any page open a socket to 127.0.0.1: without this check every site the user visits
// could try the gateway's credentials (cross-site WebSocket hijacking). Clients that are not browsers
// send no Origin and are not concerned. Pure: header values in, a decision out.
import { isIP } from 'node:net';
import { isLoopbackAddress } from '../transport/network.js';

export interface OriginCheckInput {
  /** The Origin header of the upgrade, when it had one. */
  origin: string | undefined;
  /** The Host header of the upgrade: what the page addressed the gateway as. */
  requestHost: string | undefined;
  /** Whether the TCP peer is on this machine (and not behind a proxy that names another client). */
  isLoopbackPeer: boolean;
  /** Origins allowed besides the defaults, lower-cased `scheme://host[:port]`; `*` allows every page. */
  allowedOrigins: readonly string[];
}

export type OriginDecision =
  | { ok: true; matchedBy: 'no-origin' | 'allowlist' | 'same-origin' | 'local-loopback' }
  | { ok: false; reason: 'origin missing or invalid' | 'origin not allowed' };

interface ParsedOrigin {
  origin: string;
  host: string;
  hostname: string;
}

/** `scheme://host[:port]` and nothing else (no path, credentials or `null`), lower-cased. */
function parseOrigin(raw: string): ParsedOrigin | undefined {
  const text = raw.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#\\@]+\/?$/i.test(text)) return undefined;
  try {
    const url = new URL(text);
    if (!url.host) return undefined;
    return { origin: `${url.protocol}//${url.host}`.toLowerCase(), host: url.host.toLowerCase(), hostname: url.hostname.toLowerCase() };
  } catch {
    return undefined;
  }
}

function unbracketed(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** A host name that names this machine. */
export function isLoopbackHostname(hostname: string): boolean {
  const plain = unbracketed(hostname.toLowerCase());
  return plain === 'localhost' || plain.endsWith('.localhost') || isLoopbackAddress(plain);
}

/** Private (RFC 1918, unique-local, link-local) or loopback address literals. */
function isPrivateAddress(hostname: string): boolean {
  const plain = unbracketed(hostname);
  const family = isIP(plain);
  if (family === 4) return /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|127\.)/.test(plain);
  if (family === 6) return /^(fc|fd|fe80:)/i.test(plain) || plain === '::1';
  return false;
}

/**
 * A page served by the gateway's own host may talk to it when that host is this machine (for a local
 * peer), a private address, or a local name (`.local`, `.ts.net`); a public name must be listed.
 */
function isTrustedSameOriginHost(hostname: string, isLoopbackPeer: boolean): boolean {
  if (isLoopbackHostname(hostname)) return isLoopbackPeer;
  if (isIP(unbracketed(hostname)) !== 0) return isPrivateAddress(hostname);
  return hostname.endsWith('.local') || hostname.endsWith('.ts.net');
}

/**
 * Allowed: no Origin (not a browser); an Origin listed in `allowedOrigins` (or `*`); the gateway's own
 * origin (same host and port as the Host header) on a trusted host; a loopback page talking to the
 * gateway from this machine. Anything else, a malformed or `null` Origin included, is refused.
 */
export function checkBrowserOrigin(input: OriginCheckInput): OriginDecision {
  if (input.origin === undefined || input.origin === '') return { ok: true, matchedBy: 'no-origin' };
  const parsed = parseOrigin(input.origin);
  if (!parsed) return { ok: false, reason: 'origin missing or invalid' };
  if (input.allowedOrigins.includes('*') || input.allowedOrigins.includes(parsed.origin)) return { ok: true, matchedBy: 'allowlist' };
  const host = input.requestHost?.trim().toLowerCase();
  if (host && parsed.host === host && isTrustedSameOriginHost(parsed.hostname, input.isLoopbackPeer)) return { ok: true, matchedBy: 'same-origin' };
  if (input.isLoopbackPeer && isLoopbackHostname(parsed.hostname)) return { ok: true, matchedBy: 'local-loopback' };
  return { ok: false, reason: 'origin not allowed' };
}

/** An allowed-origins entry as it is compared: `*`, or a lower-cased `scheme://host[:port]`. Throws when it is neither. */
export function normalizeAllowedOrigin(entry: string): string {
  const text = entry.trim();
  if (text === '*') return '*';
  const parsed = parseOrigin(text);
  if (!parsed) throw new TypeError(`not an origin (scheme://host[:port]): "${entry}"`);
  return parsed.origin;
}
