// The connection machine's log records, as pino lines: with the connection, its address and how long it
// has lived (`durationMs`, on the clock its timers run on), and on the close line whether it was ready.
import type { ConnectionContext, LogRecord } from '../../machines/connection.js';
import { monotonicNow } from '../actors/clock.js';
import type { Logger } from 'pino';
import type { Connection } from './connection.js';

export function logConnectionRecord(logger: Logger, connection: Connection | undefined, context: ConnectionContext, record: LogRecord): void {
  if (!logger.isLevelEnabled(record.level)) return;
  // A delayed event fires no sooner than its delay after it was armed, which was after the socket opened:
  // a handshake timeout's line never says less than the timeout.
  const durationMs = connection === undefined ? undefined : Math.floor(monotonicNow() - connection.openedAt);
  const fields: Record<string, unknown> = { connId: context.connId, remoteAddr: context.remoteAddr, durationMs, ...record.fields };
  const event = fields.event;
  if (event === 'connection.closed' || event === 'connection.helper_closed') {
    fields.ready = connection?.ready ?? false;
    if (fields.cause === 'handshake-timeout') fields.handshakeTimeoutMs = context.handshakeTimeoutMs;
  }
  logger[record.level](fields, record.msg);
}
