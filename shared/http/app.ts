// The Hono app: one error shape, a body limit, and the route groups each part mounts.
// The same app runs on Node locally, in Lambda, and in tests through app.request().

import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AirlockError } from '../errors.ts';
import { errorResponse } from './errors.ts';
import { type RequestGuardOptions, requestGuard } from './guard.ts';

export type AirlockApp = Hono;

export interface AppOptions {
  /** Request bodies above this are refused with 413 `too_large` before they are read. */
  maxBodyBytes: number;
  /** Host and Origin checks (requestGuardOptions); every route, /healthz included, is behind them. */
  guard?: RequestGuardOptions;
}

/** A route group mounts its routes on the app. */
export type Routes = (app: AirlockApp) => void;

export function createApp(options: AppOptions, ...groups: Routes[]): AirlockApp {
  const app = new Hono();
  app.onError((error, c) => errorResponse(c, error));
  app.notFound((c) => errorResponse(c, new AirlockError('not_found', `no route for ${c.req.method} ${c.req.path}`)));
  if (options.guard) app.use(requestGuard(options.guard));
  app.use(
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (c) => {
        // The rest of the body is never read, so this connection cannot carry another request.
        c.header('Connection', 'close');
        return errorResponse(
          c,
          new AirlockError('too_large', `the request body is over ${options.maxBodyBytes} bytes`),
        );
      },
    }),
  );
  app.get('/healthz', (c) => c.json({ ok: true }));
  for (const mount of groups) mount(app);
  return app;
}

/** Reads a JSON body; anything that is not a JSON object is `invalid_request`. */
export async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type.trim())) {
    throw new AirlockError('invalid_request', 'expected Content-Type: application/json');
  }
  try {
    return JSON.parse(await request.text()) as unknown;
  } catch {
    throw new AirlockError('invalid_request', 'the body is not valid JSON');
  }
}
