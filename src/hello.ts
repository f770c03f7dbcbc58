// The hello-ok payload a client gets when its handshake succeeds.
import type { Session, StateVersion } from '../machines/protocol.js';
import { GATEWAY_EVENTS, GATEWAY_METHODS } from './methods.js';
import { GATEWAY_VERSION } from './version.js';

export interface HelloOkInput {
  session: Session;
  connId: string;
  bootId: string;
  snapshot: { presence: unknown[]; health: unknown; stateVersion: StateVersion; uptimeMs: number };
  policy: { maxPayload: number; maxBufferedBytes: number; tickIntervalMs: number };
}

export function helloOk({ session, connId, bootId, snapshot, policy }: HelloOkInput) {
  return {
    type: 'hello-ok',
    protocol: session.protocol,
    server: { version: GATEWAY_VERSION, connId, bootId },
    features: { methods: GATEWAY_METHODS, events: GATEWAY_EVENTS },
    snapshot,
    auth: {
      role: session.role,
      scopes: session.scopes,
      ...(session.deviceToken !== undefined ? { deviceToken: session.deviceToken } : {}),
    },
    policy,
  };
}
