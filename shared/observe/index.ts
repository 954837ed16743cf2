// The observe module's public surface: the logger, request scope and ids, metrics, spans, readiness.
// Must never export a way to log a request's token, SQL, parameters or values.

export { observeAuditLog } from './audit.ts';
export type { ReadinessChecksOptions } from './checks.ts';
export { readinessChecks } from './checks.ts';
export type { RequestObserverOptions } from './http.ts';
export { observeRequests, REQUEST_ID_HEADER, routePattern } from './http.ts';
export { LOG_LEVELS, LogLevel } from './level.ts';
export type { CauseSummary, LogDestination, Logger, LoggerOptions } from './logger.ts';
export { createLogger, describeCause, silentLogger } from './logger.ts';
export type { CounterName, EmfOptions, GaugeName, HistogramName, LabelsOf, MetricName, Metrics } from './metrics.ts';
export { createEmfMetrics, METRICS, noMetrics, SECONDS_BUCKETS } from './metrics.ts';
export type { CheckOutcome, Readiness, ReadinessCheck, ReadinessOptions, ReadinessReport } from './readiness.ts';
export { createReadiness } from './readiness.ts';
export type { RequestScope } from './request.ts';
export {
  acceptRequestId,
  currentRequest,
  currentRequestId,
  inRequestScope,
  newRequestId,
  noteActor,
  noteError,
} from './request.ts';
export type { SweepRunOptions } from './sweep.ts';
export { assertSwept, observeSweep } from './sweep.ts';
export type { QuerySpan } from './tracing.ts';
export { QUERY_SPANS, withServerSpan, withSpan } from './tracing.ts';
