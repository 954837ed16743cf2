// One log line and the metrics of each sweeper run, and the failure a scheduler can alarm on.
// Must never hide a failed step: every one is logged with its grant or role and cause, and fails the run.

import { AirlockError } from '../errors.ts';
import type { SweepReport } from '../grants/index.ts';
import { describeCause, type Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface SweepRunOptions {
  logger: Logger;
  metrics: Metrics;
}

/** Runs one sweep, logs it (debug when idle, info when it ended something, error when a step failed) and counts it. */
export async function observeSweep(sweep: () => Promise<SweepReport>, options: SweepRunOptions): Promise<SweepReport> {
  const { logger, metrics } = options;
  const started = performance.now();
  metrics.count('sweeps_total', {});
  let report: SweepReport;
  try {
    report = await sweep();
  } catch (error) {
    metrics.count('sweep_errors_total', { step: 'run' });
    logger.error({ cause: describeCause(error) }, 'sweep failed before it finished');
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  metrics.observe('sweep_duration_seconds', seconds, {});
  metrics.count('sweep_expired_total', {}, report.expired);
  metrics.count('sweep_orphans_reaped_total', {}, report.orphansReaped);
  for (const failure of report.failures) metrics.count('sweep_errors_total', { step: failure.step });
  // Failures a caller counted without a record (the approval mail step of the composition root).
  const uncounted = report.errors - report.failures.length;
  if (uncounted > 0) metrics.count('sweep_errors_total', { step: 'notify' }, uncounted);

  const line = {
    expired: report.expired,
    orphansReaped: report.orphansReaped,
    errors: report.errors,
    durationMs: Math.round(seconds * 100_000) / 100,
    ...(report.failures.length > 0
      ? {
          failures: report.failures.map(({ cause, ...where }) => ({ ...where, cause: describeCause(cause) })),
        }
      : {}),
  };
  const message = `sweep: ${report.expired} expired, ${report.orphansReaped} orphan roles reaped, ${report.errors} failed`;
  if (report.errors > 0) logger.error(line, message);
  else if (report.expired + report.orphansReaped > 0) logger.info(line, message);
  else logger.debug(line, message);
  return report;
}

/** Throws when any step failed, so the scheduled invocation fails and its error metric and alarms see it. */
export function assertSwept(report: SweepReport): void {
  if (report.errors === 0) return;
  const named = report.failures
    .slice(0, 5)
    .map((failure) =>
      [failure.step, failure.grantId && `grant ${failure.grantId}`, failure.role && `role ${failure.role}`]
        .filter(Boolean)
        .join(' '),
    );
  throw new AirlockError(
    'unavailable',
    `the sweep left ${report.errors} step(s) undone${named.length ? `: ${named.join('; ')}` : ''} (retried next run)`,
  );
}
