// What the observability tests share: a logger whose lines land in memory, parsed.

import { createLogger, type Logger, type LogLevel } from '../../shared/observe/index.ts';

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLogs {
  logger: Logger;
  /** Every line written so far, parsed. */
  lines(): LogLine[];
  /** Every line written so far, as written. */
  text(): string;
}

export function captureLogs(level: LogLevel = 'debug'): CapturedLogs {
  const raw: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => raw.push(line) } });
  return {
    logger,
    lines: () => raw.map((line) => JSON.parse(line) as LogLine),
    text: () => raw.join(''),
  };
}

/** The request lines (one per HTTP request) among the captured lines. */
export function requestLines(logs: CapturedLogs): LogLine[] {
  return logs.lines().filter((line) => typeof line.requestId === 'string' && typeof line.route === 'string');
}
