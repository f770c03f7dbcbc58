// The one clock every actor of a gateway schedules its delayed events on (handshake deadline, tick,
// invoke timeout, pairing expiry). It counts what is pending, so a test or a stats call can prove that
// nothing is left behind once the sockets are gone.
import type { ActorOptions, AnyActorLogic } from 'xstate';

type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

export interface CountingClock extends Clock {
  /** Delayed events scheduled and neither fired nor cancelled yet. */
  pending(): number;
}

export function createCountingClock(): CountingClock {
  const live = new Set<ReturnType<typeof setTimeout>>();
  return {
    setTimeout(fn: (...args: unknown[]) => void, timeout: number) {
      const handle = setTimeout(() => {
        live.delete(handle);
        fn();
      }, timeout);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle: ReturnType<typeof setTimeout>) {
      clearTimeout(handle);
      live.delete(handle);
    },
    pending: () => live.size,
  };
}
