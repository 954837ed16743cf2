// What both composition roots start from: the clock, the logger and metrics, the query keys, and the store client
// with the per-statement calls on the hot path when one is given. Must never build anything a statement does not need.

import { createLogger, noMetrics } from '../observe/index.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../secrets/index.ts';
import { withHotPath } from '../store/index.ts';
import type { AirlockConfig } from './assemble.ts';

export async function assembleBasics(
  config: Pick<AirlockConfig, 'now' | 'observe' | 'secrets' | 'dynamo' | 'hotPath'>,
) {
  const client = config.dynamo;
  return {
    now: config.now ?? (() => new Date()),
    logger: config.observe?.logger ?? createLogger({ level: 'warn' }),
    metrics: config.observe?.metrics ?? noMetrics,
    queryKeys: await readSecret(config.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret),
    client,
    /** The client for the per-statement calls (grant read, audit append, chain head). */
    perStatement: config.hotPath ? withHotPath(client, config.hotPath) : client,
  };
}
