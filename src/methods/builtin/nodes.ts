// Nodes as operators see them, the invokes operators send them, and what nodes send back.
import { Type } from '@sinclair/typebox';
import { DetailCode, ProtocolLimits, invalidRequest } from '../../../machines/protocol.js';
import { MethodError } from '../errors.js';
import { forward, type Define, type Services } from './services.js';

const Id = Type.String({ minLength: 1 });
const NodeIdParams = Type.Object({ nodeId: Id });
const NodeInvokeParams = Type.Object({
  nodeId: Id,
  command: Id,
  params: Type.Optional(Type.Unknown()),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  idempotencyKey: Type.Optional(Type.String()),
});
const JsonText = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const NodeInvokeResultParams = Type.Object({
  id: Id,
  nodeId: Id,
  ok: Type.Boolean(),
  payload: Type.Optional(Type.Unknown()),
  payloadJSON: JsonText,
  error: Type.Optional(Type.Union([Type.Null(), Type.Object({ code: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })])),
});
const NodeEventParams = Type.Object({ event: Id, payload: Type.Optional(Type.Unknown()), payloadJSON: JsonText });

/**
 * Methods a node host sends that actorgate accepts without acting on them, so the real node host
 * runs cleanly. Each gets `{ok:true}` with the caller's node id.
 */
export const ACCEPTED_NODE_METHODS = ['node.runnerInventory.update', 'node.skills.update', 'node.pluginTools.update'] as const;

/** A payload given as a value or as JSON text, as JSON text. */
function payloadJsonOf(params: { payload?: unknown; payloadJSON?: string | null }): string | undefined {
  return params.payloadJSON ?? (params.payload !== undefined ? JSON.stringify(params.payload) : undefined);
}

export function defineNodeMethods(define: Define, services: Services): void {
  define('node.list', { scope: 'operator.read', handle: () => ({ ts: Date.now(), nodes: services().view.nodes() }) });
  define('node.describe', {
    scope: 'operator.read',
    params: NodeIdParams,
    handle: ({ nodeId }) => {
      const node = services().view.node(nodeId);
      if (!node) throw MethodError.from(invalidRequest(`unknown node: ${nodeId}`, { code: DetailCode.NODE_NOT_FOUND, nodeId }));
      return node;
    },
  });
  define('node.invoke', {
    scope: 'operator.write',
    params: NodeInvokeParams,
    handle: (params, context) =>
      forward(services, context, {
        type: 'node.invoke.requested',
        nodeId: params.nodeId,
        command: params.command,
        ...(params.params !== undefined ? { paramsJSON: JSON.stringify(params.params) } : {}),
        timeoutMs: Math.min(params.timeoutMs ?? ProtocolLimits.defaultInvokeTimeoutMs, ProtocolLimits.maxInvokeTimeoutMs),
        ...(params.idempotencyKey !== undefined ? { idempotencyKey: params.idempotencyKey } : {}),
      }),
  });
  define('node.invoke.result', {
    role: 'node',
    params: NodeInvokeResultParams,
    handle: (params, context) => {
      const payloadJSON = payloadJsonOf(params);
      return forward(services, context, {
        type: 'node.invoke.result',
        invokeId: params.id,
        nodeId: params.nodeId,
        ok: params.ok,
        ...(payloadJSON !== undefined ? { payloadJSON } : {}),
        ...(params.error ? { error: params.error } : {}),
      });
    },
  });
  define('node.event', {
    role: 'node',
    params: NodeEventParams,
    handle: (params, context) => {
      const payloadJSON = payloadJsonOf(params);
      // Fanned out to every reader operator: its size is checked before anything else is done with it.
      const limit = services().maxNodeEventBytes;
      const bytes = Buffer.byteLength(params.event) + (payloadJSON === undefined ? 0 : Buffer.byteLength(payloadJSON));
      if (bytes > limit) {
        const details = { code: DetailCode.NODE_EVENT_TOO_LARGE, bytes, limit };
        throw new MethodError('INVALID_REQUEST', `node.event of ${bytes} bytes, above the limit of ${limit}`, { details });
      }
      return forward(services, context, { type: 'node.event', event: params.event, ...(payloadJSON !== undefined ? { payloadJSON } : {}) });
    },
  });
  for (const name of ACCEPTED_NODE_METHODS) {
    define(name, { role: 'node', handle: (_params, context) => ({ nodeId: services().view.nodeIdOf(context.connId) }) });
  }
}
