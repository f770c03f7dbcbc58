// The request methods a ready connection may call, and the events the gateway sends.
import { invalidRequest, responseError, responseOk, type ResponseFrame, type Session } from '../machines/protocol.js';
import type { DispatchedRequest } from '../machines/connection.js';

export const GATEWAY_EVENTS = ['connect.challenge', 'presence', 'tick', 'health', 'shutdown'] as const;

export interface MethodContext {
  session: Session;
  health(): unknown;
  presence(): unknown[];
}

type MethodHandler = (params: unknown, context: MethodContext) => unknown;

const handlers: Record<string, MethodHandler> = {
  health: (_params, context) => context.health(),
  'system-presence': (_params, context) => context.presence(),
};

export const GATEWAY_METHODS: readonly string[] = ['connect', ...Object.keys(handlers)];

export function handleRequest(request: DispatchedRequest, context: MethodContext): ResponseFrame {
  const handler = Object.hasOwn(handlers, request.method) ? handlers[request.method] : undefined;
  if (!handler) return responseError(request.id, invalidRequest(`unknown method: ${request.method}`));
  return responseOk(request.id, handler(request.params, context));
}
