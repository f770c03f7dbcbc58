// The connection machine's effects on a real socket, provided with `machine.provide(...)`: frames out,
// closes, log lines, the credential check, hello-ok, requests, and the record's release. The machine
// decides when; these only do.
import { connectionMachine, type ConnectionContext } from '../../machines/connection.js';
import { truncateCloseReason, type Session } from '../../machines/protocol.js';
import type { Logger } from 'pino';
import type { Outbound } from '../outbound/outbound.js';
import type { TransportSocket } from '../transport/types.js';
import type { Connection, ConnectionTable } from './connection.js';
import { checkCredentials, type CredentialServices } from './credentials.js';
import { logConnectionRecord } from './logging.js';
import { dispatchRequest, type RequestServices } from './requests.js';

export interface ConnectionEffectServices {
  table: ConnectionTable;
  outbound: Outbound<Connection>;
  logger: Logger;
  credentials: CredentialServices;
  requests: RequestServices;
  /** Resolves once this revision of the pairing state is on disk; rejects when it could not be saved. */
  whenDurable(revision: number): Promise<void>;
  /** The whole hello-ok frame for a connection whose handshake completed. */
  helloOk(context: ConnectionContext): string;
  /** Lets a ready socket send frames up to the post-handshake limit. */
  raisePayloadLimit(socket: TransportSocket, bytes: number): void;
  /** That limit for a session: the largest frame of the methods it may call. */
  maxPayloadFor(session: Session): number;
  /** The socket stops counting as unauthenticated against its address. */
  leavePreauth(connection: Connection): void;
  /** A device token minted for this connection's hello-ok, which never went out: it is dropped. */
  tokenUndelivered(deviceId: string, token: string): void;
}

export type GatewayConnectionMachine = ReturnType<typeof provideConnectionEffects>;

export function provideConnectionEffects(services: ConnectionEffectServices) {
  const { table, outbound, logger } = services;
  const live = (connId: string) => {
    const connection = table.get(connId);
    return connection?.live ? connection : undefined;
  };
  return connectionMachine.provide({
    actions: {
      sendFrame: ({ context }, frame) => {
        const connection = table.get(context.connId);
        if (connection) outbound.send(connection, frame);
      },
      closeSocket: ({ context }, { code, reason }) => table.get(context.connId)?.socket.close(code, truncateCloseReason(reason)),
      terminateSocket: ({ context }) => table.get(context.connId)?.socket.terminate(),
      log: ({ context }, record) => logConnectionRecord(logger, table.get(context.connId), context, record),
      // Effects that reach the supervisor run in a microtask: an actor's custom action must not make another
      // actor run its built-in actions synchronously (XState warns, and the order of effects gets murky).
      checkCredentials: ({ context, self }, request) =>
        queueMicrotask(() => checkCredentials(services.credentials, context, request, (event) => self.send(event))),
      awaitPairingSaved: ({ context, self }, revision) => {
        services.whenDurable(revision).then(
          () => live(context.connId) && self.send({ type: 'pairing.persisted', revision }),
          (error: unknown) =>
            live(context.connId) && self.send({ type: 'pairing.persistFailed', message: error instanceof Error ? error.message : String(error) }),
        );
      },
      sendHelloOk: ({ context }) => {
        const connection = table.get(context.connId);
        if (connection) services.leavePreauth(connection);
        if (!connection || !context.session || !context.connectRequestId) return;
        outbound.write(connection, services.helloOk(context));
        services.raisePayloadLimit(connection.socket, services.maxPayloadFor(context.session));
        table.markReady(connection, context.session);
      },
      dispatchRequest: ({ context }, request) =>
        queueMicrotask(() => {
          const connection = live(context.connId);
          if (connection && context.session) dispatchRequest(services.requests, connection, context.session, request);
        }),
      releaseConnection: ({ context }) => {
        const connection = table.get(context.connId);
        if (!connection) return;
        // A token minted for a hello-ok that never went out was never handed over: only its hash is kept, so
        // it could never be handed over again; dropping it lets the device's next connect get a new one.
        const { session } = context;
        if (!connection.ready && session?.deviceToken !== undefined && !session.deviceTokenAuth && session.deviceId !== undefined) {
          services.tokenUndelivered(session.deviceId, session.deviceToken);
        }
        table.markEnded(connection);
        services.leavePreauth(connection);
      },
    },
  });
}
