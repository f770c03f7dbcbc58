// Requests the supervisor answers itself (node invokes, pairing decisions): each goes to the supervisor
// with an id of this table's, and its `reply`, whenever it comes (an invoke waits for its node), settles
// the promise the method is waiting on. The client's own request id never reaches the supervisor, so two
// requests that reuse an id are still answered once each.
import type { ErrorShape } from '../../machines/protocol.js';
import type { SupervisorEmitted, SupervisorEvent } from '../../machines/supervisor.js';

type RequestEvent = Extract<SupervisorEvent, { requestId: string }>;
type WithoutRequestId<E> = E extends unknown ? Omit<E, 'requestId'> : never;
type Reply = Extract<SupervisorEmitted, { type: 'reply' }>;

/** What the supervisor answered. */
export type SupervisorAnswer = { ok: true; payload: unknown } | { ok: false; error: ErrorShape };

export class SupervisorRequests {
  private next = 0;
  private readonly waiting = new Map<string, (answer: SupervisorAnswer) => void>();

  constructor(private readonly supervisor: { send(event: SupervisorEvent): void }) {}

  /** Sends a request to the supervisor; resolves with its answer. */
  ask(event: WithoutRequestId<RequestEvent>): Promise<SupervisorAnswer> {
    const requestId = `r${++this.next}`;
    return new Promise((resolve) => {
      this.waiting.set(requestId, resolve);
      this.supervisor.send({ ...event, requestId } as RequestEvent);
    });
  }

  /** A reply of the supervisor's: settles the request it answers. */
  settle(reply: Reply): void {
    const resolve = this.waiting.get(reply.requestId);
    if (resolve === undefined) return;
    this.waiting.delete(reply.requestId);
    resolve(reply.ok ? { ok: true, payload: reply.payload } : { ok: false, error: reply.error });
  }

  /** The supervisor stopped: whatever still waits is answered with `error`. */
  abandonAll(error: ErrorShape): void {
    for (const resolve of this.waiting.values()) resolve({ ok: false, error });
    this.waiting.clear();
  }

  /** Requests still waiting for their answer. */
  get size(): number {
    return this.waiting.size;
  }
}
