// The API function: grants, approvals, JWKS, OpenAPI and MCP behind API Gateway; it holds the admin
// credentials and the signing key. POST /v1/query is routed to the query function, never here.

import { buildAirlock } from './assemble.ts';
import { parseFunctionConfig } from './config.ts';
import { functionObservability, httpHandler, warm } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const observe = functionObservability(config, 'api');
// MCP composes both halves in one process (shared/http/airlock.ts), so this function builds both;
// the gateway still sends every POST /v1/query to the query function.
const airlock = warm(
  () => buildAirlock(config, { parts: { api: true, query: true }, mail: true, observe }),
  observe.logger,
);

// Build during the init phase (full CPU, not billed as request time); a failure is retried per event.
await airlock.get().catch(() => {});

export const handler = httpHandler(airlock, observe);
