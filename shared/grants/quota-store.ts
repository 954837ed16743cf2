// Each subject's quota item in the grants table: its reservations (one per live or pending grant) and their
// totals, changed only by single-item conditional writes, so racing requests can never pass a limit together.

import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';

/** One grant's hold on its subject's quota: the sessions it was given, when, and the earliest its window can end. */
export interface QuotaEntry {
  grantId: string;
  sessions: number;
  reservedAt: string;
  /** Its window cannot end before this (the request's time plus its TTL): until then it counts without a look. */
  earliestEnd: string;
}

export interface QuotaState {
  /** Live or pending grants counted. */
  grants: number;
  /** Sessions given beyond one per grant: the total of sessions is `grants + extra`. */
  extra: number;
  entries: QuotaEntry[];
}

/** What an addition must still find, checked by the store in the same write. */
export interface QuotaBounds {
  /** Fewer grants than this are counted. */
  maxGrants: number;
  /** `extra` is at most this. */
  maxExtra: number;
}

export interface QuotaStore {
  read(key: string): Promise<QuotaState>;
  /** Adds the entry unless it is there already or the bounds no longer hold; true when added. */
  add(key: string, entry: QuotaEntry, bounds: QuotaBounds, ttl: number): Promise<boolean>;
  /** Removes a grant's entry and what it counted (idempotent: false when it was already gone). */
  remove(key: string, entry: Pick<QuotaEntry, 'grantId' | 'sessions'>): Promise<boolean>;
}

/** Grant ids are [0-9a-z]{20}: safe in an attribute name. */
const ENTRY_PREFIX = 'r_';

const entryValue = (entry: QuotaEntry) => `${entry.sessions}|${entry.reservedAt}|${entry.earliestEnd}`;

export function createQuotaStore(options: { client: DynamoDBClient; table: string }): QuotaStore {
  const { client, table } = options;
  const what = 'the grants store';

  return {
    async read(key) {
      const output = await storeCall(what, () =>
        client.send(new GetItemCommand({ TableName: table, Key: toItem({ id: key }), ConsistentRead: true })),
      );
      const item = output.Item ? fromItem<Record<string, unknown>>(output.Item) : {};
      const entries: QuotaEntry[] = [];
      for (const [name, value] of Object.entries(item)) {
        if (!name.startsWith(ENTRY_PREFIX) || typeof value !== 'string') continue;
        const [sessions, reservedAt, earliestEnd] = value.split('|');
        entries.push({
          grantId: name.slice(ENTRY_PREFIX.length),
          sessions: Number(sessions),
          reservedAt: reservedAt ?? '',
          earliestEnd: earliestEnd ?? '',
        });
      }
      return { grants: Number(item.grants ?? 0), extra: Number(item.extra ?? 0), entries };
    },

    async add(key, entry, bounds, ttl) {
      try {
        await storeCall(what, () =>
          client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: toItem({ id: key }),
              UpdateExpression: 'SET #entry = :entry, #ttl = :ttl ADD #grants :one, #extra :extra',
              ConditionExpression:
                'attribute_not_exists(#entry) AND (attribute_not_exists(#grants) OR #grants < :maxGrants) AND (attribute_not_exists(#extra) OR #extra <= :maxExtra)',
              ExpressionAttributeNames: {
                '#entry': `${ENTRY_PREFIX}${entry.grantId}`,
                '#ttl': 'ttl',
                '#grants': 'grants',
                '#extra': 'extra',
              },
              ExpressionAttributeValues: toItem({
                ':entry': entryValue(entry),
                ':ttl': ttl,
                ':one': 1,
                ':extra': entry.sessions - 1,
                ':maxGrants': bounds.maxGrants,
                ':maxExtra': bounds.maxExtra,
              }),
            }),
          ),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async remove(key, entry) {
      try {
        await storeCall(what, () =>
          client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: toItem({ id: key }),
              UpdateExpression: 'REMOVE #entry ADD #grants :minusOne, #extra :lessExtra',
              // The entry's own session count is what comes off `extra`.
              ConditionExpression: 'begins_with(#entry, :sessions)',
              ExpressionAttributeNames: {
                '#entry': `${ENTRY_PREFIX}${entry.grantId}`,
                '#grants': 'grants',
                '#extra': 'extra',
              },
              ExpressionAttributeValues: toItem({
                ':sessions': `${entry.sessions}|`,
                ':minusOne': -1,
                ':lessExtra': 1 - entry.sessions,
              }),
            }),
          ),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
  };
}
