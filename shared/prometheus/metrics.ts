// Metrics as Prometheus text for GET /metrics on the local stack (prom-client, one registry per Airlock).
// Must never be imported by a Lambda entry point: Lambda writes EMF (shared/observe) and has no /metrics.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS, type MetricName, type Metrics, SECONDS_BUCKETS } from '../observe/index.ts';

export function createPrometheusMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'airlock_' });
  const series = new Map<MetricName, Counter | Histogram | Gauge>();
  for (const [name, definition] of Object.entries(METRICS) as Array<[MetricName, (typeof METRICS)[MetricName]]>) {
    const config = {
      name: `airlock_${name}`,
      help: definition.help,
      labelNames: [...definition.labels],
      registers: [registry],
    };
    series.set(
      name,
      definition.kind === 'counter'
        ? new Counter(config)
        : definition.kind === 'gauge'
          ? new Gauge(config)
          : new Histogram({ ...config, buckets: SECONDS_BUCKETS }),
    );
  }
  return {
    count: (name, labels, value = 1) => (series.get(name) as Counter).inc(labels, value),
    observe: (name, value, labels) => (series.get(name) as Histogram).observe(labels, value),
    gauge: (name, value, labels) => (series.get(name) as Gauge).set(labels, value),
    exposition: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
