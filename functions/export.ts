// The audit export function: subscribed to the audit table's DynamoDB stream, it delivers each batch to the
// policy's sinks. It reads the audit log and its secrets, keeps its cursors, and may do nothing else.

import type { LambdaContext } from 'hono/aws-lambda';
import {
  assembleAuditExport,
  type BatchResponse,
  exportStreamBatch,
  type StreamBatch,
} from '../shared/export/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { parseFunctionConfig } from './config.ts';
import { dynamoClient, functionObservability, secretSource, warm } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const observe = functionObservability(config, 'export');
const exporters = warm(async () => {
  const policy = await loadPolicyFile(config.policyPath);
  const built = await assembleAuditExport({
    policy,
    secrets: secretSource(config),
    dynamo: dynamoClient(config),
    tables: config.tables,
    logger: observe.logger,
    metrics: observe.metrics,
    files: false,
  });
  return built.exporters;
}, observe.logger);

await exporters.get().catch(() => {});

/** A failure to start throws: Lambda keeps the batch and sends it again, so nothing is skipped. */
export async function handler(event: StreamBatch, context?: LambdaContext): Promise<BatchResponse> {
  const logger = context?.awsRequestId ? observe.logger.child({ awsRequestId: context.awsRequestId }) : observe.logger;
  try {
    return await exportStreamBatch(event, { exporters: await exporters.get(), logger });
  } finally {
    observe.metrics.flush();
  }
}
