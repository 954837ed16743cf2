// Configuration of the local stack, parsed once from the environment (names as in API.md).
// Nothing below local/ reads process.env: this object is passed down instead.

import { resolve } from 'node:path';
import { z } from 'zod';
import { AirlockError } from '../shared/errors.ts';
import { LogLevel } from '../shared/observe/index.ts';
import { formatIssues } from '../shared/policy/index.ts';

const Port = z.coerce.number().int().min(1).max(65535);

const LocalEnv = z.object({
  AIRLOCK_PORT: Port.default(8787),
  AIRLOCK_DATA_DIR: z.string().min(1).default('.airlock'),
  AIRLOCK_POLICY: z.string().min(1).default('airlock.policy.yaml'),
  AIRLOCK_PG_PORT: Port.default(54329),
  /** trace, debug, info (default), warn, error, fatal or silent. */
  AIRLOCK_LOG: LogLevel.default('info'),
});

export interface LocalConfig {
  port: number;
  host: string;
  dataDir: string;
  policyPath: string;
  pgPort: number;
  /** How the data dir was named (AIRLOCK_DATA_DIR as written), for messages; default: `dataDir`. */
  dataDirName?: string;
  /** Default `info`. */
  logLevel?: LogLevel;
}

export function parseLocalConfig(env: Record<string, string | undefined>, cwd: string): LocalConfig {
  const result = LocalEnv.safeParse(env);
  if (!result.success) {
    throw new AirlockError(
      'invalid_config',
      `invalid environment:\n  ${formatIssues(result.error.issues).join('\n  ')}`,
    );
  }
  const parsed = result.data;
  return {
    port: parsed.AIRLOCK_PORT,
    host: '127.0.0.1',
    dataDir: resolve(cwd, parsed.AIRLOCK_DATA_DIR),
    policyPath: resolve(cwd, parsed.AIRLOCK_POLICY),
    pgPort: parsed.AIRLOCK_PG_PORT,
    dataDirName: parsed.AIRLOCK_DATA_DIR,
    logLevel: parsed.AIRLOCK_LOG,
  };
}
