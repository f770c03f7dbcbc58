// How a failed invoke is answered, in the reference gateway's shapes (openclaw 2026.9.6,
// `respondUnavailableOnNodeInvokeErrorWithProvenance` and its node registry): every failure after the request
// reached the node is UNAVAILABLE, its message `<nodeError.code>: <nodeError.message>`, and its details carry the
// node-side error and whether the command was dispatched. The openclaw CLI prints that message as it is
// (`nodes invoke failed: TIMEOUT: node invoke timed out`). AGENT_TIMEOUT is deprecated upstream; nothing sends it.
import type { ErrorShape } from './protocol.js';

/** What went wrong on the node's side, as the reference names it. */
export interface NodeError {
  code?: string;
  message?: string;
}

/** The answer to an invoke that failed after its request was sent to the node. */
export function dispatchedInvokeFailure(nodeError: NodeError | null, extra: Omit<ErrorShape, 'code' | 'message' | 'details'> = {}): ErrorShape {
  const code = nodeError?.code?.trim() ?? '';
  const text = nodeError?.message?.trim() || 'node invoke failed';
  return {
    code: 'UNAVAILABLE',
    message: code ? `${code}: ${text}` : text,
    details: { nodeError, nodeCommandDispatched: true },
    ...extra,
  };
}

/** The node did not answer within the invoke's timeout. */
export const invokeTimedOut = (): ErrorShape => dispatchedInvokeFailure({ code: 'TIMEOUT', message: 'node invoke timed out' });

/** The node's connection closed with the invoke in flight (the caller may retry once the node is back). */
export const invokeNodeDisconnected = (command: string): ErrorShape =>
  dispatchedInvokeFailure({ code: 'DISCONNECTED', message: `node disconnected (${command})` }, { retryable: true });

/** The node answered `ok: false` with its error. */
export const invokeNodeFailed = (error: NodeError | undefined): ErrorShape => dispatchedInvokeFailure(error ?? null);
