// Broadcast streams: a burst of presence changes goes out once, as the newest; other broadcasts pass
// at once; audiences and per-recipient seq.
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { SupervisorEmitted } from '../../machines/supervisor.js';
import { broadcastsOf, fanOut, type Broadcast, type Recipient } from '../../src/broadcasts.js';

const presence = (version: number): SupervisorEmitted => ({
  type: 'presence.changed',
  presence: [{ ts: version }],
  stateVersion: { presence: version, health: 1 },
});

describe('broadcastsOf', () => {
  it('sends a burst of presence changes once, with the newest snapshot, and lets the rest through at once', async () => {
    const emitted$ = new Subject<SupervisorEmitted>();
    const seen: Broadcast[] = [];
    const subscription = broadcastsOf(emitted$).subscribe((broadcast) => seen.push(broadcast));
    emitted$.next(presence(2));
    emitted$.next(presence(3));
    emitted$.next({ type: 'tick' });
    emitted$.next({ type: 'reply', connId: 'c', requestId: 'r', ok: true, payload: null });
    emitted$.next(presence(4));
    expect(seen.map((b) => b.frame.event)).toEqual(['tick']);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.map((b) => b.frame.event)).toEqual(['tick', 'presence']);
    expect(seen[1]!.frame).toMatchObject({ payload: { presence: [{ ts: 4 }] }, stateVersion: { presence: 4 } });

    emitted$.next(presence(5));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.at(-1)!.frame.stateVersion).toEqual({ presence: 5, health: 1 });
    subscription.unsubscribe();
  });

  it('keeps operator-scoped broadcasts for operators holding the scope', () => {
    const emitted$ = new Subject<SupervisorEmitted>();
    const seen: Broadcast[] = [];
    broadcastsOf(emitted$).subscribe((broadcast) => seen.push(broadcast));
    emitted$.next({ type: 'broadcast', audience: 'operator.pairing', event: 'node.pair.requested', payload: { requestId: 'x' } });
    const recipients: (Recipient & { name: string })[] = [
      { name: 'admin', role: 'operator', scopes: ['operator.admin'], seq: 0 },
      { name: 'reader', role: 'operator', scopes: ['operator.read'], seq: 0 },
      { name: 'pairer', role: 'operator', scopes: ['operator.pairing'], seq: 7 },
      { name: 'node', role: 'node', scopes: [], seq: 0 },
    ];
    const written: [string, unknown][] = [];
    fanOut(recipients, seen[0]!, (recipient, data) => written.push([recipient.name, JSON.parse(data)]));
    expect(written).toEqual([
      ['admin', { type: 'event', event: 'node.pair.requested', payload: { requestId: 'x' }, seq: 1 }],
      ['pairer', { type: 'event', event: 'node.pair.requested', payload: { requestId: 'x' }, seq: 8 }],
    ]);
    expect(recipients.map((r) => r.seq)).toEqual([1, 0, 8, 0]);
  });
});
