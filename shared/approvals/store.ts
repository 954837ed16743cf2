// Approval requests on DynamoDB: one item per request, every change one conditional PutItem on the
// version read, so two racing decisions (or a decision and a consumption) can never both win.

import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import { ApprovalRequest } from './model.ts';

/** Extra conditions a decision adds to the version check. */
export interface DecisionGuard {
  /** A decision by link: its jti must not have decided yet (absent for a signed-in approver). */
  unusedLink?: string;
  /** The deadline (ISO) must be after this instant. */
  before: string;
}

export interface ApprovalStore {
  get(id: string): Promise<ApprovalRequest | null>;
  /** Writes `next` (version bumped) if the item is still exactly `previous`, or absent when `previous` is null; null when lost. */
  swap(previous: ApprovalRequest | null, next: ApprovalRequest, guard?: DecisionGuard): Promise<ApprovalRequest | null>;
  /** Pending requests nobody has emailed yet, oldest first. */
  listUnnotified(limit?: number): Promise<ApprovalRequest[]>;
  /** Pending requests whose deadline is after `now` (ISO), soonest deadline first. */
  listAwaiting(now: string, limit?: number): Promise<ApprovalRequest[]>;
}

export function createApprovalStore(options: { client: DynamoDBClient; table: string }): ApprovalStore {
  const { client, table } = options;
  const what = 'the approvals store';

  return {
    async get(id) {
      const output = await storeCall(what, () =>
        client.send(new GetItemCommand({ TableName: table, Key: toItem({ id }), ConsistentRead: true })),
      );
      return output.Item ? ApprovalRequest.parse(fromItem(output.Item)) : null;
    },

    async swap(previous, next, guard) {
      const written = ApprovalRequest.parse({ ...next, version: previous ? previous.version + 1 : 0 });
      let condition = 'attribute_not_exists(id)';
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = {};
      if (previous) {
        condition = '#version = :version AND #status = :status';
        Object.assign(names, { '#version': 'version', '#status': 'status' });
        Object.assign(values, { ':version': previous.version, ':status': previous.status });
        if (guard) {
          condition += ' AND #deadline > :now';
          Object.assign(names, { '#deadline': 'deadline' });
          values[':now'] = guard.before;
        }
        if (guard?.unusedLink !== undefined) {
          condition += ' AND NOT contains(#usedLinks, :jti)';
          names['#usedLinks'] = 'usedLinks';
          values[':jti'] = guard.unusedLink;
        }
      }
      try {
        await storeCall(what, () =>
          client.send(
            new PutItemCommand({
              TableName: table,
              // Sparse index keys: `unnotified` while the request waits for its emails, `awaiting` while it waits for a decision.
              Item: toItem({
                ...written,
                ...(written.status === 'pending' && written.notifiedAt === null ? { unnotified: 'pending' } : {}),
                ...(written.status === 'pending' ? { awaiting: 'pending' } : {}),
              }),
              ConditionExpression: condition,
              ...(previous ? { ExpressionAttributeNames: names, ExpressionAttributeValues: toItem(values) } : {}),
            }),
          ),
        );
        return written;
      } catch (error) {
        if (isConditionFailure(error)) return null;
        throw error;
      }
    },

    async listUnnotified(limit = 100) {
      const output = await storeCall(what, () =>
        client.send(
          new QueryCommand({
            TableName: table,
            IndexName: 'byUnnotified',
            KeyConditionExpression: 'unnotified = :p',
            ExpressionAttributeValues: toItem({ ':p': 'pending' }),
            Limit: limit,
          }),
        ),
      );
      return (output.Items ?? []).map((item) => ApprovalRequest.parse(fromItem(item)));
    },

    async listAwaiting(now, limit = 500) {
      const requests: ApprovalRequest[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const output = await storeCall(what, () =>
          client.send(
            new QueryCommand({
              TableName: table,
              IndexName: 'byAwaiting',
              KeyConditionExpression: '#awaiting = :p AND #deadline > :now',
              ExpressionAttributeNames: { '#awaiting': 'awaiting', '#deadline': 'deadline' },
              ExpressionAttributeValues: toItem({ ':p': 'pending', ':now': now }),
              ExclusiveStartKey: start,
            }),
          ),
        );
        for (const item of output.Items ?? []) requests.push(ApprovalRequest.parse(fromItem(item)));
        start = output.LastEvaluatedKey;
      } while (start && requests.length < limit);
      return requests.slice(0, limit);
    },
  };
}
