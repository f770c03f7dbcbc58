import { describe, expect, it } from 'vitest';
import { ProtocolLimits, type PresenceEntry } from '../../machines/protocol.js';
import { presenceWindowFor } from '../../src/outbound/broadcasts.js';
import { PRESENCE_BYTES_PER_SECOND } from '../../src/gateway/supervisor-wiring.js';
import { boundedPresence } from '../../src/supervisor/presence-budget.js';

const self: PresenceEntry = { host: 'gateway', ip: '127.0.0.1', version: '1', platform: 'linux', mode: 'gateway', reason: 'self', ts: 1 };
const entry = (i: number, pad = 0): PresenceEntry => ({ host: `h${i}${'x'.repeat(pad)}`, ip: '10.0.0.1', mode: 'ui', reason: 'connect', ts: i, instanceId: `i${i}` });
const bytes = (list: PresenceEntry[]) => Buffer.byteLength(JSON.stringify(list));

describe('the presence list clients are sent', () => {
  it('is the list itself when it fits', () => {
    const list = [entry(3), entry(2), entry(1), self];
    expect(boundedPresence(list)).toBe(list);
  });

  it('keeps the newest entries that fit in maxPresenceBytes, and the gateway own entry last, whatever the list', () => {
    const list = [...Array.from({ length: 400 }, (_, i) => entry(400 - i, 1_000)), self];
    const bounded = boundedPresence(list);
    expect(bytes(bounded)).toBeLessThanOrEqual(ProtocolLimits.maxPresenceBytes);
    expect(bounded.at(-1)).toBe(self);
    expect(bounded.slice(0, -1)).toEqual(list.slice(0, bounded.length - 1));
    // One more entry would not have fitted.
    expect(bytes([...list.slice(0, bounded.length), self])).toBeGreaterThan(ProtocolLimits.maxPresenceBytes);
    // Exactly at the limit fits.
    const exact = boundedPresence(list, bytes(bounded));
    expect(exact).toEqual(bounded);
    expect(boundedPresence(list, bytes(bounded) - 1)).toHaveLength(bounded.length - 1);
  });

  it('keeps the gateway own entry alone when nothing else fits', () => {
    expect(boundedPresence([entry(1, 10_000), self], 200)).toEqual([self]);
  });
});

describe('the presence window', () => {
  it('stretches past 1 s when the byte budget needs it: one full fan-out per window within 32 MiB/s', () => {
    const sockets = 1_000;
    const window = presenceWindowFor(10, sockets, ProtocolLimits.maxPresenceBytes, PRESENCE_BYTES_PER_SECOND, Number.POSITIVE_INFINITY);
    expect(window).toBeGreaterThan(1_000);
    expect((sockets * ProtocolLimits.maxPresenceBytes * 1_000) / window).toBeLessThanOrEqual(PRESENCE_BYTES_PER_SECOND);
    expect(presenceWindowFor(10, 3, 2_000, PRESENCE_BYTES_PER_SECOND, Number.POSITIVE_INFINITY)).toBe(10);
  });
});
