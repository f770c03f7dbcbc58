// A ready connection's requests: each goes through the method registry, and its answer back to the socket.
// Requests refused for the caller's role or scope are counted by the connection machine, which closes a
// socket that makes too many of them.
import type { ResponseFrame } from '../../machines/protocol.js';
import type { Session } from '../../machines/protocol.js';
import { unauthorizedCallCode, type Caller, type DispatchedRequest, type MethodRegistry } from '../methods/registry.js';
import type { Logger } from 'pino';
import type { Outbound } from '../outbound/outbound.js';
import type { Connection } from './connection.js';

export interface RequestServices {
  registry: MethodRegistry;
  outbound: Outbound<Connection>;
  logger: Logger;
}

export function dispatchRequest(services: RequestServices, connection: Connection, session: Session, request: DispatchedRequest): void {
  const caller: Caller = { connId: connection.connId, session, remoteAddr: connection.remoteAddr };
  const answer = services.registry.dispatch(request, caller);
  if (answer instanceof Promise) void answer.then((response) => answered(services, connection, request, response));
  else answered(services, connection, request, answer);
}

function answered(services: RequestServices, connection: Connection, request: DispatchedRequest, response: ResponseFrame): void {
  services.outbound.send(connection, response);
  if (response.ok) return;
  const refused = unauthorizedCallCode(response.error);
  if (refused && connection.live) connection.actor.send({ type: 'request.unauthorized', method: request.method, code: refused, at: Date.now() });
}
