// Which pairing revision is on disk, on a store whose saves the test completes or fails by hand.
import { describe, expect, it } from 'vitest';
import { DurabilityTracker } from '../../src/store/durability.js';

function setup() {
  const saves: { state: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  const events: string[] = [];
  let newest = { revision: 0, state: 's0' };
  const tracker = new DurabilityTracker<string>(
    (state) => new Promise<void>((resolve, reject) => saves.push({ state, resolve, reject })),
    () => newest,
    { onPersisted: (revision) => events.push(`persisted ${revision}`), onFailed: (revision) => events.push(`failed ${revision}`) },
  );
  const change = (revision: number) => {
    newest = { revision, state: `s${revision}` };
    void tracker.persist(revision, newest.state);
  };
  return { tracker, saves, events, change };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('durability tracker', () => {
  it('resolves waiters once their revision is saved, in order', async () => {
    const { tracker, saves, events, change } = setup();
    expect(tracker.isDurable(0)).toBe(true);
    change(1);
    change(2);
    const seen: number[] = [];
    void tracker.whenDurable(1).then(() => seen.push(1));
    void tracker.whenDurable(2).then(() => seen.push(2));
    expect(saves.map((save) => save.state)).toEqual(['s1', 's2']);
    saves[0]!.resolve();
    await settle();
    expect(seen).toEqual([1]);
    expect(tracker.isDurable(1) && !tracker.isDurable(2)).toBe(true);
    saves[1]!.resolve();
    await settle();
    expect(seen).toEqual([1, 2]);
    expect(events).toEqual(['persisted 1', 'persisted 2']);
    await expect(tracker.whenDurable(2)).resolves.toBeUndefined();
  });

  it('a failed save covered by a later one is not reported; an uncovered one fails its waiters', async () => {
    const { tracker, saves, events, change } = setup();
    change(1);
    change(2);
    const waiting = tracker.whenDurable(1);
    saves[0]!.reject(new Error('EIO'));
    await settle();
    expect(events).toEqual([]);
    saves[1]!.resolve();
    await expect(waiting).resolves.toBeUndefined();

    change(3);
    const failing = tracker.whenDurable(3);
    saves[2]!.reject(new Error('ENOSPC'));
    await expect(failing).rejects.toThrow('ENOSPC');
    expect(events).toEqual(['persisted 2', 'failed 3']);
  });

  it('saves again, with the newest state, for a waiter of a revision whose save failed', async () => {
    const { tracker, saves, change } = setup();
    change(1);
    saves[0]!.reject(new Error('EIO'));
    await settle();
    const retry = tracker.whenDurable(1);
    expect(saves.map((save) => save.state)).toEqual(['s1', 's1']);
    saves[1]!.resolve();
    await expect(retry).resolves.toBeUndefined();
    expect(tracker.waiting).toBe(0);
  });
});
