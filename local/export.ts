// The local stack's audit export: the policy's sinks fed by a loop that reads the audit log in time order.
// The loop only reads the audit log (and its cursors), so a slow or dead sink never touches a query.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { assembleAuditExport, type ExportLoop, startExportLoop } from '../shared/export/index.ts';
import type { Logger, Metrics } from '../shared/observe/index.ts';
import type { Policy } from '../shared/policy/index.ts';
import type { SecretSource } from '../shared/secrets/index.ts';
import type { TableNames } from '../shared/store/index.ts';

export interface LocalExportOptions {
  policy: Policy;
  secrets: SecretSource;
  dynamo: DynamoDBClient;
  tables: TableNames;
  logger: Logger;
  metrics: Metrics;
  /** Relative file sink paths are resolved from here. */
  cwd: string;
}

/** Starts the export loop when the policy has sinks; undefined when there is nothing to export. */
export async function startLocalExport(options: LocalExportOptions): Promise<ExportLoop | undefined> {
  if (options.policy.auditExport.sinks.length === 0) return undefined;
  const built = await assembleAuditExport({ ...options, files: true });
  options.logger.info({ sinks: built.exporters.map((exporter) => exporter.sink.name) }, 'export: started');
  return startExportLoop({
    timeline: built.audit,
    exporters: built.exporters,
    cursors: built.cursors,
    logger: options.logger,
  });
}
