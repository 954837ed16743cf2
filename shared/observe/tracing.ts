// OpenTelemetry spans around Airlock's phases, through the API only: without an SDK they are no-ops.
// Must never put SQL, parameters, tokens or values on a span; names and codes only.

import { type Attributes, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { isAirlockError } from '../errors.ts';

// Asked for on each span, not kept: a provider registered (or replaced) after this module loaded is used.
const tracer = () => trace.getTracer('airlock');

/** The query path's phases, as spans: `airlock.query.<phase>`. */
export const QUERY_SPANS = ['auth', 'grant', 'parse', 'execute', 'mask', 'audit'] as const;
export type QuerySpan = (typeof QUERY_SPANS)[number];

/**
 * Runs `work` inside a span named `airlock.<name>`; a failure marks the span with its error code (never
 * its message). With no tracer provider registered this is one no-op span object and a closure call.
 */
export function withSpan<T>(name: string, work: () => T | Promise<T>, attributes?: Attributes): Promise<T> {
  return tracer().startActiveSpan(`airlock.${name}`, attributes ? { attributes } : {}, async (span) => {
    try {
      return await work();
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The server span of one HTTP request; its name and route are set once the route is known. */
export function withServerSpan<T>(method: string, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(
    `HTTP ${method}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } },
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        markFailed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

function markFailed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const code = isAirlockError(error) ? error.code : error instanceof Error ? error.name : 'error';
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  span.setAttribute('error.type', code);
}
