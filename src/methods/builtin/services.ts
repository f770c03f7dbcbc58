// What the built-in methods need of the running gateway. They are registered when the gateway is created
// (so that a program's method cannot take their names) and reach the runtime only once it listens.
import type { SupervisorEvent } from '../../../machines/supervisor.js';
import type { SupervisorRequests } from '../../supervisor/requests.js';
import type { SupervisorView } from '../../supervisor/view.js';
import { MethodError } from '../errors.js';
import type { NodeCommandPolicy } from '../node-command-policy.js';
import type { MethodDefinition, MethodContext } from '../registry.js';
import type { TSchema } from '@sinclair/typebox';

export interface BuiltinServices {
  view: SupervisorView;
  requests: SupervisorRequests;
  /** The `health` payload. */
  health(): unknown;
  newDeviceToken(): string;
  /** The gateway's allow/deny lists of node commands (`--node-commands-allow`, `--node-commands-deny`). */
  nodeCommands: NodeCommandPolicy;
  /** What is kept of a device token: its hash. */
  hashDeviceToken(token: string): string;
  /** The largest node.event a node may send, in bytes (its event name and payload JSON). */
  maxNodeEventBytes: number;
}

export type Services = () => BuiltinServices;

/** How the built-ins register themselves: the registry's `define`, marked built-in. */
export type Define = <S extends TSchema | undefined, R>(name: string, definition: MethodDefinition<S, R>) => void;

type RequestEvent = Extract<SupervisorEvent, { requestId: string; connId: string }>;
type Forwarded<E> = E extends unknown ? Omit<E, 'requestId' | 'connId'> : never;

/** Hands a request to the supervisor, which answers it; its error answer is thrown as the method's. */
export async function forward(services: Services, context: MethodContext, event: Forwarded<RequestEvent>): Promise<unknown> {
  const answer = await services().requests.ask({ ...event, connId: context.connId } as Parameters<SupervisorRequests['ask']>[0]);
  if (!answer.ok) throw MethodError.from(answer.error);
  return answer.payload;
}
