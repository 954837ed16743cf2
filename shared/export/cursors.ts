// Where each sink's export stands, in the `exports` table: per grant, the last seq the sink acknowledged;
// per sink, the time the local loop has read up to. Writes only ever move a mark forward.

import { BatchGetItemCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';

export interface DeliveredMark {
  grantId: string;
  seq: number;
  at: string;
}

export interface ExportCursors {
  /** The last seq each grant's sink acknowledged; grants the sink never saw are absent. */
  delivered(sink: string, grantIds: string[]): Promise<Map<string, number>>;
  /** Records acknowledged marks; a mark behind the stored one changes nothing. */
  acknowledge(sink: string, marks: DeliveredMark[]): Promise<void>;
  /** The local loop's read position of a sink (an event time), if it has one. */
  position(sink: string): Promise<string | undefined>;
  setPosition(sink: string, at: string): Promise<void>;
}

/** Per-grant marks outlive the grant's last event by this long (DynamoDB TTL); a later event just delivers. */
const MARK_RETENTION_SECONDS = 90 * 86400;
const POSITION = 'position';
const grantPart = (grantId: string) => `grant#${grantId}`;
const BATCH_GET = 100;

export function createExportCursors(options: { client: DynamoDBClient; table: string }): ExportCursors {
  const { client, table } = options;

  async function putForward(item: Record<string, unknown>, field: 'seq' | 'since'): Promise<void> {
    try {
      await storeCall('the export cursors', () =>
        client.send(
          new PutItemCommand({
            TableName: table,
            Item: toItem(item),
            ConditionExpression: 'attribute_not_exists(#field) OR #field < :value',
            ExpressionAttributeNames: { '#field': field },
            ExpressionAttributeValues: toItem({ ':value': item[field] }),
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // someone already moved it further
    }
  }

  return {
    async delivered(sink, grantIds) {
      const found = new Map<string, number>();
      const unique = [...new Set(grantIds)];
      for (let at = 0; at < unique.length; at += BATCH_GET) {
        let keys = unique.slice(at, at + BATCH_GET).map((grantId) => toItem({ sink, part: grantPart(grantId) }));
        while (keys.length > 0) {
          const output = await storeCall('the export cursors', () =>
            client.send(new BatchGetItemCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } })),
          );
          for (const item of output.Responses?.[table] ?? []) {
            const mark = fromItem<{ part: string; seq: number }>(item);
            found.set(mark.part.slice('grant#'.length), mark.seq);
          }
          keys = output.UnprocessedKeys?.[table]?.Keys ?? [];
        }
      }
      return found;
    },

    async acknowledge(sink, marks) {
      const latest = new Map<string, DeliveredMark>();
      for (const mark of marks) {
        if ((latest.get(mark.grantId)?.seq ?? 0) < mark.seq) latest.set(mark.grantId, mark);
      }
      await Promise.all(
        [...latest.values()].map((mark) =>
          putForward(
            {
              sink,
              part: grantPart(mark.grantId),
              seq: mark.seq,
              at: mark.at,
              ttl: Math.floor(Date.parse(mark.at) / 1000) + MARK_RETENTION_SECONDS,
            },
            'seq',
          ),
        ),
      );
    },

    async position(sink) {
      const output = await storeCall('the export cursors', () =>
        client.send(
          new BatchGetItemCommand({
            RequestItems: { [table]: { Keys: [toItem({ sink, part: POSITION })], ConsistentRead: true } },
          }),
        ),
      );
      const item = output.Responses?.[table]?.[0];
      return item ? fromItem<{ since: string }>(item).since : undefined;
    },

    async setPosition(sink, at) {
      await putForward({ sink, part: POSITION, since: at }, 'since');
    },
  };
}
