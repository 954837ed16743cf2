// The metrics Airlock records, as one closed catalogue, and the interface the rest of the code calls.
// Labels are bounded sets (route patterns, decisions, sink names): never an id, a subject or a value.

export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Definition {
  kind: 'counter' | 'histogram' | 'gauge';
  help: string;
  labels: readonly string[];
}

export const METRICS = {
  http_requests_total: {
    kind: 'counter',
    help: 'HTTP requests answered, by route pattern and status',
    labels: ['method', 'route', 'status'],
  },
  http_request_duration_seconds: {
    kind: 'histogram',
    help: 'Time to answer an HTTP request',
    labels: ['method', 'route'],
  },
  grants_total: {
    kind: 'counter',
    help: 'Grant requests and outcomes: requested, pending (waiting for approval), granted, denied, expired',
    labels: ['outcome'],
  },
  revocations_total: { kind: 'counter', help: 'Grants revoked before their window ended', labels: [] },
  statements_total: {
    kind: 'counter',
    help: 'Statements audited, by decision: executed, blocked, held, failed',
    labels: ['decision'],
  },
  statement_duration_seconds: {
    kind: 'histogram',
    help: 'Time a statement ran in Postgres (executed and failed statements)',
    labels: ['decision'],
  },
  sweeps_total: { kind: 'counter', help: 'Sweeper runs', labels: [] },
  sweep_duration_seconds: { kind: 'histogram', help: 'Time a sweeper run took', labels: [] },
  sweep_expired_total: { kind: 'counter', help: 'Grants the sweeper ended', labels: [] },
  sweep_orphans_reaped_total: { kind: 'counter', help: 'Roles without a live grant the sweeper dropped', labels: [] },
  sweep_errors_total: {
    kind: 'counter',
    help: 'Sweeper failures, by step: expire, reap, connection, notify, run',
    labels: ['step'],
  },
  export_events_total: { kind: 'counter', help: 'Audit events a sink acknowledged', labels: ['sink'] },
  export_failures_total: {
    kind: 'counter',
    help: 'Audit export deliveries a sink refused or missed',
    labels: ['sink'],
  },
  export_lag_seconds: {
    kind: 'gauge',
    help: 'Age of the oldest audit event a sink has not acknowledged yet (0 when caught up)',
    labels: ['sink'],
  },
  export_delivery_seconds: {
    kind: 'histogram',
    help: 'Time from an audit event to its acknowledgement by a sink',
    labels: ['sink'],
  },
} as const satisfies Record<string, Definition>;

export type MetricName = keyof typeof METRICS;
type OfKind<K extends Definition['kind']> = {
  [N in MetricName]: (typeof METRICS)[N]['kind'] extends K ? N : never;
}[MetricName];
export type CounterName = OfKind<'counter'>;
export type HistogramName = OfKind<'histogram'>;
export type GaugeName = OfKind<'gauge'>;
export type LabelsOf<N extends MetricName> = { [L in (typeof METRICS)[N]['labels'][number]]: string };

export interface Metrics {
  count<N extends CounterName>(name: N, labels: LabelsOf<N>, value?: number): void;
  observe<N extends HistogramName>(name: N, value: number, labels: LabelsOf<N>): void;
  gauge<N extends GaugeName>(name: N, value: number, labels: LabelsOf<N>): void;
  /** Prometheus text, where this process serves GET /metrics. */
  exposition?(): Promise<{ contentType: string; body: string }>;
  /** Writes what was recorded since the last flush (EMF on Lambda, once per invocation). */
  flush?(): void;
}

/** Records nothing (tests and processes that were given no metrics). */
export const noMetrics: Metrics = { count() {}, observe() {}, gauge() {} };

export interface EmfOptions {
  /** CloudWatch namespace, e.g. `Airlock/prod`. */
  namespace: string;
  /** Dimensions on every metric (e.g. the function), added to each metric's labels. */
  dimensions?: Record<string, string>;
  /** One EMF document per call; default: a line on stdout, where Lambda hands it to CloudWatch. */
  write?: (line: string) => void;
  now?: () => Date;
}

/** At most this many values per metric in one EMF document (CloudWatch's limit). */
const EMF_MAX_VALUES = 100;

/**
 * CloudWatch Embedded Metric Format, written by hand: the values of an invocation are kept in memory
 * and written as one JSON document per series on flush(), so a busy function writes a few lines, not one per call.
 */
export function createEmfMetrics(options: EmfOptions): Metrics & { flush(): void } {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const base = options.dimensions ?? {};
  const series = new Map<string, { name: MetricName; labels: Record<string, string>; values: number[] }>();

  const record = (name: MetricName, labels: Record<string, string>, value: number, add: boolean) => {
    const key = `${name}\u0000${JSON.stringify(labels)}`;
    const entry = series.get(key);
    if (!entry) series.set(key, { name, labels, values: [value] });
    else if (add && METRICS[name].kind === 'counter') entry.values[0]! += value;
    else if (METRICS[name].kind === 'gauge') entry.values = [value];
    else entry.values.push(value);
  };

  return {
    count: (name, labels, value = 1) => record(name, labels, value, true),
    observe: (name, value, labels) => record(name, labels, value, false),
    gauge: (name, value, labels) => record(name, labels, value, false),
    flush() {
      const timestamp = now().getTime();
      for (const { name, labels, values } of series.values()) {
        const dimensions = { ...base, ...labels };
        const unit = name.endsWith('_seconds') ? 'Seconds' : 'Count';
        for (let at = 0; at < values.length; at += EMF_MAX_VALUES) {
          const chunk = values.slice(at, at + EMF_MAX_VALUES);
          write(
            JSON.stringify({
              _aws: {
                Timestamp: timestamp,
                CloudWatchMetrics: [
                  {
                    Namespace: options.namespace,
                    Dimensions: [Object.keys(dimensions)],
                    Metrics: [{ Name: name, Unit: unit }],
                  },
                ],
              },
              ...dimensions,
              [name]: chunk.length === 1 ? chunk[0] : chunk,
            }),
          );
        }
      }
      series.clear();
    },
  };
}
