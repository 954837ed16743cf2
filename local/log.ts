// The local stack's logger: pretty, one line per entry, when stdout is a terminal; JSON lines otherwise.
// Local mode only (pino-pretty is not bundled into the Lambda functions).

import pretty from 'pino-pretty';
import { createLogger, type Logger, type LogLevel } from '../shared/observe/index.ts';

export function createLocalLogger(level: LogLevel, terminal: boolean): Logger {
  if (!terminal) return createLogger({ level });
  return createLogger({
    level,
    destination: pretty({
      sync: true,
      colorize: true,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
    }),
  });
}
