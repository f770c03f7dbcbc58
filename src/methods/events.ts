// The events clients may be sent: the gateway's own and those an embedding program broadcasts, each with
// the audience it goes to by default. hello-ok's `features.events` lists them.
import type { OperatorScope, Role } from '../../machines/protocol.js';
import { GatewayError } from '../errors.js';
import type { Audience } from '../outbound/broadcasts.js';
import { BUILTIN_EVENTS } from '../protocol/events.js';

/** Who an event of a program's goes to: operators holding a scope, or every node, or every ready socket. */
export type EventAudience = { scope: OperatorScope } | { role: Extract<Role, 'node'> | 'any' };

/** What a program's event goes to when it says nothing: operators that may read. */
export const DEFAULT_EVENT_AUDIENCE: EventAudience = { scope: 'operator.read' };

export function audienceOf(audience: EventAudience): Audience {
  if ('scope' in audience) return audience.scope;
  return audience.role === 'node' ? 'nodes' : 'everyone';
}

const EVENT_NAME = /^[\x21-\x7e]{1,128}$/;
const BUILTIN: ReadonlySet<string> = new Set(BUILTIN_EVENTS);

export class EventRegistry {
  private readonly listed: string[] = [...BUILTIN_EVENTS];
  private readonly declared = new Map<string, Audience>();
  /** Bumped whenever the list changes (what a cached hello-ok features list is checked against). */
  revision = 0;

  /** Declares a program's event (so hello-ok lists it from the start) with its default audience. */
  declare(name: string, audience: EventAudience = DEFAULT_EVENT_AUDIENCE): Audience {
    if (typeof name !== 'string' || !EVENT_NAME.test(name)) {
      throw new GatewayError('ERR_INVALID_EVENT', `event names are 1 to 128 printable ASCII characters without spaces, got ${JSON.stringify(name)}`);
    }
    if (BUILTIN.has(name)) throw new GatewayError('ERR_INVALID_EVENT', `event ${name} is the gateway's own; choose another name`);
    const resolved = audienceOf(audience);
    if (!this.declared.has(name)) {
      this.listed.push(name);
      this.revision += 1;
    }
    this.declared.set(name, resolved);
    return resolved;
  }

  /** The audience a program's event goes to; declared on first use when it was not. */
  audienceFor(name: string, audience: EventAudience | undefined): Audience {
    const declared = this.declared.get(name);
    if (audience !== undefined) {
      if (declared === undefined) this.declare(name, audience);
      return audienceOf(audience);
    }
    return declared ?? this.declare(name);
  }

  names(): readonly string[] {
    return this.listed;
  }
}
