// GET /readyz (every deployment) and GET /metrics (where metrics are kept in-process: the local stack).
// /metrics answers loopback callers only; /readyz names failing checks, never their causes.

import { AirlockError } from '../errors.ts';
import { currentRequestId, type Metrics, noteError, type Readiness } from '../observe/index.ts';
import type { Routes } from './app.ts';

export interface ObserveRoutesOptions {
  readiness: Readiness;
  metrics: Metrics;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

export function observeRoutes(options: ObserveRoutesOptions): Routes {
  const { readiness, metrics } = options;
  return (app) => {
    app.get('/readyz', async (c) => {
      const report = await readiness.check();
      if (report.ok) return c.json({ ok: true, checks: report.checks });
      const failing = Object.keys(report.causes);
      const message = `not ready: ${failing.join(', ')}`;
      noteError('unavailable', new AirlockError('unavailable', message, {}, { cause: report.causes[failing[0]!] }));
      const requestId = currentRequestId();
      return c.json(
        {
          ok: false,
          checks: report.checks,
          error: { code: 'unavailable', message, ...(requestId ? { requestId } : {}) },
        },
        503,
      );
    });

    const exposition = metrics.exposition?.bind(metrics);
    if (!exposition) return;
    app.get('/metrics', async (c) => {
      const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
      if (!LOOPBACK.test(env?.incoming?.socket?.remoteAddress ?? ''))
        throw new AirlockError('not_found', 'no route for GET /metrics');
      const { contentType, body } = await exposition();
      return c.body(body, 200, { 'content-type': contentType });
    });
  };
}
