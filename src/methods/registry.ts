// The gateway's methods in one registry, built-in and the embedding program's alike: who may call each
// (role and operator scope), the schema of its params, and its handler. A request goes through the same
// checks whatever the method: known, role, scope, schema, then the handler, whose value or thrown
// MethodError is the answer. Before that, each frame was scanned against its method's largest frame
// (`maxFrameBytes`, below) and the protocol's limits on nesting and size (src/protocol/decode.ts).
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import {
  DetailCode,
  ProtocolLimits,
  hasScope,
  invalidRequest,
  missingScopeError,
  responseError,
  responseOk,
  type ErrorShape,
  type OperatorScope,
  type ResponseFrame,
  type Role,
  type Session,
} from '../../machines/protocol.js';
import { GatewayError } from '../errors.js';
import type { Logger } from 'pino';
import { MethodError } from './errors.js';
import type { FrameCaller, MethodFrameLimits } from '../protocol/decode.js';
import { firstSchemaError } from './params.js';

/** Who may call a method: nodes, or operators (or anyone) holding a scope. Scopes are checked for operators only. */
export type MethodAccess = { role: 'node'; scope?: undefined } | { role?: 'operator' | 'any'; scope: OperatorScope };

/** Who the caller is, as a handler sees it (the device token a session may carry is not part of it). */
export type MethodSession = Readonly<Omit<Session, 'deviceToken'>>;

export interface MethodContext {
  /** The calling connection. */
  readonly connId: string;
  readonly session: MethodSession;
  readonly remoteAddr: string;
  /** The gateway's logger, bound to this request (`connId`, `method`). */
  readonly logger: Logger;
}

type ParamsOf<S> = S extends TSchema ? Static<S> : unknown;

/** A method: who may call it, the TypeBox schema of its params, and what it answers. */
export type MethodDefinition<S extends TSchema | undefined = TSchema | undefined, R = unknown> = MethodAccess & {
  /** Invalid params are refused INVALID_REQUEST, naming the path, before the handler runs. */
  params?: S;
  /**
   * The largest request frame (UTF-8 bytes) for this method, from ProtocolLimits.smallFrameBytes (64 KiB) to
   * ProtocolLimits.maxPayloadBytes (25 MiB, the default); a bigger one is refused INVALID_REQUEST
   * (FRAME_TOO_LARGE_FOR_METHOD) before it is parsed.
   */
  maxFrameBytes?: number;
  /** The answer's payload, or a promise of it; a thrown MethodError is the error answer. */
  handle: (params: ParamsOf<S>, context: MethodContext) => R | Promise<R>;
};

interface RegisteredMethod {
  role: Role | 'any';
  scope: OperatorScope | undefined;
  check: TypeCheck<TSchema> | undefined;
  handle: (params: unknown, context: MethodContext) => unknown;
  builtin: boolean;
  maxFrameBytes: number;
}

/** The caller of a request: its connection and session. */
export interface Caller {
  connId: string;
  session: Session;
  remoteAddr: string;
}

export interface DispatchedRequest {
  id: string;
  method: string;
  params?: unknown;
}

/** `connect` is the handshake, not a method, and no method may take its name. */
const RESERVED = new Set(['connect']);
const METHOD_NAME = /^[\x21-\x7e]{1,128}$/;

/** Details codes of a request refused for who the caller is: what the unauthorized-call limit counts. */
const UNAUTHORIZED_CALL_CODES: ReadonlySet<string> = new Set([DetailCode.ROLE_NOT_ALLOWED, DetailCode.MISSING_SCOPE]);

/** The `details.code` of an error response when it refused the caller's role or scope. */
export function unauthorizedCallCode(error: { details?: unknown } | undefined): string | undefined {
  const code = (error?.details as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNAUTHORIZED_CALL_CODES.has(code) ? code : undefined;
}

const INTERNAL_ERROR: ErrorShape = { code: 'UNAVAILABLE', message: 'internal error' };

/** A handler's view of one request; the bound logger is made only when a handler asks for it. */
class RequestContext implements MethodContext {
  private bound: Logger | undefined;
  constructor(
    private readonly caller: Caller,
    private readonly method: string,
    private readonly root: Logger,
  ) {}
  get connId() {
    return this.caller.connId;
  }
  get session(): MethodSession {
    return this.caller.session;
  }
  get remoteAddr() {
    return this.caller.remoteAddr;
  }
  get logger(): Logger {
    return (this.bound ??= this.root.child({ connId: this.caller.connId, method: this.method }));
  }
}

const isPromise = (value: unknown): value is PromiseLike<unknown> => typeof (value as PromiseLike<unknown> | null)?.then === 'function';

/** Whether a caller of this role and scopes may call the method (what `refusal` refuses, without building the error). */
function mayCall(method: RegisteredMethod, role: Role, scopes: readonly string[]): boolean {
  if (method.role !== 'any' && method.role !== role) return false;
  return !method.scope || role !== 'operator' || hasScope(scopes, method.scope);
}

function validFrameLimit(name: string, bytes: number | undefined): number {
  if (bytes === undefined) return ProtocolLimits.maxPayloadBytes;
  if (!Number.isInteger(bytes) || bytes < ProtocolLimits.smallFrameBytes || bytes > ProtocolLimits.maxPayloadBytes) {
    throw new GatewayError(
      'ERR_INVALID_METHOD',
      `method ${name}: maxFrameBytes must be an integer from ${ProtocolLimits.smallFrameBytes} to ${ProtocolLimits.maxPayloadBytes}, got ${String(bytes)}`,
    );
  }
  return bytes;
}

export class MethodRegistry implements MethodFrameLimits {
  private readonly methods = new Map<string, RegisteredMethod>();
  /** `connect` and every method, in the order they were registered: hello-ok's `features.methods`. */
  private listed: string[] = [...RESERVED];

  constructor(private readonly logger: Logger) {}

  /** Registers a method; a name that is taken (built-in or not) or not a method name is an error. */
  define<S extends TSchema | undefined, R>(name: string, definition: MethodDefinition<S, R>, origin: 'builtin' | 'program' = 'program'): void {
    if (typeof name !== 'string' || !METHOD_NAME.test(name)) {
      throw new GatewayError('ERR_INVALID_METHOD', `method names are 1 to 128 printable ASCII characters without spaces, got ${JSON.stringify(name)}`);
    }
    const existing = this.methods.get(name);
    if (RESERVED.has(name) || existing) {
      const what = RESERVED.has(name) || existing?.builtin ? 'a built-in method' : 'registered already';
      throw new GatewayError('ERR_METHOD_EXISTS', `method ${name} is ${what}; choose another name (a prefix of your own, e.g. "myapp.${name}")`);
    }
    const access = definition as MethodAccess;
    if (access.role !== 'node' && access.scope === undefined) {
      throw new GatewayError('ERR_INVALID_METHOD', `method ${name} needs a scope for its operators (or role: 'node')`);
    }
    if (typeof definition.handle !== 'function') throw new GatewayError('ERR_INVALID_METHOD', `method ${name} needs a handle function`);
    this.methods.set(name, {
      role: access.role ?? 'operator',
      scope: access.scope,
      check: definition.params === undefined ? undefined : TypeCompiler.Compile(definition.params),
      handle: definition.handle as RegisteredMethod['handle'],
      builtin: origin === 'builtin',
      maxFrameBytes: validFrameLimit(name, definition.maxFrameBytes),
    });
    this.listed.push(name);
  }

  has(name: string): boolean {
    return RESERVED.has(name) || this.methods.has(name);
  }

  /** Every method a client may call, `connect` first. */
  names(): readonly string[] {
    return this.listed;
  }

  /**
   * The largest frame a caller may send for a method: the method's own limit when the caller may call it,
   * else (unknown method, no method, another role's or a scope the caller lacks) the small one: such a
   * frame is only ever refused, and its params are never read.
   */
  maxFrameBytes(method: string | undefined, caller: FrameCaller): number {
    const registered = method === undefined ? undefined : this.methods.get(method);
    if (registered === undefined || caller.role === undefined || !mayCall(registered, caller.role, caller.scopes)) return ProtocolLimits.smallFrameBytes;
    return registered.maxFrameBytes;
  }

  /**
   * The largest frame a caller may send at all: the largest of the methods it may call. Read-only and pairing
   * operators (and any role whose methods all take small params) get ProtocolLimits.smallFrameBytes: their socket
   * refuses a bigger frame at its header (close 1009), before any of it is buffered.
   */
  maxPayloadFor(caller: FrameCaller): number {
    let max: number = ProtocolLimits.smallFrameBytes;
    if (caller.role === undefined) return max;
    for (const method of this.methods.values()) {
      if (method.maxFrameBytes > max && mayCall(method, caller.role, caller.scopes)) max = method.maxFrameBytes;
    }
    return max;
  }

  /** The answer to a request: now when every check and the handler are synchronous, else a promise of it. */
  dispatch(request: DispatchedRequest, caller: Caller): ResponseFrame | Promise<ResponseFrame> {
    const method = this.methods.get(request.method);
    if (method === undefined) return responseError(request.id, invalidRequest(`unknown method: ${request.method}`));
    const refused = refusal(request.method, method, caller.session);
    if (refused) return responseError(request.id, refused);
    // Nesting was bounded before the frame was parsed (PARAMS_TOO_DEEP): a handler may serialise the params.
    const params = request.params ?? {};
    if (method.check && !method.check.Check(params)) {
      return responseError(request.id, invalidRequest(`invalid ${request.method} params: ${firstSchemaError(method.check, params)}`));
    }
    let result: unknown;
    try {
      result = method.handle(params, new RequestContext(caller, request.method, this.logger));
    } catch (error) {
      return this.failure(request, caller, error);
    }
    if (!isPromise(result)) return responseOk(request.id, result);
    return Promise.resolve(result).then(
      (payload) => responseOk(request.id, payload),
      (error: unknown) => this.failure(request, caller, error),
    );
  }

  private failure(request: DispatchedRequest, caller: Caller, error: unknown): ResponseFrame {
    if (error instanceof MethodError) return responseError(request.id, error.toShape());
    this.logger.error({ connId: caller.connId, method: request.method, err: error, event: 'request.failed' }, 'request handler failed');
    return responseError(request.id, INTERNAL_ERROR);
  }
}

/** Why the caller may not call the method, or undefined when it may. */
function refusal(name: string, method: RegisteredMethod, session: Session): ErrorShape | undefined {
  const { role, scopes } = session;
  if (method.role !== 'any' && method.role !== role) {
    return invalidRequest(`${name} is not allowed for role ${role}`, { code: DetailCode.ROLE_NOT_ALLOWED, role, requiredRole: method.role });
  }
  if (method.scope && role === 'operator' && !hasScope(scopes, method.scope)) {
    return missingScopeError(method.scope);
  }
  return undefined;
}
