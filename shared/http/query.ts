// POST /v1/query: grant tokens only. The handler is a table of contents of the query path;
// every decision lives in shared/query.

import { QueryBody, type QueryService } from '../query/index.ts';
import type { Routes } from './app.ts';
import { readJson } from './app.ts';
import { bearerToken } from './auth.ts';
import { parseBody } from './validate.ts';

export function queryRoutes(options: { query: QueryService }): Routes {
  return (app) => {
    app.post('/v1/query', async (c) => {
      const grant = await options.query.authenticate(bearerToken(c.req.header('authorization')));
      const body = parseBody(QueryBody, await readJson(c.req.raw));
      return c.json(await options.query.run(grant, body));
    });
  };
}
