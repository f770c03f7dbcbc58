// What happens on a socket becomes the connection machine's events: a new socket gets a record and an
// actor (which sends the challenge at once), frames are decoded, faults and closes are reported.
import { randomUUID } from 'node:crypto';
import { createActor, type AnyActorRef } from 'xstate';
import { ProtocolLimits } from '../../machines/protocol.js';
import { monotonicNow } from '../actors/clock.js';
import type { Logger } from 'pino';
import { binaryFrameEvent, decodeTextFrame, isRefusedFrame, type MethodFrameLimits } from '../protocol/decode.js';
import { LogThrottle } from '../transport/log-throttle.js';
import { isLoopbackAddress } from '../transport/network.js';
import type { FrameSink, SocketHandlers, TransportSocket, UpgradeInfo } from '../transport/types.js';
import { newConnection, type Connection, type ConnectionTable } from './connection.js';
import type { GatewayConnectionMachine } from './effects.js';

export interface SocketServices {
  machine: GatewayConnectionMachine;
  /** The actor every connection actor is a child of (one shared actor system). */
  host: AnyActorRef;
  supervisor: AnyActorRef;
  table: ConnectionTable;
  logger: Logger;
  handshakeTimeoutMs: number;
  unauthorizedCallLimit: number;
  unauthorizedCallWindowMs: number;
  frameWriter(socket: TransportSocket): FrameSink | undefined;
  leavePreauth(connection: Connection): void;
  /** Each method's largest frame, for a ready connection's caller. */
  frameLimits: MethodFrameLimits;
}

/**
 * Logs a frame refused before it was parsed (`frame.refused`, warn): one line per connection per interval, with
 * how many were held back since the last (a client cannot turn its refused frames into a flood of lines).
 */
function refusalLogger(logger: Logger) {
  const throttle = new LogThrottle();
  return (connection: Connection, data: Buffer, details: { code: string; method?: unknown }) => {
    if (!logger.isLevelEnabled('warn')) return;
    const taken = throttle.take(connection.connId);
    if (!taken.log) return;
    const fields = {
      connId: connection.connId,
      remoteAddr: connection.remoteAddr,
      event: 'frame.refused',
      code: details.code,
      method: details.method,
      bytes: data.length,
      ready: connection.ready,
      suppressed: taken.suppressed,
    };
    logger.warn(fields, 'frame refused before parsing');
  };
}

function openConnection(services: SocketServices, socket: TransportSocket, info: UpgradeInfo): Connection {
  const { userAgent, origin, host, peerAddr, remoteAddr } = info;
  const connId = randomUUID();
  // Broadcasts go to the TCP socket as whole frames built once, when the transport allows it.
  const connection = newConnection(connId, socket, remoteAddr, monotonicNow(), services.frameWriter(socket));
  connection.actor = createActor(services.machine, {
    input: {
      connId,
      remoteAddr,
      isLoopback: isLoopbackAddress(remoteAddr),
      ...(userAgent ? { userAgent } : {}),
      ...(origin ? { origin } : {}),
      ...(origin && host ? { requestHost: host } : {}),
      challengeNonce: randomUUID(),
      openedAt: Date.now(),
      handshakeTimeoutMs: services.handshakeTimeoutMs,
      supervisor: services.supervisor,
      unauthorizedCallLimit: services.unauthorizedCallLimit,
      unauthorizedCallWindowMs: services.unauthorizedCallWindowMs,
    },
    parent: services.host,
  });
  services.table.add(connection);
  if (services.logger.isLevelEnabled('debug')) {
    const forwarded = peerAddr !== remoteAddr ? { peerAddr } : {};
    services.logger.debug({ connId, remoteAddr, ...forwarded, userAgent, origin, event: 'connection.opened' }, 'connection opened');
  }
  connection.actor.start();
  return connection;
}

export function socketHandlers(services: SocketServices): SocketHandlers<Connection> {
  const logRefusal = refusalLogger(services.logger);
  return {
    opened: (socket, info) => openConnection(services, socket, info),
    text(connection, data) {
      connection.awaitingPong = false;
      if (!connection.live) return;
      // A ready connection's frames are held to their method's size; in the handshake the socket's own 64 KiB is the limit.
      const event = connection.ready ? decodeTextFrame(data, services.frameLimits, connection) : decodeTextFrame(data);
      if (isRefusedFrame(event)) logRefusal(connection, data, event.details);
      connection.actor.send(event);
    },
    binary(connection) {
      connection.awaitingPong = false;
      if (connection.live) connection.actor.send(binaryFrameEvent);
    },
    pong(connection) {
      connection.awaitingPong = false;
    },
    fault(connection, { message, code, tooLarge }) {
      if (!connection.live) return;
      if (tooLarge) {
        const limit = connection.ready ? services.frameLimits.maxPayloadFor(connection) : ProtocolLimits.preAuthMaxPayloadBytes;
        connection.actor.send({ type: 'frame.tooLarge', limit });
        return;
      }
      // The log says what the peer saw: the code the transport failed the socket with, and no reason.
      connection.actor.send(code === undefined ? { type: 'socket.error', message } : { type: 'socket.error', message, code, reason: '' });
    },
    closed(connection, code, reason) {
      if (connection.live) connection.actor.send({ type: 'socket.closed', code, reason });
      services.leavePreauth(connection);
      services.table.remove(connection);
    },
    upgradeFailed(error) {
      services.logger.debug({ err: error.message, event: 'upgrade.error' }, 'socket error during upgrade');
    },
  };
}
