// Grants on DynamoDB: every state change is one conditional UpdateItem on the current status, so two
// racing transitions cannot both win. Item absence never means expiry: callers compare times.

import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import { GrantRecord, type GrantStatus, TRANSITIONS } from './model.ts';
import { createQuotaStore, type QuotaStore } from './quota-store.ts';
import { type GrantSearch, type GrantSearchPage, searchGrants } from './search.ts';

export interface GrantStore {
  create(grant: GrantRecord): Promise<void>;
  get(id: string): Promise<GrantRecord | null>;
  listBySubject(subject: string, limit?: number): Promise<GrantRecord[]>;
  /** Moves `id` from `from` to `to` and applies `patch`; returns null when the grant was not in `from`. */
  transition(
    id: string,
    from: GrantStatus,
    to: GrantStatus,
    patch: Partial<GrantRecord>,
    extraCondition?: { expiresAtBefore?: string; dueAfter?: string },
  ): Promise<GrantRecord | null>;
  /** Grants the sweeper must act on (pending, active, or owing an end event) whose `dueAt` is at or before `before`. */
  listDue(sweep: NonNullable<GrantRecord['sweep']>, before: string, limit?: number): Promise<GrantRecord[]>;
  /** Forgets the end event an ended grant owed, once it is written; false when there was none to forget. */
  endEventWritten(id: string): Promise<boolean>;
  getMany(ids: string[]): Promise<Map<string, GrantRecord>>;
  /** Subjects' quota items, kept in the same table under ids no grant can have (`quota#…`). */
  quotas: QuotaStore;
  /** Every subject's grants, newest first (operators). */
  search(query: GrantSearch): Promise<GrantSearchPage>;
}

export function createGrantStore(options: { client: DynamoDBClient; table: string }): GrantStore {
  const { client, table } = options;

  const get = async (id: string) => {
    const output = await storeCall('the grants store', () =>
      client.send(new GetItemCommand({ TableName: table, Key: toItem({ id }), ConsistentRead: true })),
    );
    return output.Item ? GrantRecord.parse(fromItem(output.Item)) : null;
  };

  return {
    async create(grant) {
      try {
        await storeCall('the grants store', () =>
          client.send(
            new PutItemCommand({
              TableName: table,
              Item: toItem(GrantRecord.parse(grant)),
              ConditionExpression: 'attribute_not_exists(id)',
            }),
          ),
        );
      } catch (error) {
        if (isConditionFailure(error)) throw new AirlockError('conflict', 'a grant with this id already exists');
        throw error;
      }
    },

    get,

    async listBySubject(subject, limit = 100) {
      const output = await storeCall('the grants store', () =>
        client.send(
          new QueryCommand({
            TableName: table,
            IndexName: 'bySubject',
            KeyConditionExpression: 'subject = :s',
            ExpressionAttributeValues: toItem({ ':s': subject }),
            ScanIndexForward: false,
            Limit: limit,
          }),
        ),
      );
      return (output.Items ?? []).map((item) => GrantRecord.parse(fromItem(item)));
    },

    async transition(id, from, to, patch, extraCondition) {
      if (!TRANSITIONS[from].includes(to)) throw new Error(`no transition ${from} → ${to}`);
      const sets: string[] = ['#status = :to'];
      const removes: string[] = [];
      const names: Record<string, string> = { '#status': 'status' };
      const values: Record<string, unknown> = { ':to': to, ':from': from };
      Object.entries(patch).forEach(([key, value], index) => {
        // The audit head only ever moves forward through the audit log's anchor.
        if (key === 'id' || key === 'status' || key === 'auditHead') return;
        names[`#f${index}`] = key;
        if (value === undefined) removes.push(`#f${index}`);
        else {
          sets.push(`#f${index} = :v${index}`);
          values[`:v${index}`] = value;
        }
      });
      let condition = '#status = :from';
      if (extraCondition?.expiresAtBefore) {
        names['#expiresAt'] = 'expiresAt';
        values[':before'] = extraCondition.expiresAtBefore;
        condition += ' AND #expiresAt <= :before';
      }
      if (extraCondition?.dueAfter) {
        names['#dueAt'] = 'dueAt';
        values[':dueAfter'] = extraCondition.dueAfter;
        condition += ' AND #dueAt > :dueAfter';
      }
      try {
        const output = await storeCall('the grants store', () =>
          client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: toItem({ id }),
              UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
              ConditionExpression: `attribute_exists(id) AND ${condition}`,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: toItem(values),
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return GrantRecord.parse(fromItem(output.Attributes ?? {}));
      } catch (error) {
        if (isConditionFailure(error)) return null;
        throw error;
      }
    },

    async listDue(sweep, before, limit = 500) {
      const grants: GrantRecord[] = [];
      let start: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
      do {
        const output = await storeCall('the grants store', () =>
          client.send(
            new QueryCommand({
              TableName: table,
              IndexName: 'byDue',
              KeyConditionExpression: 'sweep = :s AND dueAt <= :b',
              ExpressionAttributeValues: toItem({ ':s': sweep, ':b': before }),
              ExclusiveStartKey: start,
            }),
          ),
        );
        for (const item of output.Items ?? []) grants.push(GrantRecord.parse(fromItem(item)));
        start = output.LastEvaluatedKey;
      } while (start && grants.length < limit);
      return grants;
    },

    quotas: createQuotaStore(options),
    async endEventWritten(id) {
      try {
        await storeCall('the grants store', () =>
          client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: toItem({ id }),
              UpdateExpression: 'REMOVE #sweep, #dueAt, #endEvent',
              ConditionExpression: '#sweep = :audit',
              ExpressionAttributeNames: { '#sweep': 'sweep', '#dueAt': 'dueAt', '#endEvent': 'endEvent' },
              ExpressionAttributeValues: toItem({ ':audit': 'audit' }),
            }),
          ),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async getMany(ids) {
      const found = new Map<string, GrantRecord>();
      // GetItem per id keeps reads strongly consistent; the sweeper calls this for a handful of roles.
      await Promise.all(
        ids.map(async (id) => {
          const grant = await get(id);
          if (grant) found.set(id, grant);
        }),
      );
      return found;
    },

    search: (query) => searchGrants(client, table, query),
  };
}
