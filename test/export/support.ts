// What the export tests share: a webhook receiver on loopback that can be told to fail, and a small in-memory
// time-ordered read of a real audit table (the AuditTimeline the audit module's listByTime will provide).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type AuditEvent, StoredAuditEvent } from '../../shared/audit/index.ts';
import type { AuditTimeline } from '../../shared/export/index.ts';
import { verifySignature } from '../../shared/export/index.ts';

export interface Delivery {
  body: string;
  signature: string | null;
  headers: Record<string, string | string[] | undefined>;
  records: Array<Record<string, unknown>>;
  status: number;
}

export interface Receiver {
  url: string;
  /** Every POST, answered or refused, in arrival order. */
  deliveries: Delivery[];
  /** The records of the deliveries answered 2xx, in order. */
  accepted(): Array<Record<string, unknown>>;
  /** Answers every POST with this status from now on (200 by default). */
  answer(status: number): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let status = 200;
  const deliveries: Delivery[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = request.headers['x-airlock-signature'];
      deliveries.push({
        body,
        signature: typeof signature === 'string' ? signature : null,
        headers: request.headers,
        records: JSON.parse(body) as Array<Record<string, unknown>>,
        status,
      });
      response.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ingest?channel=audit`,
    deliveries,
    accepted: () => deliveries.filter((d) => d.status >= 200 && d.status < 300).flatMap((d) => d.records),
    answer: (next) => (status = next),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Whether every delivery carries the signature of its exact body under `key`. */
export function allSigned(receiver: Receiver, key: string): boolean {
  return receiver.deliveries.every((delivery) => verifySignature(key, delivery.body, delivery.signature));
}

/** Every audit event in the table, as stored. */
export async function allEvents(client: DynamoDBClient, table: string): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) events.push(StoredAuditEvent.parse(unmarshall(item)) as AuditEvent);
    start = page.LastEvaluatedKey;
  } while (start);
  return events.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
}

/**
 * listByTime over a real audit table, in memory (a scan per call): events with since ≤ at ≤ until, ordered by
 * (at, id), `limit` per page, `next` an opaque cursor. Stands in for the audit module's time-ordered read.
 */
export function scanTimeline(client: DynamoDBClient, table: string): AuditTimeline & { calls: number } {
  const timeline = {
    calls: 0,
    async listByTime(query: { since?: string; until?: string; after?: string; limit: number }) {
      timeline.calls++;
      const after = query.after
        ? (JSON.parse(Buffer.from(query.after, 'base64url').toString()) as [string, string])
        : undefined;
      const events = (await allEvents(client, table)).filter(
        (event) =>
          (query.since === undefined || event.at >= query.since) &&
          (query.until === undefined || event.at <= query.until) &&
          (after === undefined || event.at > after[0] || (event.at === after[0] && event.id > after[1])),
      );
      const page = events.slice(0, query.limit);
      const last = page.at(-1);
      return {
        events: page,
        ...(events.length > query.limit && last
          ? { next: Buffer.from(JSON.stringify([last.at, last.id])).toString('base64url') }
          : {}),
      };
    },
  };
  return timeline;
}
