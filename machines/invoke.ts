// One operator's command on a node, from request to its single answer.
// The runtime starts it when the supervisor says so (`invoke.start`), and forwards what the supervisor
// tells it (`invoke.signal`): the node's result or its disconnection, the caller's leaving, the node's
// approval being removed, the gateway's shutdown. Whatever happens first settles it, exactly once, with
// `invoke.settled` to the parent. When it ends while the node may still be running the command (a timeout,
// a caller gone, an approval removed, a shutdown), the node is told `node.invoke.cancel` first.
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
  /** The operator that asked for it disconnected: nobody waits for the answer any more. */
  | { type: 'caller.disconnected' }
  /** The node's approval was removed (`node.pair.remove`): it may no longer run the command. */
  | { type: 'node.approvalRemoved' }
  /** The gateway stops: the caller is answered now rather than left to its timeout. */
  | { type: 'gateway.shutdown' };

/** What the node is sent, as `node.invoke.cancel`, to stop a command it may still be running (the reference's shape). */
export interface NodeInvokeCancel {
  invokeId: string;
  nodeId: string;
}

/** The cancel for this invoke, and the connection it goes to (the one the request went to). */
function cancelOf(context: InvokeContext): { nodeConnId: string; cancel: NodeInvokeCancel } {
  return { nodeConnId: context.nodeConnId, cancel: { invokeId: context.invokeId, nodeId: context.nodeId } };
}

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
    // The effect the runtime provides: `node.invoke.cancel` to the node's connection. The default does nothing.
    tellNodeToCancel: (_, _cancel: { nodeConnId: string; cancel: NodeInvokeCancel }) => {},

    recordNodeResult: assign(({ event }) => {
      if (event.type !== 'invoke.result') return {};
      const outcome: InvokeOutcome = event.ok
        ? { ok: true, ...(event.payloadJSON !== undefined ? { payloadJSON: event.payloadJSON } : {}) }
        : { ok: false, error: invokeNodeFailed(event.error) };
      return { outcome };
    }),
    recordNodeGone: assign(({ context }) => ({ outcome: { ok: false as const, error: invokeNodeDisconnected(context.command) } })),
    /** The reference's words for an invoke its caller abandoned (its node registry's ABORTED). */
    recordCallerGone: assign(() => ({
      outcome: {
        ok: false as const,
        error: {
          code: 'UNAVAILABLE' as const,
          message: 'ABORTED: node invoke cancelled',
          details: { nodeError: { code: 'ABORTED', message: 'node invoke cancelled' }, nodeCommandDispatched: true, reason: 'caller disconnected' },
        },
      },
    })),
    /** The reference's words for an invoke whose node's pairing changed after it was sent. */
    recordApprovalRemoved: assign(() => ({
      outcome: {
        ok: false as const,
        error: {
          code: 'UNAVAILABLE' as const,
          message: 'PAIRING_CHANGED: node pairing changed after dispatch',
          details: { nodeError: { code: 'PAIRING_CHANGED', message: 'node pairing changed after dispatch' }, nodeCommandDispatched: true },
        },
      },
    })),
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
        'caller.disconnected': { target: 'cancelled', actions: 'recordCallerGone' },
        'node.approvalRemoved': { target: 'cancelled', actions: 'recordApprovalRemoved' },
        'gateway.shutdown': { target: 'cancelled', actions: 'recordShutdown' },
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
    // The node answered, or is gone: there is nothing to stop on it.
    resolved: { type: 'final', entry: 'reportSettled' },
    failed: { type: 'final', entry: 'reportSettled' },
    // The node may still be running the command: it is told to stop before the caller is answered.
    timedOut: { type: 'final', entry: [{ type: 'tellNodeToCancel', params: ({ context }) => cancelOf(context) }, 'reportSettled'] },
    cancelled: { type: 'final', entry: [{ type: 'tellNodeToCancel', params: ({ context }) => cancelOf(context) }, 'reportSettled'] },
  },
});

export type InvokeMachine = typeof invokeMachine;
