// Structured JSON logs (one object per line) with pino.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };
export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(level: LogLevelName = 'info', destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'actorgate' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}
