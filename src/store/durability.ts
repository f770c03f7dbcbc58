// Which revision of the pairing state is on disk. The supervisor numbers every change of its pairing
// state (a revision); the runtime saves and reports back when a revision is durable, so that nothing
// that depends on a change (an approve's answer, a hello-ok carrying a device token) goes out before
// the change would survive a crash.
//
// One write at a time, of the newest state: changes that come while a write runs are coalesced into the
// next write, and the state is taken (copied) only when a write starts, not once per change.

export interface DurabilityHooks {
  /** Revisions up to `revision` are on disk. */
  onPersisted(revision: number): void;
  /** The write holding `revision` failed; it is written again when someone waits for it or a newer change comes. */
  onFailed(revision: number, error: unknown): void;
}

interface Waiter {
  revision: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class DurabilityTracker<S> {
  /** Revisions up to this one are on disk; revision 0 is the state loaded at start. */
  private durable = 0;
  /** The newest revision someone asked to be saved. */
  private requested = 0;
  private writing = false;
  private waiters: Waiter[] = [];

  /** A report of the newest revision is queued (in-memory mode): one per burst of changes. */
  private reportQueued = false;

  constructor(
    /**
     * Saves a state durably (temp file, fsync, rename). Without one the state lives in memory only: every
     * revision is as durable as it gets the moment it exists, no state is copied, and the supervisor is
     * told in a microtask.
     */
    private readonly save: ((state: S) => Promise<void>) | undefined,
    /** The newest revision and its state, taken when a write starts. */
    private readonly current: () => { revision: number; state: S },
    private readonly hooks: DurabilityHooks,
  ) {}

  get durableRevision(): number {
    return this.durable;
  }

  isDurable(revision: number): boolean {
    return revision <= this.durable;
  }

  /** The pairing state changed to `revision`: it is written, with whatever changed after it, soon. */
  persist(revision: number): void {
    if (revision > this.requested) this.requested = revision;
    if (this.save === undefined) {
      if (revision > this.durable) this.durable = revision;
      if (!this.reportQueued) {
        this.reportQueued = true;
        queueMicrotask(() => {
          this.reportQueued = false;
          this.hooks.onPersisted(this.durable);
        });
      }
      return;
    }
    if (!this.writing) void this.drain();
  }

  /** Resolves once `revision` is on disk; rejects when the write holding it failed. */
  whenDurable(revision: number): Promise<void> {
    if (revision <= this.durable) return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
    this.persist(revision);
    return waiting;
  }

  /** Waiters still waiting (for stats and tests). */
  get waiting(): number {
    return this.waiters.length;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.requested > this.durable) {
        const { revision, state } = this.current();
        if (revision <= this.durable) {
          this.requested = this.durable; // nothing newer to write
          break;
        }
        try {
          await this.save!(state);
        } catch (error) {
          // Not on disk: the waiters of this write hear it; a later change or waiter writes again.
          this.settle(revision, error);
          this.requested = this.waiters.reduce((newest, waiter) => Math.max(newest, waiter.revision), this.durable);
          this.hooks.onFailed(revision, error);
          continue;
        }
        if (revision > this.durable) this.durable = revision;
        this.settle(this.durable);
        this.hooks.onPersisted(this.durable);
      }
    } finally {
      this.writing = false;
    }
  }

  /** Resolves the waiters of revisions up to `revision`, or rejects them with `error`. */
  private settle(revision: number, error?: unknown): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision > revision) still.push(waiter);
      else if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    this.waiters = still;
  }
}
