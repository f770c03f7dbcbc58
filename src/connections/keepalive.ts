// One timer pings every socket: a peer still owing the previous round's pong is terminated through its
// connection actor (presence and node entries go with it). The round also sends frames held for congested
// sockets whose buffer emptied without a drain event.
import type { Backpressure } from '../outbound/backpressure.js';
import type { ConnectionTable } from './connection.js';

/** Starts the pings (none for an interval of 0); returns what stops them. */
export function startPinging(table: ConnectionTable, backpressure: Backpressure, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => undefined;
  const pinger = setInterval(() => {
    for (const connection of table.values()) {
      if (!connection.live) continue;
      if (connection.awaitingPong) {
        connection.actor.send({ type: 'socket.pongTimeout', intervalMs });
        continue;
      }
      connection.awaitingPong = true;
      try {
        connection.socket.ping();
      } catch {
        // The socket is going: its close event ends the connection.
      }
      backpressure.relieve(connection);
    }
  }, intervalMs);
  pinger.unref();
  return () => clearInterval(pinger);
}
