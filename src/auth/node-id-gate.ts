// The node id gate a node passes before its connection is ready: it may speak only for a node id of its
// own identity (a device id it proved the key of, or a client-chosen id no device holds). Operators pass.
import type { NodeIdRefusal } from '../../machines/nodes.js';
import { CloseCode, type HandshakeRejection, type Session } from '../../machines/protocol.js';

/** What the gate reads of the live nodes and approvals. */
export interface NodeIds {
  claimRefusal(session: Session): NodeIdRefusal | undefined;
}

export type NodeIdGateResult = { ok: true; session: Session } | { ok: false; rejection: HandshakeRejection };

export function passNodeIdGate(session: Session, nodeIds: NodeIds): NodeIdGateResult {
  const refusal = nodeIds.claimRefusal(session);
  if (!refusal) return { ok: true, session };
  return {
    ok: false,
    rejection: {
      error: { code: 'INVALID_REQUEST', message: refusal.message, details: { code: refusal.code, nodeId: refusal.nodeId } },
      closeCode: CloseCode.policyViolation,
      closeReason: refusal.closeReason,
    },
  };
}
