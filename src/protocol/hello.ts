// The hello-ok payload a client gets when its handshake succeeds.
import type { Session, StateVersion } from '../../machines/protocol.js';
import { GATEWAY_VERSION } from '../version.js';

/** What the gateway serves: its methods and events. */
export interface Features {
  methods: readonly string[];
  events: readonly string[];
}

export interface HelloOkInput {
  session: Session;
  connId: string;
  bootId: string;
  snapshot: { presence: unknown[]; health: unknown; stateVersion: StateVersion; uptimeMs: number };
  policy: { maxPayload: number; maxBufferedBytes: number; tickIntervalMs: number };
}

function authOf(session: Session) {
  return {
    role: session.role,
    scopes: session.scopes,
    ...(session.deviceToken !== undefined ? { deviceToken: session.deviceToken } : {}),
  };
}

export function helloOk({ session, connId, bootId, snapshot, policy }: HelloOkInput, features: Features) {
  return {
    type: 'hello-ok',
    protocol: session.protocol,
    server: { version: GATEWAY_VERSION, connId, bootId },
    features,
    snapshot,
    auth: authOf(session),
    policy,
  };
}

/**
 * The whole `res` frame answering `connect` with hello-ok, as text: exactly
 * `JSON.stringify(responseOk(requestId, helloOk(input, features)))`, with the features list (the same for
 * every client, and half of the frame) passed in already serialised instead of being serialised again for
 * every handshake.
 */
export function helloOkFrame(requestId: string, { session, connId, bootId, snapshot, policy }: HelloOkInput, featuresJson: string): string {
  const server = JSON.stringify({ version: GATEWAY_VERSION, connId, bootId });
  return (
    `{"type":"res","id":${JSON.stringify(requestId)},"ok":true,"payload":{"type":"hello-ok","protocol":${JSON.stringify(session.protocol)},` +
    `"server":${server},"features":${featuresJson},"snapshot":${JSON.stringify(snapshot)},"auth":${JSON.stringify(authOf(session))},` +
    `"policy":${JSON.stringify(policy)}}}`
  );
}
