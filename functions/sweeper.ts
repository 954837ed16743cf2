// The sweeper, run every minute by the schedule: expires grants whose window ended, drops their roles,
// reaps orphans and mails the approvals the query side held. Each run is one log line; a failed step is thrown,
// so the invocation fails and the function's error metric and alarms see it.

import type { LambdaContext } from 'hono/aws-lambda';
import type { SweepReport } from '../shared/grants/index.ts';
import { assertSwept, observeSweep } from '../shared/observe/index.ts';
import { buildAirlock } from './assemble.ts';
import { parseFunctionConfig } from './config.ts';
import { functionObservability, warm } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const observe = functionObservability(config, 'sweeper');
const airlock = warm(
  () => buildAirlock(config, { parts: { api: true, query: false }, mail: true, observe }),
  observe.logger,
);

await airlock.get().catch(() => {}); // as the HTTP functions: build during init, retry per event

export async function handler(_event: unknown, context?: LambdaContext): Promise<SweepReport> {
  const built = await airlock.get();
  const logger = context?.awsRequestId ? observe.logger.child({ awsRequestId: context.awsRequestId }) : observe.logger;
  try {
    const report = await observeSweep(() => built.sweep(), { logger, metrics: observe.metrics });
    assertSwept(report);
    return report;
  } finally {
    observe.metrics.flush();
  }
}
