// Which pairing revision is on disk, on a store whose writes the test completes or fails by hand.
import { describe, expect, it } from 'vitest';
import { DurabilityTracker } from '../../src/store/durability.js';

function setup() {
  const writes: { state: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  const events: string[] = [];
  let newest = { revision: 0, state: 's0' };
  let snapshots = 0;
  const tracker = new DurabilityTracker<string>(
    (state) => new Promise<void>((resolve, reject) => writes.push({ state, resolve, reject })),
    () => {
      snapshots += 1;
      return newest;
    },
    { onPersisted: (revision) => events.push(`persisted ${revision}`), onFailed: (revision) => events.push(`failed ${revision}`) },
  );
  const change = (revision: number) => {
    newest = { revision, state: `s${revision}` };
    tracker.persist(revision);
  };
  return { tracker, writes, events, change, snapshots: () => snapshots };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('durability tracker', () => {
  it('writes one change at a time, coalescing the changes made meanwhile into one write of the newest state', async () => {
    const { tracker, writes, events, change, snapshots } = setup();
    expect(tracker.isDurable(0)).toBe(true);
    change(1);
    change(2);
    change(3);
    const seen: number[] = [];
    void tracker.whenDurable(1).then(() => seen.push(1));
    void tracker.whenDurable(3).then(() => seen.push(3));
    expect(writes.map((write) => write.state)).toEqual(['s1']);
    writes[0]!.resolve();
    await settle();
    expect(seen).toEqual([1]);
    expect(tracker.isDurable(1) && !tracker.isDurable(2)).toBe(true);
    // Revisions 2 and 3 go out as one write of the newest state, copied once.
    expect(writes.map((write) => write.state)).toEqual(['s1', 's3']);
    expect(snapshots()).toBe(2);
    writes[1]!.resolve();
    await settle();
    expect(seen).toEqual([1, 3]);
    expect(events).toEqual(['persisted 1', 'persisted 3']);
    await expect(tracker.whenDurable(2)).resolves.toBeUndefined();
    expect(writes).toHaveLength(2);
  });

  it('fails the waiters of a failed write, and writes again for the next change or waiter', async () => {
    const { tracker, writes, events, change } = setup();
    change(1);
    const failing = tracker.whenDurable(1);
    writes[0]!.reject(new Error('ENOSPC'));
    await expect(failing).rejects.toThrow('ENOSPC');
    expect(events).toEqual(['failed 1']);
    expect(tracker.isDurable(1)).toBe(false);
    // Nothing retries on its own...
    await settle();
    expect(writes).toHaveLength(1);
    // ...until someone waits for it again.
    const retry = tracker.whenDurable(1);
    expect(writes.map((write) => write.state)).toEqual(['s1', 's1']);
    writes[1]!.resolve();
    await expect(retry).resolves.toBeUndefined();
    expect(tracker.waiting).toBe(0);
    expect(events).toEqual(['failed 1', 'persisted 1']);
  });

  it('keeps writing for a waiter that came during a write that failed', async () => {
    const { tracker, writes, change } = setup();
    change(1);
    const first = tracker.whenDurable(1);
    change(2);
    const second = tracker.whenDurable(2);
    writes[0]!.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await settle();
    expect(writes.map((write) => write.state)).toEqual(['s1', 's2']);
    writes[1]!.resolve();
    await expect(second).resolves.toBeUndefined();
  });
  it('without a store: every revision is durable at once, nothing is copied, and one report goes out per burst', async () => {
    const events: number[] = [];
    let snapshots = 0;
    const tracker = new DurabilityTracker<string>(
      undefined,
      () => {
        snapshots += 1;
        return { revision: 0, state: '' };
      },
      { onPersisted: (revision) => events.push(revision), onFailed: () => events.push(-1) },
    );
    tracker.persist(1);
    tracker.persist(2);
    expect(tracker.isDurable(2)).toBe(true);
    expect(tracker.isDurable(3)).toBe(false);
    expect(events).toEqual([]); // reported in a microtask, not from inside the change
    await expect(tracker.whenDurable(2)).resolves.toBeUndefined();
    await settle();
    expect(events).toEqual([2]);
    tracker.persist(3);
    await settle();
    expect(events).toEqual([2, 3]);
    expect(snapshots).toBe(0);
    expect(tracker.waiting).toBe(0);
  });
});
