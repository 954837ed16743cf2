// GET /readyz: whether the parts Airlock needs answer (store, secrets, each connection's Postgres).
// Each check is bounded in time and the answer is cached briefly; it never says more than a check's name and outcome.

export interface ReadinessCheck {
  /** Named in the answer: `store`, `secrets`, `postgres:<connection>`. */
  name: string;
  run(): Promise<void>;
}

export interface CheckOutcome {
  ok: boolean;
  /** `timeout` or `unavailable` when not ok. */
  error?: 'timeout' | 'unavailable';
  ms: number;
}

export interface ReadinessReport {
  ok: boolean;
  checks: Record<string, CheckOutcome>;
  /** Why each failing check failed (for the log, never the answer). */
  causes: Record<string, unknown>;
}

export interface ReadinessOptions {
  checks: ReadinessCheck[];
  /** Each check gets this long (default 3 s). */
  timeoutMs?: number;
  /** A report is reused this long (default 5 s), so a busy prober cannot turn /readyz into load. */
  cacheMs?: number;
  now?: () => number;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
}

export function createReadiness(options: ReadinessOptions): Readiness {
  const timeoutMs = options.timeoutMs ?? 3000;
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? (() => performance.now());
  let cached: { at: number; report: Promise<ReadinessReport> } | undefined;

  async function runAll(): Promise<ReadinessReport> {
    const results = await Promise.all(options.checks.map((check) => runOne(check, timeoutMs, now)));
    const checks: Record<string, CheckOutcome> = {};
    const causes: Record<string, unknown> = {};
    for (const [index, result] of results.entries()) {
      const name = options.checks[index]!.name;
      checks[name] = result.outcome;
      if (!result.outcome.ok) causes[name] = result.cause;
    }
    return { ok: results.every((result) => result.outcome.ok), checks, causes };
  }

  return {
    check() {
      const at = now();
      if (!cached || at - cached.at >= cacheMs) cached = { at, report: runAll() };
      return cached.report;
    },
  };
}

async function runOne(
  check: ReadinessCheck,
  timeoutMs: number,
  now: () => number,
): Promise<{ outcome: CheckOutcome; cause?: unknown }> {
  const started = now();
  const elapsed = () => Math.round(now() - started);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = Symbol('timeout');
  const running = Promise.resolve().then(() => check.run());
  // A check that answers after its timeout must not become an unhandled rejection.
  running.catch(() => {});
  try {
    const result = await Promise.race([
      running,
      new Promise<typeof timedOut>((resolve) => {
        timer = setTimeout(() => resolve(timedOut), timeoutMs);
      }),
    ]);
    if (result === timedOut)
      return {
        outcome: { ok: false, error: 'timeout', ms: elapsed() },
        cause: new Error(`no answer within ${timeoutMs} ms`),
      };
    return { outcome: { ok: true, ms: elapsed() } };
  } catch (error) {
    return { outcome: { ok: false, error: 'unavailable', ms: elapsed() }, cause: error };
  } finally {
    clearTimeout(timer);
  }
}
