// Builds the audit export of a deployment from its policy: the sinks with their secrets, the cursors and
// one exporter per sink. The Lambda stream handler and the local loop both start from here.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoAuditLog } from '../audit/index.ts';
import type { Logger, Metrics } from '../observe/index.ts';
import type { Policy } from '../policy/index.ts';
import type { SecretSource } from '../secrets/index.ts';
import type { TableNames } from '../store/index.ts';
import { createExportCursors, type ExportCursors } from './cursors.ts';
import {
  type AuditChains,
  createGrantContexts,
  createSinkExporter,
  type RetryPolicy,
  type SinkExporter,
} from './exporter.ts';
import { loadSinks } from './sinks.ts';

export interface AuditExportOptions {
  policy: Policy;
  secrets: SecretSource;
  dynamo: DynamoDBClient;
  tables: Pick<TableNames, 'audit' | 'exports'>;
  logger: Logger;
  metrics: Metrics;
  /** File sinks: the local stack only. */
  files: boolean;
  /** Relative file sink paths are resolved from here. */
  cwd?: string;
  retry?: Partial<RetryPolicy>;
}

export interface AuditExport {
  exporters: SinkExporter[];
  cursors: ExportCursors;
  /** The audit log, read only: gaps and OCSF context come from it (and, locally, the time-ordered read). */
  audit: AuditChains;
}

export async function assembleAuditExport(options: AuditExportOptions): Promise<AuditExport> {
  const sinks = await loadSinks({
    policy: options.policy,
    secrets: options.secrets,
    files: options.files,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  // Only read: the export never appends to the audit log.
  const audit = createDynamoAuditLog({ client: options.dynamo, table: options.tables.audit });
  const cursors = createExportCursors({ client: options.dynamo, table: options.tables.exports });
  const grantContexts = createGrantContexts(audit);
  const exporters = sinks.map((sink) =>
    createSinkExporter({
      sink,
      cursors,
      audit,
      logger: options.logger,
      metrics: options.metrics,
      grantContexts,
      ...(options.retry ? { retry: options.retry } : {}),
    }),
  );
  return { exporters, cursors, audit };
}
