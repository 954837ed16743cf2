// Metrics as CloudWatch Embedded Metric Format (Lambda) and Prometheus text (local), and OpenTelemetry spans:
// recorded by a registered tracer provider, no-ops (and nearly free) without one.

import {
  type Context,
  context,
  type Span,
  type SpanContext,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../shared/errors.ts';
import { createApp } from '../../shared/http/app.ts';
import { requestGuardOptions } from '../../shared/http/guard.ts';
import { createEmfMetrics, METRICS, withSpan } from '../../shared/observe/index.ts';
import { createPrometheusMetrics } from '../../shared/prometheus/index.ts';

/** A bare app answering for http://localhost, the host of a request built in-process. */
const LOCAL_APP = {
  maxBodyBytes: 1024,
  publicUrl: 'http://localhost',
  guard: requestGuardOptions({ publicUrl: 'http://localhost', http: { allowedHosts: [], mcpOrigins: [] } }),
};

describe('EMF on Lambda', () => {
  it('writes one document per series on flush, with its dimensions, unit and values, then starts over', () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({
      namespace: 'Airlock/prod',
      dimensions: { function: 'query' },
      write: (line) => lines.push(line),
      now: () => new Date('2026-03-14T09:26:53.000Z'),
    });
    metrics.count('statements_total', { decision: 'executed' });
    metrics.count('statements_total', { decision: 'executed' }, 2);
    metrics.count('statements_total', { decision: 'blocked' });
    metrics.observe('statement_duration_seconds', 0.012, { decision: 'executed' });
    metrics.observe('statement_duration_seconds', 0.034, { decision: 'executed' });
    metrics.gauge('export_lag_seconds', 4, { sink: 'siem' });
    metrics.gauge('export_lag_seconds', 0, { sink: 'siem' });
    metrics.flush();
    const documents = lines.map((line) => JSON.parse(line));
    expect(documents).toHaveLength(4);
    expect(documents[0]).toEqual({
      _aws: {
        Timestamp: Date.parse('2026-03-14T09:26:53.000Z'),
        CloudWatchMetrics: [
          {
            Namespace: 'Airlock/prod',
            Dimensions: [['function', 'decision']],
            Metrics: [{ Name: 'statements_total', Unit: 'Count' }],
          },
        ],
      },
      function: 'query',
      decision: 'executed',
      statements_total: 3,
    });
    expect(documents[2]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: 'statement_duration_seconds', Unit: 'Seconds' }] }] },
      statement_duration_seconds: [0.012, 0.034],
    });
    expect(documents[3]).toMatchObject({ sink: 'siem', export_lag_seconds: 0 });
    lines.length = 0;
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('splits more than 100 values of one series over several documents (CloudWatch’s limit)', () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({ namespace: 'Airlock/test', write: (line) => lines.push(line) });
    for (let n = 0; n < 250; n++)
      metrics.observe('http_request_duration_seconds', n / 1000, { method: 'GET', route: '/x' });
    metrics.flush();
    expect(lines.map((line) => JSON.parse(line).http_request_duration_seconds.length)).toEqual([100, 100, 50]);
  });
});

describe('Prometheus on the local stack', () => {
  it('exposes every metric of the catalogue with its help text, prefixed airlock_', async () => {
    const metrics = createPrometheusMetrics({ processMetrics: false });
    metrics.count('grants_total', { outcome: 'requested' });
    metrics.observe('sweep_duration_seconds', 0.2, {});
    const { contentType, body } = await metrics.exposition!();
    expect(contentType).toMatch(/^text\/plain/);
    for (const [name, definition] of Object.entries(METRICS))
      expect(body).toContain(`# HELP airlock_${name} ${definition.help}`);
    expect(body).toContain('airlock_grants_total{outcome="requested"} 1');
    expect(body).toContain('airlock_sweep_duration_seconds_count 1');
  });

  it('/metrics answers loopback callers only', async () => {
    const metrics = createPrometheusMetrics({ processMetrics: false });
    const app = createApp(LOCAL_APP, (routes) => {
      routes.get('/metrics', async (c) => {
        const remote = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
        return c.text(String(remote?.socket?.remoteAddress));
      });
    });
    expect((await app.request('/metrics')).status).toBe(200);
    const { createReadiness } = await import('../../shared/observe/index.ts');
    const { observeRoutes } = await import('../../shared/http/index.ts');
    const guarded = createApp(LOCAL_APP, observeRoutes({ readiness: createReadiness({ checks: [] }), metrics }));
    const env = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
    expect((await guarded.request('/metrics', {}, env('127.0.0.1'))).status).toBe(200);
    expect((await guarded.request('/metrics', {}, env('::ffff:127.0.0.1'))).status).toBe(200);
    expect((await guarded.request('/metrics', {}, env('10.0.0.7'))).status).toBe(404);
    expect((await guarded.request('/metrics')).status).toBe(404);
  });
});

/** A tracer provider that keeps its spans in memory: what an OpenTelemetry SDK would export. */
function memoryProvider() {
  const spans: Array<{ name: string; attributes: Record<string, unknown>; status?: unknown; ended: boolean }> = [];
  const tracer: Tracer = {
    startSpan(name: string, options?: SpanOptions): Span {
      const record = {
        name,
        attributes: { ...(options?.attributes ?? {}) },
        status: undefined as unknown,
        ended: false,
      };
      spans.push(record);
      const span: Span = {
        spanContext: (): SpanContext => ({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 }),
        setAttribute: (key, value) => {
          record.attributes[key] = value;
          return span;
        },
        setAttributes: (attributes) => {
          Object.assign(record.attributes, attributes);
          return span;
        },
        addEvent: () => span,
        addLink: () => span,
        addLinks: () => span,
        setStatus: (status) => {
          record.status = status;
          return span;
        },
        updateName: (next) => {
          record.name = next;
          return span;
        },
        end: () => {
          record.ended = true;
        },
        isRecording: () => true,
        recordException: () => {},
      };
      return span;
    },
    startActiveSpan(name: string, ...rest: unknown[]) {
      const fn = rest.at(-1) as (span: Span) => unknown;
      const options = (typeof rest[0] === 'object' ? rest[0] : undefined) as SpanOptions | undefined;
      const span = this.startSpan(name, options);
      return context.with(trace.setSpan(context.active() as Context, span), () => fn(span));
    },
  } as Tracer;
  const provider: TracerProvider = { getTracer: () => tracer };
  return { provider, spans };
}

describe('OpenTelemetry spans', () => {
  afterEach(() => trace.disable());

  it('without a provider, withSpan runs the work and passes its failure through, for about the cost of an async call', async () => {
    expect(await withSpan('query.parse', () => 42)).toBe(42);
    await expect(withSpan('query.parse', () => Promise.reject(new Error('passed through')))).rejects.toThrow(
      'passed through',
    );
    // Interleaved rounds on a busy machine: the fastest round of each is compared.
    const rounds = 5000;
    const best = { plain: Number.POSITIVE_INFINITY, span: Number.POSITIVE_INFINITY };
    for (let round = 0; round < 5; round++) {
      let started = performance.now();
      for (let n = 0; n < rounds; n++) await (async () => n)();
      best.plain = Math.min(best.plain, ((performance.now() - started) * 1000) / rounds);
      started = performance.now();
      for (let n = 0; n < rounds; n++) await withSpan('query.parse', () => n);
      best.span = Math.min(best.span, ((performance.now() - started) * 1000) / rounds);
    }
    console.log(
      `tracing: withSpan without an SDK ${best.span.toFixed(2)} µs per call, an async call ${best.plain.toFixed(2)} µs`,
    );
    expect(best.span).toBeLessThan(best.plain * 10);
  });

  it('with a provider, each phase is a span named airlock.<phase>; a failure carries its code, never its message', async () => {
    const { provider, spans } = memoryProvider();
    trace.setGlobalTracerProvider(provider);
    await withSpan('query.execute', async () => 1, { 'airlock.statements': 1 });
    await expect(
      withSpan('query.audit', async () => {
        throw new AirlockError('unavailable', 'audit log is unavailable; secret-ish detail');
      }),
    ).rejects.toThrow();
    expect(spans).toEqual([
      { name: 'airlock.query.execute', attributes: { 'airlock.statements': 1 }, status: undefined, ended: true },
      {
        name: 'airlock.query.audit',
        attributes: { 'error.type': 'unavailable' },
        status: { code: SpanStatusCode.ERROR, message: 'unavailable' },
        ended: true,
      },
    ]);
  });

  it('every HTTP request is a server span named by its route pattern', async () => {
    const { provider, spans } = memoryProvider();
    trace.setGlobalTracerProvider(provider);
    const app = createApp(LOCAL_APP, (routes) => {
      routes.get('/v1/grants/:id', (c) => c.json({ id: c.req.param('id') }));
    });
    await app.request('/v1/grants/abcdefghij0123456789');
    expect(spans[0]).toMatchObject({
      name: 'GET /v1/grants/:id',
      attributes: { 'http.request.method': 'GET', 'http.route': '/v1/grants/:id', 'http.response.status_code': 200 },
      ended: true,
    });
  });
});
