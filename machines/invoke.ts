// One operator's command on a node, from request to its single answer.
// The supervisor spawns it, delivers the request to the node, and forwards the node's result or its
// disconnection, or the gateway's shutdown; whatever happens first settles it, exactly once, with
// `invoke.settled` to the parent.
import { assign, sendParent, setup } from 'xstate';
import { invokeNodeDisconnected, invokeNodeFailed, invokeTimedOut } from './invoke-failures.js';
import type { ErrorShape } from './protocol.js';

export interface InvokeInput {
  invokeId: string;
  nodeId: string;
  nodeConnId: string;
  command: string;
  timeoutMs: number;
}

export type InvokeOutcome =
  | { ok: true; payloadJSON?: string }
  | { ok: false; error: ErrorShape };

export interface InvokeContext extends InvokeInput {
  outcome?: InvokeOutcome;
}

export type InvokeEvent =
  | { type: 'invoke.delivered' }
  | { type: 'invoke.result'; ok: boolean; payloadJSON?: string; error?: { code?: string; message?: string } }
  | { type: 'node.disconnected' }
  /** The gateway stops: the caller is answered now rather than left to its timeout. */
  | { type: 'gateway.shutdown' };

export interface InvokeSettled {
  type: 'invoke.settled';
  invokeId: string;
  outcome: InvokeOutcome;
}

export const invokeMachine = setup({
  types: {
    context: {} as InvokeContext,
    events: {} as InvokeEvent,
    input: {} as InvokeInput,
  },
  actions: {
    recordNodeResult: assign(({ event }) => {
      if (event.type !== 'invoke.result') return {};
      const outcome: InvokeOutcome = event.ok
        ? { ok: true, ...(event.payloadJSON !== undefined ? { payloadJSON: event.payloadJSON } : {}) }
        : { ok: false, error: invokeNodeFailed(event.error) };
      return { outcome };
    }),
    recordNodeGone: assign(({ context }) => ({ outcome: { ok: false as const, error: invokeNodeDisconnected(context.command) } })),
    recordShutdown: assign(() => ({
      outcome: {
        ok: false as const,
        error: { code: 'UNAVAILABLE' as const, message: 'gateway shutting down', retryable: true },
      },
    })),
    recordTimeout: assign(() => ({ outcome: { ok: false as const, error: invokeTimedOut() } })),
    reportSettled: sendParent(({ context }): InvokeSettled => ({
      type: 'invoke.settled',
      invokeId: context.invokeId,
      outcome: context.outcome!,
    })),
  },
  guards: {
    nodeSucceeded: ({ event }) => event.type === 'invoke.result' && event.ok,
  },
  delays: {
    invokeTimeout: ({ context }) => context.timeoutMs,
  },
}).createMachine({
  id: 'invoke',
  context: ({ input }) => ({ ...input }),
  initial: 'pending',
  states: {
    pending: {
      after: { invokeTimeout: { target: 'timedOut', actions: 'recordTimeout' } },
      on: {
        'node.disconnected': { target: 'failed', actions: 'recordNodeGone' },
        'gateway.shutdown': { target: 'failed', actions: 'recordShutdown' },
      },
      initial: 'requested',
      states: {
        requested: {
          on: { 'invoke.delivered': 'sentToNode' },
        },
        sentToNode: {
          on: {
            'invoke.result': [
              { guard: 'nodeSucceeded', target: '#invoke.resolved', actions: 'recordNodeResult' },
              { target: '#invoke.failed', actions: 'recordNodeResult' },
            ],
          },
        },
      },
    },
    resolved: { type: 'final', entry: 'reportSettled' },
    failed: { type: 'final', entry: 'reportSettled' },
    timedOut: { type: 'final', entry: 'reportSettled' },
  },
});

export type InvokeMachine = typeof invokeMachine;
