// The log levels AIRLOCK_LOG accepts, as one schema for the local stack, the functions and the deploy.
// Must never import the logger itself: the deploy reads this without loading pino.

import { z } from 'zod';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LogLevel = z.enum(LOG_LEVELS);
export type LogLevel = z.infer<typeof LogLevel>;
