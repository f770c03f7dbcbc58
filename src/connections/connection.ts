// The gateway's one record of a socket, from its upgrade to its close: the socket, the connection actor
// that decides what happens to it, what the outbound side keeps for it, and, once it is ready, who it is.
// The connection machine's context is the actor's; the supervisor's record of a ready socket is the
// supervisor's; nothing else describes a socket.
import type { ActorRefFrom } from 'xstate';
import type { connectionMachine } from '../../machines/connection.js';
import type { Role, Session } from '../../machines/protocol.js';
import type { OutboundConnection } from '../outbound/outbound.js';
import type { FrameSink, TransportSocket } from '../transport/types.js';

export type ConnectionActor = ActorRefFrom<typeof connectionMachine>;

export interface Connection extends OutboundConnection {
  readonly connId: string;
  readonly socket: TransportSocket;
  readonly remoteAddr: string;
  /** When the socket opened, on the monotonic clock: what the log's `durationMs` is measured from. */
  readonly openedAt: number;
  /** Set once, right after the record is made. */
  actor: ConnectionActor;
  /** False once the machine reached `closed`: later socket events have nobody to go to. */
  live: boolean;
  /** The address this socket counts against as unauthenticated, until it is ready or closed. */
  preauthAddr: string | undefined;
  /** Pinged by the last round of pings and not heard from since. */
  awaitingPong: boolean;
  /** Past its handshake: it gets broadcasts, numbered with `seq`, for its `role` and `scopes`. */
  ready: boolean;
  role: Role | undefined;
  scopes: readonly string[];
  seq: number;
}

const NO_SCOPES: readonly string[] = Object.freeze([]);

/** A new record, every field present from the start (one hidden class for every connection). */
export function newConnection(connId: string, socket: TransportSocket, remoteAddr: string, openedAt: number, frames: FrameSink | undefined): Connection {
  return {
    connId,
    socket,
    remoteAddr,
    openedAt,
    actor: undefined as unknown as ConnectionActor,
    live: true,
    preauthAddr: remoteAddr,
    awaitingPong: false,
    ready: false,
    role: undefined,
    scopes: NO_SCOPES,
    seq: 0,
    frames,
    held: undefined,
    awaitingDrain: false,
    slow: false,
  };
}

/** Every open socket by connection id, and the ready ones apart (what broadcasts go to). */
export class ConnectionTable {
  private readonly byId = new Map<string, Connection>();
  private readonly readySet = new Set<Connection>();

  add(connection: Connection): void {
    this.byId.set(connection.connId, connection);
  }

  get(connId: string): Connection | undefined {
    return this.byId.get(connId);
  }

  /** The socket closed: the record goes. */
  remove(connection: Connection): void {
    this.byId.delete(connection.connId);
    this.readySet.delete(connection);
  }

  /** Past the handshake: from now on it gets broadcasts. */
  markReady(connection: Connection, session: Session): void {
    connection.ready = true;
    connection.role = session.role;
    connection.scopes = session.scopes;
    this.readySet.add(connection);
  }

  /** The machine reached `closed`: no more broadcasts, whatever the socket still does. */
  markEnded(connection: Connection): void {
    connection.live = false;
    if (connection.ready) this.readySet.delete(connection);
  }

  /** Sockets accepted and not yet closed. */
  get size(): number {
    return this.byId.size;
  }

  get readyCount(): number {
    return this.readySet.size;
  }

  values(): IterableIterator<Connection> {
    return this.byId.values();
  }

  readyConnections(): Iterable<Connection> {
    return this.readySet;
  }
}
