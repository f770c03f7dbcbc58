// Lets a repeated log line through at most once per interval and key, and says how many were held back
// since the last one, so a flood (refused upgrades, dropped TCP connections) leaves one line per address
// every interval, and a last line summing up what was held back once it stops.
import { MAX_TRACKED_ADDRESSES, makeRoom } from './network.js';

/** A rejected-upgrade log line per address at most this often; the ones in between are counted. */
export const REJECTION_LOG_INTERVAL_MS = 10_000;

export type Clock = () => number;

/**
 * Lets a repeated log line through at most once per interval and key, and says how many were held back
 * since the last one, so a flood leaves one line per address every interval.
 */
export class LogThrottle {
  private readonly entries = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = REJECTION_LOG_INTERVAL_MS,
    private readonly now: Clock = Date.now,
    private readonly maxEntries = MAX_TRACKED_ADDRESSES,
  ) {}

  /** Whether to log now; `suppressed` is how many lines for this key were held back before this one. */
  take(key: string): { log: true; suppressed: number } | { log: false } {
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed++;
      return { log: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.entries.delete(key); // re-inserted last: the Map stays ordered by the time of the last line
    if (!entry && this.entries.size >= this.maxEntries) {
      this.prune();
      makeRoom(this.entries, this.maxEntries);
    }
    this.entries.set(key, { loggedAt: now, suppressed: 0 });
    return { log: true, suppressed };
  }

  /**
   * Forgets keys whose interval is over; returns how many went. `onSuppressed` hears of each one that
   * still had lines held back, so a flood that stopped can still be summed up in one last line.
   */
  prune(onSuppressed?: (key: string, suppressed: number) => void): number {
    const now = this.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (now - entry.loggedAt < this.intervalMs) break; // ordered by loggedAt: the rest are newer
      this.entries.delete(key);
      removed++;
      if (entry.suppressed > 0) onSuppressed?.(key, entry.suppressed);
    }
    return removed;
  }

  /** Forgets every key; `onSuppressed` hears of each one that still had lines held back (at shutdown). */
  flush(onSuppressed: (key: string, suppressed: number) => void): void {
    for (const [key, entry] of this.entries) if (entry.suppressed > 0) onSuppressed(key, entry.suppressed);
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

