// Locks on DynamoDB: one item per lock in a single partition, placed with attribute_not_exists and lifted
// with a condition that it was not lifted yet. Must never delete a lock, nor read locks eventually consistently.

import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { type AuditHeadAnchor, createDynamoHeadAnchor } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import { Lock } from './lock.ts';

/** The one partition every lock lives in (the table's hash key). */
const PARTITION = 'locks';
const WHAT = 'the locks store';
/** A lock's audit chain id is this prefix and the lock id; locks are not grants, so they get chains of their own. */
export const LOCK_CHAIN_PREFIX = 'lock-';

/** Where a lock chain anchors its head: on the lock's own record, which must exist before its first event. */
export function createLockHeadAnchor(options: { client: DynamoDBClient; table: string }): AuditHeadAnchor {
  return createDynamoHeadAnchor({
    ...options,
    key: (chainId) => ({ partition: PARTITION, id: chainId.slice(LOCK_CHAIN_PREFIX.length) }),
  });
}

export interface LockLift {
  liftedAt: string;
  liftedBy: string;
  liftReason: string;
  ttl: number;
}

export interface LockStore {
  create(lock: Lock): Promise<void>;
  get(id: string): Promise<Lock | null>;
  /** Marks the lock lifted; null when it is missing or was lifted already. */
  lift(id: string, lift: LockLift): Promise<Lock | null>;
  /** Every lock not lifted yet (expired ones included: callers compare times), strongly consistent. */
  listUnlifted(): Promise<Lock[]>;
}

export function createLockStore(options: { client: DynamoDBClient; table: string }): LockStore {
  const { client, table } = options;
  const key = (id: string) => toItem({ partition: PARTITION, id });

  return {
    async create(lock) {
      try {
        await storeCall(WHAT, () =>
          client.send(
            new PutItemCommand({
              TableName: table,
              Item: toItem({ ...Lock.parse(lock), partition: PARTITION }),
              ConditionExpression: 'attribute_not_exists(id)',
            }),
          ),
        );
      } catch (error) {
        if (isConditionFailure(error)) throw new AirlockError('conflict', `a lock with id ${lock.id} already exists`);
        throw error;
      }
    },

    async get(id) {
      const output = await storeCall(WHAT, () =>
        client.send(new GetItemCommand({ TableName: table, Key: key(id), ConsistentRead: true })),
      );
      return output.Item ? Lock.parse(fromItem(output.Item)) : null;
    },

    async lift(id, lift) {
      try {
        const output = await storeCall(WHAT, () =>
          client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: key(id),
              UpdateExpression: 'SET liftedAt = :at, liftedBy = :by, liftReason = :reason, #ttl = :ttl',
              ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(liftedAt)',
              ExpressionAttributeNames: { '#ttl': 'ttl' },
              ExpressionAttributeValues: toItem({
                ':at': lift.liftedAt,
                ':by': lift.liftedBy,
                ':reason': lift.liftReason,
                ':ttl': lift.ttl,
              }),
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return Lock.parse(fromItem(output.Attributes ?? {}));
      } catch (error) {
        if (isConditionFailure(error)) return null;
        throw error;
      }
    },

    async listUnlifted() {
      const locks: Lock[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const output = await storeCall(WHAT, () =>
          client.send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: '#p = :p',
              FilterExpression: 'attribute_not_exists(liftedAt)',
              ExpressionAttributeNames: { '#p': 'partition' },
              ExpressionAttributeValues: toItem({ ':p': PARTITION }),
              ConsistentRead: true,
              ExclusiveStartKey: start,
            }),
          ),
        );
        for (const item of output.Items ?? []) locks.push(Lock.parse(fromItem(item)));
        start = output.LastEvaluatedKey;
      } while (start);
      return locks;
    },
  };
}
