// Prometheus metrics for the local stack's GET /metrics: a module of its own so Lambda bundles never load prom-client.
// Must never be imported by functions/.

export { createPrometheusMetrics } from './metrics.ts';
