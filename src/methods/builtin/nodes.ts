// Nodes as operators see them, the invokes operators send them, and what nodes send back.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { NodeListEntry } from '../../../machines/nodes.js';
import { DetailCode, ProtocolLimits, invalidRequest } from '../../../machines/protocol.js';
import { MethodError } from '../errors.js';
import {
  approvalFieldsIn,
  approvalFieldsRefusal,
  invokeScopeFor,
  missingScope,
  missingScopeRefusal,
  policyRefusal,
} from '../node-command-policy.js';
import type { MethodContext } from '../registry.js';
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

const NODE_HOST_STATS_EVENT = 'node.host.stats';
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Load = Type.Number({ minimum: 0, maximum: 100_000 });
/** The reference's `NodeHostStatsPayloadSchema`: a closed object; free never above total, disk fields in pairs. */
const HostStatsPayload = Type.Object(
  {
    cpuCount: Type.Integer({ minimum: 1, maximum: 4096 }),
    loadAverage: Type.Optional(Type.Tuple([Load, Load, Load])),
    memoryTotalBytes: Count,
    memoryFreeBytes: Count,
    diskTotalBytes: Type.Optional(Count),
    diskAvailableBytes: Type.Optional(Count),
  },
  { additionalProperties: false },
);
const checkHostStats = TypeCompiler.Compile(HostStatsPayload);
type HostStatsPayload = Static<typeof HostStatsPayload>;

/** The host stats a `node.host.stats` payload carries, or undefined when it is not valid. */
function hostStatsOf(payloadJSON: string | undefined): HostStatsPayload | undefined {
  let stats: unknown;
  try {
    stats = JSON.parse(payloadJSON ?? '');
  } catch {
    return undefined;
  }
  if (!checkHostStats.Check(stats)) return undefined;
  if (stats.memoryFreeBytes > stats.memoryTotalBytes) return undefined;
  if (stats.diskTotalBytes === undefined) return stats.diskAvailableBytes === undefined ? stats : undefined;
  return stats.diskAvailableBytes !== undefined && stats.diskAvailableBytes <= stats.diskTotalBytes ? stats : undefined;
}

/** A payload given as a value or as JSON text, as JSON text. */
function payloadJsonOf(params: { payload?: unknown; payloadJSON?: string | null }): string | undefined {
  return params.payloadJSON ?? (params.payload !== undefined ? JSON.stringify(params.payload) : undefined);
}

type NodeInvokeParams = Static<typeof NodeInvokeParams>;

/**
 * Why an operator may not send this invoke, before it reaches a node: the command's scope class, the
 * gateway's command policy, or exec-approval fields in its params. Each refusal is logged at warn with
 * `event: node.invoke.refused`, the caller's connId (bound) and role, and its details.code (what `actorgate diagnose` counts).
 */
function invokeRefusal(params: NodeInvokeParams, context: MethodContext, services: Services): MethodError | undefined {
  const { command, nodeId } = params;
  const scope = invokeScopeFor(command);
  const lacking = missingScope(context.session.scopes, [scope]);
  const rule = services().nodeCommands.refuses(command);
  const fields = approvalFieldsIn(command, params.params);
  const error = lacking
    ? missingScopeRefusal(lacking, { command })
    : rule
      ? policyRefusal(command, rule)
      : fields.length > 0
        ? approvalFieldsRefusal(command, fields)
        : undefined;
  if (!error) return undefined;
  const detail = (error.details as { code: string }).code;
  const { role, scopes } = context.session;
  context.logger.warn(
    { event: 'node.invoke.refused', role, scopes, nodeId, command, detail, ...(fields.length > 0 ? { fields } : {}) },
    `node.invoke refused: ${error.message}`,
  );
  return MethodError.from(error);
}

export function defineNodeMethods(define: Define, services: Services): void {
  /** A node as operators see it: its allowed commands are those the gateway's policy lets through too. */
  const listed = (node: NodeListEntry): NodeListEntry => {
    const { nodeCommands } = services();
    const commands = node.commands.filter((command) => !nodeCommands.refuses(command));
    return commands.length === node.commands.length ? node : { ...node, commands };
  };
  define('node.list', { scope: 'operator.read', handle: () => ({ ts: Date.now(), nodes: services().view.nodes().map(listed) }) });
  define('node.describe', {
    scope: 'operator.read',
    params: NodeIdParams,
    handle: ({ nodeId }) => {
      const node = services().view.node(nodeId);
      if (!node) throw MethodError.from(invalidRequest(`unknown node: ${nodeId}`, { code: DetailCode.NODE_NOT_FOUND, nodeId }));
      return listed(node);
    },
  });
  define('node.invoke', {
    scope: 'operator.write',
    params: NodeInvokeParams,
    handle: (params, context) => {
      const refused = invokeRefusal(params, context, services);
      if (refused) throw refused;
      return forward(services, context, {
        type: 'node.invoke.requested',
        nodeId: params.nodeId,
        command: params.command,
        ...(params.params !== undefined ? { paramsJSON: JSON.stringify(params.params) } : {}),
        timeoutMs: Math.min(params.timeoutMs ?? ProtocolLimits.defaultInvokeTimeoutMs, ProtocolLimits.maxInvokeTimeoutMs),
        ...(params.idempotencyKey !== undefined ? { idempotencyKey: params.idempotencyKey } : {}),
      });
    },
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
      // Its size is checked before anything else is done with it.
      const limit = services().maxNodeEventBytes;
      const bytes = Buffer.byteLength(params.event) + (payloadJSON === undefined ? 0 : Buffer.byteLength(payloadJSON));
      if (bytes > limit) {
        const details = { code: DetailCode.NODE_EVENT_TOO_LARGE, bytes, limit };
        throw new MethodError('INVALID_REQUEST', `node.event of ${bytes} bytes, above the limit of ${limit}`, { details });
      }
      // The reference acts on node events itself and re-broadcasts none as `node.event`; of them actorgate keeps
      // host stats. Any other event is acknowledged as the reference acknowledges one it does not handle.
      if (params.event !== NODE_HOST_STATS_EVENT) return { ok: true, event: params.event, handled: false, reason: 'unsupported_event' };
      const stats = hostStatsOf(payloadJSON);
      if (!stats) return { ok: true, event: params.event, handled: false, reason: 'invalid_payload' };
      return forward(services, context, { type: 'node.hostStats.reported', stats });
    },
  });
  for (const name of ACCEPTED_NODE_METHODS) {
    define(name, { role: 'node', handle: (_params, context) => ({ nodeId: services().view.nodeIdOf(context.connId) }) });
  }
}
