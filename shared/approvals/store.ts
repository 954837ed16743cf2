// Approval requests on DynamoDB: one item per request, every change one conditional PutItem on the
// version read, so two racing decisions (or a decision and a consumption) can never both win.

import { createHash } from 'node:crypto';
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import { ApprovalRequest } from './model.ts';

/** Approval emails sent for one requester in the last hour: an item of its own beside the requests. */
const MailQuota = z.object({ id: z.string(), version: z.number().int(), sent: z.array(z.number()), ttl: z.number() });
type MailQuota = z.infer<typeof MailQuota>;

const HOUR_MS = 3_600_000;
const MAX_QUOTA_ATTEMPTS = 8;

export type QuotaAnswer = { taken: true } | { taken: false; retryAfterSeconds: number };

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
  /**
   * Counts `emails` for `requester` in the hour before `at` if that keeps the hour at or under `limit`
   * (a sliding window, race-safe by a conditional write); otherwise counts nothing and says when to retry.
   */
  takeMailQuota(requester: string, emails: number, limit: number, at: Date): Promise<QuotaAnswer>;
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

    async takeMailQuota(requester, emails, limit, at) {
      const id = `mailquota-${createHash('sha256').update(requester).digest('hex').slice(0, 40)}`;
      for (let attempt = 0; attempt < MAX_QUOTA_ATTEMPTS; attempt++) {
        const output = await storeCall(what, () =>
          client.send(new GetItemCommand({ TableName: table, Key: toItem({ id }), ConsistentRead: true })),
        );
        const current: MailQuota | null = output.Item ? MailQuota.parse(fromItem(output.Item)) : null;
        const recent = (current?.sent ?? []).filter((time) => time > at.getTime() - HOUR_MS).sort((a, b) => a - b);
        if (recent.length + emails > limit) {
          const frees = recent[recent.length + emails - limit - 1] ?? recent[0] ?? at.getTime();
          return { taken: false, retryAfterSeconds: Math.max(1, Math.ceil((frees + HOUR_MS - at.getTime()) / 1000)) };
        }
        const next: MailQuota = {
          id,
          version: (current?.version ?? 0) + 1,
          sent: [...recent, ...Array.from({ length: emails }, () => at.getTime())],
          ttl: Math.floor((at.getTime() + 2 * HOUR_MS) / 1000),
        };
        try {
          await storeCall(what, () =>
            client.send(
              new PutItemCommand({
                TableName: table,
                Item: toItem(next),
                ConditionExpression: current ? '#version = :version' : 'attribute_not_exists(id)',
                ...(current
                  ? {
                      ExpressionAttributeNames: { '#version': 'version' },
                      ExpressionAttributeValues: toItem({ ':version': current.version }),
                    }
                  : {}),
              }),
            ),
          );
          return { taken: true };
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
      throw new AirlockError('unavailable', 'the approvals store is too busy to count emails; nothing was sent');
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
