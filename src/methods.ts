// The request methods a ready connection may call: who may call each (role and operator scope),
// the schema of its params, and what it does. Methods that touch shared state are forwarded to the
// supervisor, which answers them itself (an emitted `reply`).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { describeNode, listNodes } from '../machines/nodes.js';
import { listDevicePairing, listNodePairing } from '../machines/pairing.js';
import {
  invalidRequest,
  responseError,
  responseOk,
  type ErrorShape,
  type ResponseFrame,
  type Role,
  type Session,
} from '../machines/protocol.js';
import type { DispatchedRequest } from '../machines/connection.js';
import type { SupervisorContext, SupervisorEvent } from '../machines/supervisor.js';

/** The events this gateway sends (the reference also pushes `health`; here health is a method only). */
export const GATEWAY_EVENTS = [
  'connect.challenge',
  'presence',
  'tick',
  'shutdown',
  'node.invoke.request',
  'node.event',
  'node.pair.requested',
  'node.pair.resolved',
  'device.pair.requested',
  'device.pair.resolved',
] as const;

export const DEFAULT_INVOKE_TIMEOUT_MS = 30_000;
/**
 * Request params may nest at most this deep (objects and arrays; the params value itself is level 1).
 * Deeper params are refused INVALID_REQUEST before any handler serialises them: JSON.stringify overflows
 * the stack at some thousands of levels, and no method needs anything near this.
 */
export const MAX_PARAMS_DEPTH = 128;
const MAX_INVOKE_TIMEOUT_MS = 10 * 60_000;

export type OperatorScope = 'operator.read' | 'operator.write' | 'operator.pairing' | 'operator.admin';

/** `operator.admin` passes every check; `operator.write` includes reading. */
export function hasScope(granted: readonly string[], required: OperatorScope): boolean {
  if (granted.includes('operator.admin') || granted.includes(required)) return true;
  return required === 'operator.read' && granted.includes('operator.write');
}

export interface MethodContext {
  connId: string;
  session: Session;
  health(): unknown;
  presence(): unknown[];
  supervisor: { getSnapshot(): { context: SupervisorContext }; send(event: SupervisorEvent): void };
  newDeviceToken(): string;
}

/** A method answers now, or hands the request to the supervisor, which answers it. */
type Outcome = { payload: unknown } | { error: ErrorShape } | 'forwarded';

interface MethodSpec<P = unknown> {
  role: Role | 'any';
  /** Checked for operators; nodes have no scopes. */
  scope?: OperatorScope;
  params?: TypeCheck<TSchema>;
  handle(params: P, context: MethodContext, requestId: string): Outcome;
}

const schema = <T extends TSchema>(type: T) => TypeCompiler.Compile(type);
const Id = Type.String({ minLength: 1 });

const NodeIdParams = schema(Type.Object({ nodeId: Id }));
const PairRequestParams = schema(Type.Object({ requestId: Id }));
const DeviceIdParams = schema(Type.Object({ deviceId: Id }));
const NodeInvokeParams = schema(
  Type.Object({
    nodeId: Id,
    command: Id,
    params: Type.Optional(Type.Unknown()),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    idempotencyKey: Type.Optional(Type.String()),
  }),
);
const NodeInvokeResultParams = schema(
  Type.Object({
    id: Id,
    nodeId: Id,
    ok: Type.Boolean(),
    payload: Type.Optional(Type.Unknown()),
    payloadJSON: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    error: Type.Optional(
      Type.Union([Type.Null(), Type.Object({ code: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })]),
    ),
  }),
);
const NodeEventParams = schema(
  Type.Object({
    event: Id,
    payload: Type.Optional(Type.Unknown()),
    payloadJSON: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  }),
);

/** The params a compiled schema admits, typed, so each handler sees what its schema checked. */
type ParamsOf<C> = C extends TypeCheck<infer T> ? Static<T> : unknown;

function method<C extends TypeCheck<TSchema> | undefined>(spec: Omit<MethodSpec<ParamsOf<C>>, 'params'> & { params?: C }): MethodSpec {
  return spec as MethodSpec;
}

/** Forwards a request to the supervisor with the ids its reply goes back to. */
function forward(context: MethodContext, event: SupervisorEvent): Outcome {
  context.supervisor.send(event);
  return 'forwarded';
}

/** `*.pair.approve|reject {requestId}`: operators with `operator.pairing` decide on a pending request. */
function pairDecision(type: 'node.pair.approve' | 'node.pair.reject' | 'device.pair.reject'): MethodSpec {
  return method({
    role: 'operator',
    scope: 'operator.pairing',
    params: PairRequestParams,
    handle: ({ requestId: pairRequestId }, context, requestId) =>
      forward(context, { type, connId: context.connId, requestId, pairRequestId }),
  });
}

const nodeIdOfCaller = (context: MethodContext) => context.supervisor.getSnapshot().context.nodes.get(context.connId)?.nodeId;

/**
 * Methods a node host sends that actorgate accepts without acting on them, so the real node host
 * runs cleanly. Each gets `{ok:true}` with the caller's node id.
 */
export const ACCEPTED_NODE_METHODS = ['node.runnerInventory.update', 'node.skills.update', 'node.pluginTools.update'] as const;

const acceptedNodeMethods: Record<string, MethodSpec> = Object.fromEntries(
  ACCEPTED_NODE_METHODS.map((name) => [
    name,
    method({ role: 'node', handle: (_params, context) => ({ payload: { nodeId: nodeIdOfCaller(context) } }) }),
  ]),
);

const methods: Record<string, MethodSpec> = {
  health: method({ role: 'any', scope: 'operator.read', handle: (_params, context) => ({ payload: context.health() }) }),
  'system-presence': method({ role: 'any', scope: 'operator.read', handle: (_params, context) => ({ payload: context.presence() }) }),

  'node.list': method({
    role: 'operator',
    scope: 'operator.read',
    handle: (_params, context) => ({ payload: { ts: Date.now(), nodes: listNodes(context.supervisor.getSnapshot().context) } }),
  }),
  'node.describe': method({
    role: 'operator',
    scope: 'operator.read',
    params: NodeIdParams,
    handle: ({ nodeId }, context) => {
      const node = describeNode(context.supervisor.getSnapshot().context, nodeId);
      return node ? { payload: node } : { error: invalidRequest(`unknown node: ${nodeId}`, { code: 'NODE_NOT_FOUND', nodeId }) };
    },
  }),
  'node.invoke': method({
    role: 'operator',
    scope: 'operator.write',
    params: NodeInvokeParams,
    handle: (params, context, requestId) =>
      forward(context, {
        type: 'node.invoke.requested',
        connId: context.connId,
        requestId,
        nodeId: params.nodeId,
        command: params.command,
        ...(params.params !== undefined ? { paramsJSON: JSON.stringify(params.params) } : {}),
        timeoutMs: Math.min(params.timeoutMs ?? DEFAULT_INVOKE_TIMEOUT_MS, MAX_INVOKE_TIMEOUT_MS),
        ...(params.idempotencyKey !== undefined ? { idempotencyKey: params.idempotencyKey } : {}),
      }),
  }),
  'node.invoke.result': method({
    role: 'node',
    params: NodeInvokeResultParams,
    handle: (params, context, requestId) => {
      const payloadJSON = params.payloadJSON ?? (params.payload !== undefined ? JSON.stringify(params.payload) : undefined);
      return forward(context, {
        type: 'node.invoke.result',
        connId: context.connId,
        requestId,
        invokeId: params.id,
        nodeId: params.nodeId,
        ok: params.ok,
        ...(payloadJSON !== undefined ? { payloadJSON } : {}),
        ...(params.error ? { error: params.error } : {}),
      });
    },
  }),
  'node.event': method({
    role: 'node',
    params: NodeEventParams,
    handle: (params, context, requestId) => {
      const payloadJSON = params.payloadJSON ?? (params.payload !== undefined ? JSON.stringify(params.payload) : undefined);
      return forward(context, {
        type: 'node.event',
        connId: context.connId,
        requestId,
        event: params.event,
        ...(payloadJSON !== undefined ? { payloadJSON } : {}),
      });
    },
  }),
  ...acceptedNodeMethods,

  'node.pair.list': method({
    role: 'operator',
    scope: 'operator.pairing',
    handle: (_params, context) => ({ payload: listNodePairing(context.supervisor.getSnapshot().context) }),
  }),
  'node.pair.approve': pairDecision('node.pair.approve'),
  'node.pair.reject': pairDecision('node.pair.reject'),
  'node.pair.remove': method({
    role: 'operator',
    scope: 'operator.pairing',
    params: NodeIdParams,
    handle: ({ nodeId }, context, requestId) => forward(context, { type: 'node.pair.remove', connId: context.connId, requestId, nodeId }),
  }),

  'device.pair.list': method({
    role: 'operator',
    scope: 'operator.pairing',
    handle: (_params, context) => ({ payload: listDevicePairing(context.supervisor.getSnapshot().context) }),
  }),
  'device.pair.approve': method({
    role: 'operator',
    scope: 'operator.pairing',
    params: PairRequestParams,
    handle: ({ requestId: pairRequestId }, context, requestId) =>
      forward(context, {
        type: 'device.pair.approve',
        connId: context.connId,
        requestId,
        pairRequestId,
        token: context.newDeviceToken(),
      }),
  }),
  'device.pair.reject': pairDecision('device.pair.reject'),
  'device.pair.remove': method({
    role: 'operator',
    scope: 'operator.pairing',
    params: DeviceIdParams,
    handle: ({ deviceId }, context, requestId) =>
      forward(context, { type: 'device.pair.remove', connId: context.connId, requestId, deviceId }),
  }),
};

export const GATEWAY_METHODS: readonly string[] = ['connect', ...Object.keys(methods)];

function firstError(check: TypeCheck<TSchema>, value: unknown): string {
  const error = check.Errors(value).First();
  return error ? `${error.path || '/'}: ${error.message}` : 'invalid params';
}

/** Whether `value` nests objects or arrays more than `maxDepth` deep; iterative, and stops at the first too deep. */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** The `details.code` of a request refused for params nested deeper than MAX_PARAMS_DEPTH. */
export const PARAMS_TOO_DEEP = 'PARAMS_TOO_DEEP';

/** Answers a request now, or returns undefined when the supervisor will answer it. */
export function handleRequest(request: DispatchedRequest, context: MethodContext): ResponseFrame | undefined {
  const spec = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined;
  if (!spec) return responseError(request.id, invalidRequest(`unknown method: ${request.method}`));
  const { role, scopes } = context.session;
  if (spec.role !== 'any' && spec.role !== role) {
    return responseError(
      request.id,
      invalidRequest(`${request.method} is not allowed for role ${role}`, { code: 'ROLE_NOT_ALLOWED', role, requiredRole: spec.role }),
    );
  }
  if (spec.scope && role === 'operator' && !hasScope(scopes, spec.scope)) {
    return responseError(
      request.id,
      invalidRequest(`missing scope: ${spec.scope}`, { code: 'MISSING_SCOPE', requiredScope: spec.scope }),
    );
  }
  const params = request.params ?? {};
  if (nestsDeeperThan(params, MAX_PARAMS_DEPTH)) {
    return responseError(request.id, invalidRequest('params too deeply nested', { code: PARAMS_TOO_DEEP, maxDepth: MAX_PARAMS_DEPTH }));
  }
  if (spec.params && !spec.params.Check(params)) {
    return responseError(request.id, invalidRequest(`invalid ${request.method} params: ${firstError(spec.params, params)}`));
  }
  const outcome = spec.handle(params, context, request.id);
  if (outcome === 'forwarded') return undefined;
  return 'error' in outcome ? responseError(request.id, outcome.error) : responseOk(request.id, outcome.payload);
}
