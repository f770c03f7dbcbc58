// The gateway client: the client machine, run over a WebSocket. Portable: no Node imports; the
// WebSocket constructor is the platform's global one unless injected (Node's entry injects `ws`).
import { concat, defer, distinctUntilChanged, from, map, of } from 'rxjs';
import type { SnapshotFrom } from 'xstate';
import { clientMachine } from '../../machines/client.js';
import { GatewayRequestError } from './requests.js';
import { ClientSession } from './session.js';
import type { WebSocketConstructor } from './socket.js';
import type { ConnectionStatus, GatewayClient, GatewayClientOptions, HelloOk, RequestOptions } from './types.js';

export { CLIENT_VERSION } from './version.js';
export { GatewayRequestError };
export type { ClientActor, ClientNotice, ConnectionStatus, GatewayClient, GatewayClientOptions, HelloOk, RequestOptions, StopInfo } from './types.js';

export function statusOf(snapshot: SnapshotFrom<typeof clientMachine>): ConnectionStatus {
  if (snapshot.status !== 'active') return 'stopped';
  if (snapshot.matches('backingOff')) return 'backing-off';
  if (snapshot.matches('awaitingCredentials')) return 'awaiting-credentials';
  if (snapshot.matches({ online: 'connected' })) return 'connected';
  if (snapshot.matches({ online: { handshake: 'handshaking' } })) return 'handshaking';
  if (snapshot.matches({ online: { handshake: 'awaitingChallenge' } })) return 'awaiting-challenge';
  return 'connecting';
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const session = new ClientSession(options, webSocketOf(options));
  const client = clientApi(session);
  // Started on the next microtask, so that whoever created the client has subscribed to everything
  // from the first dial on; events sent before (a request, close()) wait in the actor's mailbox.
  queueMicrotask(() => session.actor.start());
  return client;
}

function webSocketOf(options: GatewayClientOptions): WebSocketConstructor {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketImpl) throw new Error('no WebSocket here: pass options.WebSocket (on Node 20, use actorgate/client, which injects ws)');
  return WebSocketImpl;
}

/** The client handed out: the session's state as observables, and its operations. */
function clientApi(session: ClientSession): GatewayClient {
  const { actor } = session;
  const state$ = defer(() => concat(of(actor.getSnapshot()), from(actor)));
  return {
    actor,
    state$,
    status$: state$.pipe(map(statusOf), distinctUntilChanged()),
    events$: session.notices.asObservable(),
    get hello() {
      return session.hello;
    },
    stopped: session.stopped,
    updateCredentials(credentials) {
      session.updateCredentials(credentials);
    },
    whenConnected() {
      return whenConnected(session);
    },
    request(method: string, params?: unknown, requestOptions: RequestOptions = {}): Promise<never> {
      return session.request(method, params, requestOptions) as Promise<never>;
    },
    close() {
      return session.close();
    },
  };
}

/** The hello-ok of the current connection, or of the next one; rejects (`STOPPED`) if the client stops first. */
function whenConnected(session: ClientSession): Promise<HelloOk> {
  if (session.hello && statusOf(session.actor.getSnapshot()) === 'connected') return Promise.resolve(session.hello);
  return new Promise((resolve, reject) => {
    const gaveUp = () => reject(new GatewayRequestError('STOPPED', 'the client stopped before connecting'));
    const subscription = session.notices.subscribe({
      next: (notice) => {
        if (notice.type === 'connected' && session.hello) resolve(session.hello);
        else if (notice.type === 'stopped') gaveUp();
        else return;
        subscription.unsubscribe();
      },
      complete: gaveUp,
    });
  });
}
