// The local stack's audit export: the policy's sinks fed by a loop that reads the audit log in time order.
// The loop only reads the audit log (and its cursors), so a slow or dead sink never touches a query.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AuditLog } from '../shared/audit/index.ts';
import { type AuditTimeline, assembleAuditExport, type ExportLoop, startExportLoop } from '../shared/export/index.ts';
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
  const timeline = timelineOf(built.audit as AuditLog);
  if (!timeline) {
    options.logger.error(
      'export: this build of the audit log cannot be read in time order (listByTime); no audit event is exported',
    );
    return undefined;
  }
  options.logger.info({ sinks: built.exporters.map((exporter) => exporter.sink.name) }, 'export: started');
  return startExportLoop({ timeline, exporters: built.exporters, cursors: built.cursors, logger: options.logger });
}

/** The audit log's time-ordered read, where the audit module provides it. */
function timelineOf(log: AuditLog): AuditTimeline | undefined {
  const candidate = log as AuditLog & Partial<AuditTimeline>;
  return typeof candidate.listByTime === 'function' ? (candidate as AuditLog & AuditTimeline) : undefined;
}
