// The audit export's public surface: sinks (webhook, file), formats (airlock, OCSF), per-sink delivery with
// cursors in the store, the local loop and the DynamoDB stream handler. Must never export a way to drop an event.

export type { AuditExport, AuditExportOptions } from './assemble.ts';
export { assembleAuditExport } from './assemble.ts';
export type { DeliveredMark, ExportCursors } from './cursors.ts';
export { createExportCursors } from './cursors.ts';
export type {
  AuditChains,
  DeliveryReport,
  GrantContexts,
  RetryPolicy,
  SinkExporter,
  SinkExporterOptions,
} from './exporter.ts';
export { createGrantContexts, createSinkExporter, inOrder } from './exporter.ts';
export type { AuditTimeline, ExportLoop, ExportLoopOptions } from './loop.ts';
export { startExportLoop } from './loop.ts';
export type { GrantContext } from './ocsf.ts';
export { API_ACTIVITY, DATASTORE_ACTIVITY, OCSF_VERSION, toOcsf } from './ocsf.ts';
export { SIGNATURE_HEADER, signBody, verifySignature } from './signature.ts';
export type { ExportFormat, Sink, SinksOptions, WebhookSinkOptions } from './sinks.ts';
export { createFileSink, createWebhookSink, DeliveryError, loadSinks, WebhookSecret } from './sinks.ts';
export type { BatchResponse, StreamBatch, StreamRecord } from './stream.ts';
export { eventsOfBatch, exportStreamBatch } from './stream.ts';
