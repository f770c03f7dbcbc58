// The one clock every actor of a gateway schedules its delayed events on (handshake deadline, tick,
// invoke timeout, pairing expiry). It counts what is pending, so a test or a stats call can prove that
// nothing is left behind once the sockets are gone, and it never fires early.
//
// Node arms a timer against the event loop's cached time, taken when the loop iteration began: a timer
// armed late in a busy iteration fires up to that iteration's length early, as measured by a clock read
// when it was armed. A handshake timeout of 2000 ms could so end a connection whose log line says
// `durationMs: 1999`. This clock reads the monotonic clock when it arms a timer and again when the timer
// fires, and arms it again for whatever is left, so a delayed event fires no sooner than its delay after
// it was scheduled, on the clock `monotonicNow` reads (the one the gateway's durations are measured on).
import { performance } from 'node:perf_hooks';
import type { ActorOptions, AnyActorLogic } from 'xstate';

type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

/** Milliseconds on the monotonic clock (fractional): what the gateway measures durations with. */
export const monotonicNow = (): number => performance.now();

export interface CountingClock extends Clock {
  /** Delayed events scheduled and neither fired nor cancelled yet. */
  pending(): number;
}

/** A scheduled event: the timer in force (re-armed when Node fired it early) and when it is due. */
interface Scheduled {
  timer: ReturnType<typeof setTimeout>;
  readonly dueAt: number;
  readonly fn: () => void;
}

export function createCountingClock(now: () => number = monotonicNow): CountingClock {
  const live = new Set<Scheduled>();
  const arm = (scheduled: Scheduled, ms: number) => {
    scheduled.timer = setTimeout(fire, ms, scheduled);
  };
  const fire = (scheduled: Scheduled) => {
    const early = scheduled.dueAt - now();
    // Timers have whole milliseconds: what is left is rounded up, so the next firing is never early.
    if (early > 0) {
      arm(scheduled, Math.ceil(early));
      return;
    }
    live.delete(scheduled);
    scheduled.fn();
  };
  return {
    setTimeout(fn: (...args: unknown[]) => void, timeout: number) {
      const scheduled: Scheduled = { timer: undefined as unknown as ReturnType<typeof setTimeout>, dueAt: now() + timeout, fn };
      arm(scheduled, timeout);
      live.add(scheduled);
      return scheduled;
    },
    clearTimeout(handle: unknown) {
      const scheduled = handle as Scheduled;
      clearTimeout(scheduled.timer);
      live.delete(scheduled);
    },
    pending: () => live.size,
  };
}
