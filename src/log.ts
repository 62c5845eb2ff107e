/**
 * Logger factory. The daemon makes one logger and hands children to its parts; nothing imports a
 * global logger. JSON lines on stdout for journald; readable lines when stdout is a terminal.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type pretty from 'pino-pretty';
import type { LogLevel } from './config/types.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  /** Human-readable output (for terminals); JSON otherwise. */
  pretty: boolean;
  /** Where lines go; default stdout. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: { svc: 'p2pd' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.pretty) {
    // Loaded only for a terminal: a daemon under a service manager logs JSON and never needs it.
    const prettyStream = createRequire(import.meta.url)('pino-pretty') as typeof pretty;
    return pino(base, prettyStream({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'svc,pid,hostname', destination: 1 }));
  }
  return pino(base, options.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for tests and for CLI code paths that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
