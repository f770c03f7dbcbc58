// Pairing decisions: operators with `operator.pairing` list, approve, reject and remove devices and nodes.
import { Type } from '@sinclair/typebox';
import { approvalScopesFor, describeRule, missingScope, missingScopeRefusal } from '../node-command-policy.js';
import { MethodError } from '../errors.js';
import type { MethodContext } from '../registry.js';
import { forward, type Define, type Services } from './services.js';

const Id = Type.String({ minLength: 1 });
const PairRequestParams = Type.Object({ requestId: Id });
const NodeIdParams = Type.Object({ nodeId: Id });
const DeviceIdParams = Type.Object({ deviceId: Id });

export function definePairingMethods(define: Define, services: Services): void {
  const scope = 'operator.pairing' as const;
  /** `*.pair.approve|reject {requestId}`: a decision on a pending request. */
  const decision = (type: 'node.pair.reject' | 'device.pair.reject') =>
    define(type, {
      scope,
      params: PairRequestParams,
      handle: ({ requestId: pairRequestId }, context) => forward(services, context, { type, pairRequestId }),
    });

  define('node.pair.list', {
    scope,
    handle: () => {
      const { pending, paired } = services().view.nodePairing();
      const { nodeCommands } = services();
      // What approving each request takes (the openclaw CLI connects with exactly these scopes to approve).
      const rows = pending.map((request) => ({ ...request, requiredApproveScopes: approvalScopesFor(nodeCommands.partition(request.commands).allowed) }));
      return { pending: rows, paired };
    },
  });
  define('node.pair.approve', {
    scope,
    params: PairRequestParams,
    handle: ({ requestId }, context) => approveNode(services, context, requestId),
  });
  decision('node.pair.reject');
  define('node.pair.remove', {
    scope,
    params: NodeIdParams,
    handle: ({ nodeId }, context) => forward(services, context, { type: 'node.pair.remove', nodeId }),
  });

  define('device.pair.list', { scope, handle: () => services().view.devicePairing() });
  define('device.pair.approve', {
    scope,
    params: PairRequestParams,
    handle: ({ requestId: pairRequestId }, context) =>
      forward(services, context, { type: 'device.pair.approve', pairRequestId }),
  });
  decision('device.pair.reject');
  define('device.pair.remove', {
    scope,
    params: DeviceIdParams,
    handle: ({ deviceId }, context) => forward(services, context, { type: 'device.pair.remove', deviceId }),
  });
}

/**
 * Approves a pending node's command surface: the commands the gateway's policy lets through are approved (the
 * others are withheld, and listed with their rule in the answer), and the caller needs the scopes that surface
 * takes (operator.write, or operator.admin for shell, files and browser commands). The request is read and the
 * decision sent to the supervisor in the same turn, so the surface checked is the surface approved.
 */
function approveNode(services: Services, context: MethodContext, requestId: string): Promise<unknown> {
  const request = services().view.nodePairing().pending.find((pending) => pending.requestId === requestId);
  // An unknown request goes on, for the supervisor to answer "unknown requestId" as the CLI expects.
  if (!request) return forward(services, context, { type: 'node.pair.approve', pairRequestId: requestId });
  const { allowed, withheld } = services().nodeCommands.partition(request.commands);
  const required = approvalScopesFor(allowed);
  const lacking = missingScope(context.session.scopes, required);
  if (lacking) {
    context.logger.warn(
      { event: 'node.pair.refused', role: context.session.role, nodeId: request.nodeId, requestId, detail: 'MISSING_SCOPE', requiredScopes: required },
      `node.pair.approve refused: approving ${request.nodeId}'s commands needs ${required.join(' + ')}`,
    );
    throw MethodError.from(missingScopeRefusal(lacking, { requiredScopes: required, nodeId: request.nodeId }));
  }
  const answer = forward(services, context, { type: 'node.pair.approve', pairRequestId: requestId, commands: allowed });
  if (withheld.length === 0) return answer;
  return answer.then((payload) => ({
    ...(payload as Record<string, unknown>),
    withheldCommands: withheld.map(({ command, rule }) => ({ command, rule, reason: describeRule(rule) })),
  }));
}
