// Counts by key, with a bound on distinct keys so that free-text keys from a hostile or broken log
// (error details, close reasons, addresses) cannot grow memory without end.

export const OTHER_KEY = '(other)';

export class BoundedCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxKeys = 10_000) {}

  add(key: string, by = 1): void {
    const current = this.counts.get(key);
    if (current !== undefined) this.counts.set(key, current + by);
    else if (this.counts.size < this.maxKeys) this.counts.set(key, by);
    else this.counts.set(OTHER_KEY, (this.counts.get(OTHER_KEY) ?? 0) + by);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  /** Most frequent first; ties by key, so the output is stable. */
  sorted(): [string, number][] {
    return [...this.counts].sort(([keyA, a], [keyB, b]) => b - a || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0));
  }
}
