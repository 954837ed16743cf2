// The query function: POST /v1/query only. It can derive role passwords and verify grant tokens, but
// holds no admin credential and no signing key, and may only append to the audit log.

import { assembleQueryAirlock } from '../shared/airlock/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { parseOne } from '../shared/sql/index.ts';
import { hotPathFor } from '../shared/store/index.ts';
import { parseFunctionConfig } from './config.ts';
import { dynamoClient, functionObservability, httpHandler, secretSource, warm } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const observe = functionObservability(config, 'query');
const airlock = warm(async () => {
  const dynamo = dynamoClient(config);
  const built = await assembleQueryAirlock({
    policy: await loadPolicyFile(config.policyPath),
    secrets: secretSource(config),
    dynamo,
    hotPath: await hotPathFor(dynamo),
    tables: config.tables,
    wire: config.wire,
    ...(config.rolePrefix ? { rolePrefix: config.rolePrefix } : {}),
    observe: { logger: observe.logger, metrics: observe.metrics },
  });
  await parseOne('SELECT 1'); // compile the parser's WASM now rather than on the first statement
  return built;
}, observe.logger);

await airlock.get().catch(() => {});

export const handler = httpHandler(airlock, observe);
