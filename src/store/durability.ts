// Which revision of the pairing state is on disk. The supervisor numbers every change of its pairing
// state (a revision); the runtime saves each one and reports back when it is durable, so that nothing
// that depends on a change (an approve's answer, a hello-ok carrying a device token) goes out before
// the change would survive a crash.

export interface DurabilityHooks {
  /** A save holding `revision` (or a later one) is durable. */
  onPersisted(revision: number): void;
  /** The save of `revision` failed and no later save covers it; it is retried when someone waits for it. */
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
  /** The newest revision handed to `save`. */
  private requested = 0;
  private waiters: Waiter[] = [];

  constructor(
    /** Saves a state durably (temp file, fsync, rename); resolves once it, or a later one, is on disk. */
    private readonly save: (state: S) => Promise<void>,
    /** The newest revision and its state, for a retry after a failed save. */
    private readonly current: () => { revision: number; state: S },
    private readonly hooks: DurabilityHooks,
  ) {}

  get durableRevision(): number {
    return this.durable;
  }

  isDurable(revision: number): boolean {
    return revision <= this.durable;
  }

  /** Saves `state`, the pairing state at `revision`. */
  persist(revision: number, state: S): Promise<void> {
    if (revision > this.requested) this.requested = revision;
    let saved: Promise<void>;
    try {
      saved = this.save(state);
    } catch (error) {
      saved = Promise.reject(error);
    }
    return saved.then(
      () => {
        if (revision > this.durable) this.durable = revision;
        this.settleWaiters();
        this.hooks.onPersisted(revision);
      },
      (error: unknown) => {
        // A later save, already requested, holds this revision's changes too: its outcome decides.
        if (this.requested > revision) return;
        this.failWaiters(revision, error);
        this.hooks.onFailed(revision, error);
      },
    );
  }

  /**
   * Resolves once `revision` is durable; rejects when its save failed and no later save covers it. A
   * revision whose save failed earlier is saved again (with the newest state) for this waiter.
   */
  whenDurable(revision: number): Promise<void> {
    if (revision <= this.durable) return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
    if (revision > this.requested || !this.inFlight()) {
      const { revision: newest, state } = this.current();
      void this.persist(Math.max(newest, revision), state);
    }
    return waiting;
  }

  /** Waiters still waiting (for stats and tests). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** A save of a revision not yet durable has been requested and has not failed. */
  private inFlight(): boolean {
    return this.requested > this.durable;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision <= this.durable) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private failWaiters(revision: number, error: unknown): void {
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision <= revision) waiter.reject(error);
      else still.push(waiter);
    }
    this.waiters = still;
    // What failed is no longer "requested": the next waiter triggers a new save.
    this.requested = this.durable;
  }
}
