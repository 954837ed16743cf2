// The query function: POST /v1/query only. It can derive role passwords and verify grant tokens, but
// holds no admin credential and no signing key, and may only append to the audit log.

import { parseOne } from '../shared/sql/index.ts';
import { parseFunctionConfig } from './config.ts';
import { buildAirlock, functionObservability, httpHandler, warm } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const observe = functionObservability(config, 'query');
const airlock = warm(async () => {
  const built = await buildAirlock(config, { parts: { api: false, query: true }, observe });
  await parseOne('SELECT 1'); // compile the parser's WASM now rather than on the first statement
  return built;
}, observe.logger);

await airlock.get().catch(() => {});

export const handler = httpHandler(airlock, observe);
