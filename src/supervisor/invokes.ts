// The invoke actors of a running gateway. The supervisor decides when an invoke starts and what it is told
// (`invoke.start`, `invoke.signal`); this runs each as an actor of its own (machines/invoke.ts) under one
// stateless host, which passes their `invoke.settled` on to the supervisor.
//
// They are not the supervisor's spawned children on purpose: XState copies a parent's children on every
// spawn and stop, so each invoke cost more the more were in flight (0.9 ms of CPU at 1,000, 5.4 ms at 8,000).
// Here a start is a Map insertion and an actor, a settle a Map deletion: the same cost whatever is in flight
// (bench/invokes.mjs measures it). The host shares one actor system with its invokes, its scheduler indexed
// (src/actors/scheduler-index.ts), so ending an invoke cancels only its own timeout.
import {
  createActor,
  fromTransition,
  type ActorOptions,
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
  type InspectionEvent,
} from 'xstate';
import { invokeMachine, type InvokeEvent, type InvokeInput, type InvokeSettled, type NodeInvokeCancel } from '../../machines/invoke.js';
import type { SupervisorEvent } from '../../machines/supervisor.js';
import { indexScheduledEvents } from '../actors/scheduler-index.js';

type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

const ERROR_EVENT = 'xstate.error.actor.';

export interface InvokeRunnerServices {
  /** Where `invoke.settled` goes: the supervisor. */
  report(event: SupervisorEvent): void;
  /** Sends `node.invoke.cancel` to the node connection the request went to (if it is still there). */
  tellNodeToCancel(nodeConnId: string, cancel: NodeInvokeCancel): void;
  /** An invoke actor failed (a bug): logged; its caller is answered UNAVAILABLE. */
  onActorError(invokeId: string, error: unknown): void;
  clock?: Clock;
  inspect?: (event: InspectionEvent) => void;
}

export class InvokeRunner {
  private readonly actors = new Map<string, AnyActorRef>();
  private readonly host: AnyActorRef;
  private readonly machine;

  constructor(private readonly services: InvokeRunnerServices) {
    this.machine = invokeMachine.provide({
      actions: { tellNodeToCancel: (_, { nodeConnId, cancel }) => services.tellNodeToCancel(nodeConnId, cancel) },
    });
    this.host = createActor(
      fromTransition((state: null, event: AnyEventObject) => {
        this.hear(event);
        return state;
      }, null),
      { ...(services.clock ? { clock: services.clock } : {}), ...(services.inspect ? { inspect: services.inspect } : {}) },
    );
    this.host.start();
    indexScheduledEvents(this.host.system);
  }

  /** Starts an invoke's actor. */
  start(input: InvokeInput): void {
    const actor = createActor(this.machine, { id: input.invokeId, input, parent: this.host });
    this.actors.set(input.invokeId, actor);
    actor.start();
  }

  /** Tells an invoke what happened; an invoke that has ended hears nothing. */
  signal(invokeId: string, event: InvokeEvent): void {
    this.actors.get(invokeId)?.send(event);
  }

  /** Invoke actors alive. */
  get size(): number {
    return this.actors.size;
  }

  /**
   * Drops whatever still runs and stops the host. A shutdown settles every invoke first, so this is for a gateway
   * that failed to start, or a test: an actor that is not a root cannot be stopped on its own, so its timeout is
   * cancelled, which leaves it inert.
   */
  stop(): void {
    for (const actor of this.actors.values()) this.host.system.scheduler.cancelAll(actor);
    this.actors.clear();
    this.host.stop();
  }

  /** What the invoke actors send their parent: their settlement, their failures; their done events are ignored. */
  private hear(event: AnyEventObject): void {
    if (event.type === 'invoke.settled') {
      const settled = event as InvokeSettled;
      this.actors.delete(settled.invokeId);
      this.services.report(settled);
      return;
    }
    if (event.type.startsWith(ERROR_EVENT)) {
      const invokeId = event.type.slice(ERROR_EVENT.length);
      if (!this.actors.delete(invokeId)) return;
      this.services.onActorError(invokeId, (event as { error?: unknown }).error);
      this.services.report({
        type: 'invoke.settled',
        invokeId,
        outcome: { ok: false, error: { code: 'UNAVAILABLE', message: 'internal error' } },
      });
    }
  }
}
