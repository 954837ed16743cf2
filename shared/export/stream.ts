// The audit export on AWS: a batch of the audit table's DynamoDB stream, handed to every sink's exporter.
// A batch that any sink did not take is reported failed from its first record, so Lambda sends it again
// (the sinks that took it skip it by their marks); a record that is not an audit event is logged, never sent.

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AuditEvent, StoredAuditEvent } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { Logger } from '../observe/index.ts';
import type { SinkExporter } from './exporter.ts';

/** The parts of a DynamoDB stream record the export reads (aws-lambda's DynamoDBRecord). */
export interface StreamRecord {
  eventID?: string;
  eventName?: 'INSERT' | 'MODIFY' | 'REMOVE' | string;
  dynamodb?: {
    NewImage?: Record<string, unknown>;
    SequenceNumber?: string;
    ApproximateCreationDateTime?: number;
  };
}

export interface StreamBatch {
  Records: StreamRecord[];
}

/** Lambda's partial batch response (ReportBatchItemFailures): where the retry starts. */
export interface BatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** The audit events of a batch, in stream order; anything but a well-formed insert is left out and logged. */
export function eventsOfBatch(batch: StreamBatch, logger: Logger): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const record of batch.Records ?? []) {
    // The audit log only ever inserts: an update or delete of an audit item is tampering, not an event.
    if (record.eventName !== 'INSERT') {
      logger.error(
        { eventName: record.eventName, sequenceNumber: record.dynamodb?.SequenceNumber },
        'export: the audit table changed other than by an insert; not exported',
      );
      continue;
    }
    const image = record.dynamodb?.NewImage;
    const parsed = image ? StoredAuditEvent.safeParse(unmarshall(image as Record<string, AttributeValue>)) : undefined;
    if (!parsed?.success) {
      logger.error(
        { sequenceNumber: record.dynamodb?.SequenceNumber },
        'export: a stream record is not an audit event; not exported',
      );
      continue;
    }
    events.push(parsed.data as unknown as AuditEvent);
  }
  return events;
}

/** Delivers one stream batch to every sink; reports the batch failed when any sink did not take all of it. */
export async function exportStreamBatch(
  batch: StreamBatch,
  options: { exporters: SinkExporter[]; logger: Logger },
): Promise<BatchResponse> {
  const events = eventsOfBatch(batch, options.logger);
  const reports = await Promise.all(
    options.exporters.map((exporter) => exporter.deliver(events, { logger: options.logger })),
  );
  if (reports.every((report) => report.ok)) return { batchItemFailures: [] };
  const first = batch.Records.find((record) => record.dynamodb?.SequenceNumber)?.dynamodb?.SequenceNumber;
  // Without a sequence number to start from, the whole batch fails (and is sent again).
  if (!first) throw new AirlockError('unavailable', 'a sink did not take the audit batch; it is sent again');
  return { batchItemFailures: [{ itemIdentifier: first }] };
}
