// The one place a pino root logger is created. Components take a child logger through
// their constructor; nothing here is a module-level singleton.
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where to write; defaults to stderr so stdout stays free for command output. */
  destination?: NodeJS.WritableStream;
}

export function createRootLogger(name: string, opts: LoggerOptions = {}): Logger {
  const dest = opts.destination ?? process.stderr;
  return pino({ name, level: opts.level ?? 'info', base: { component: name } }, dest as pino.DestinationStream);
}

/** A logger that discards everything, for pure-code tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
