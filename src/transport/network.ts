// Facts about a peer's address: loopback or not, one key per client, the client behind a trusted reverse
// proxy, and header values made safe to log; and how much per-address memory the limits may keep.
import { BlockList, isIP } from 'node:net';

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || plain.startsWith('127.');
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its IPv4 address; anything else as is. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The reverse proxies whose `X-Forwarded-For` is believed: addresses (`10.0.0.5`, `::1`) and CIDR
 * ranges (`10.0.0.0/8`, `fd00::/8`). An empty list believes nobody.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    for (const entry of entries) TrustedProxies.add(this.list, entry);
    this.size = entries.length;
  }

  /** Throws a TypeError naming the entry when it is neither an address nor a CIDR range. */
  static validate(entry: string): void {
    TrustedProxies.add(new BlockList(), entry);
  }

  private static add(list: BlockList, entry: string): void {
    const [address = '', prefixText, ...rest] = entry.trim().split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) throw new TypeError(`not an IP address or CIDR range: "${entry}"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(address, type);
      return;
    }
    const prefix = Number(prefixText);
    if (!/^\d+$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw new TypeError(`not an IP address or CIDR range: "${entry}"`);
    list.addSubnet(address, prefix, type);
  }

  has(address: string | undefined): boolean {
    if (!address || this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client's address. `X-Forwarded-For` is read only when the socket's peer is a trusted proxy:
 * walking it from the right (the entry the nearest proxy appended), trusted proxies are skipped and the
 * first other address is the client. Without the header, or when every entry is a trusted proxy (or
 * not an address), the peer's own address stands.
 */
export function clientAddress(peerAddress: string, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  if (forwardedFor === undefined || !trusted.has(peerAddress)) return peerAddress;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripPort(hops[i]!.trim());
    if (isIP(hop) === 0) return peerAddress;
    if (!trusted.has(hop)) return hop;
  }
  return peerAddress;
}

/** `[::1]:443` and `1.2.3.4:80` as the bare address; anything else as is. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}

/** How many characters of a header value are logged or kept. */
export const MAX_LOGGED_HEADER_CHARS = 256;

/**
 * A header value safe to log: control and format characters (newlines, ANSI escapes, bidi overrides,
 * zero-width characters) removed, and at most `maxChars` characters, cut on a code point boundary.
 */
export function sanitizeHeaderValue(value: string | string[] | undefined, maxChars = MAX_LOGGED_HEADER_CHARS): string | undefined {
  if (value === undefined) return undefined;
  const text = (Array.isArray(value) ? value.join(', ') : value).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '');
  if (text.length <= maxChars) return text;
  return Array.from(text).slice(0, maxChars).join('');
}

/** One key per client: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function addressKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** At most this many addresses are remembered by the time-based limiters and log throttles; the oldest go first. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Evicts the oldest entries (Map insertion order) until there is room for one more. */
export function makeRoom<K, V>(map: Map<K, V>, cap: number): void {
  for (const key of map.keys()) {
    if (map.size < cap) return;
    map.delete(key);
  }
}
