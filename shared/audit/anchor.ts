// Where a chain's head (last seq and hash) is anchored: an `auditHead` attribute on the chain's own record
// (a grant's record), out of reach of whoever can write the audit table. Must never write any other attribute.

import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import { AuditHead } from './event.ts';

/** The attribute holding the head; IAM lets the query function update exactly this one (stacks/permissions.ts). */
export const HEAD_ATTRIBUTE = 'auditHead';
/** A lost condition is re-read and, if the head is still behind, tried again this many times in all. */
const MAX_ADVANCE_ATTEMPTS = 3;

export interface AuditHeadAnchor {
  /** Moves the head forward to `head`; a head already at or past it stays (another writer got further). */
  advance(chainId: string, head: AuditHead): Promise<void>;
  /** The anchored head, or null when the record has none (or is gone). */
  read(chainId: string): Promise<AuditHead | null>;
}

/**
 * The head on the chain's record in `table` (by default the grants table, key `id` = chain id): one conditional
 * UpdateItem per append that only ever raises `seq`, on a record that must already exist.
 */
export function createDynamoHeadAnchor(options: {
  client: DynamoDBClient;
  table: string;
  /** The record's key for a chain id; by default `{id: chainId}`. */
  key?: (chainId: string) => Record<string, string>;
}): AuditHeadAnchor {
  const { client, table } = options;
  const keyOf = options.key ?? ((chainId: string) => ({ id: chainId }));
  const what = 'the audit head';

  async function readRecord(chainId: string): Promise<{ exists: boolean; head: AuditHead | null }> {
    const output = await storeCall(what, () =>
      client.send(
        new GetItemCommand({
          TableName: table,
          Key: toItem(keyOf(chainId)),
          ConsistentRead: true,
          ProjectionExpression: '#id, #head',
          ExpressionAttributeNames: { '#id': 'id', '#head': HEAD_ATTRIBUTE },
        }),
      ),
    );
    if (!output.Item) return { exists: false, head: null };
    const stored = fromItem<{ auditHead?: unknown }>(output.Item).auditHead;
    if (stored === undefined) return { exists: true, head: null };
    const head = AuditHead.safeParse(stored);
    if (!head.success) throw new AirlockError('internal', `the audit head of ${chainId} is malformed`);
    return { exists: true, head: head.data };
  }

  return {
    async advance(chainId, head) {
      for (let attempt = 1; attempt <= MAX_ADVANCE_ATTEMPTS; attempt++) {
        try {
          await storeCall(what, () =>
            client.send(
              new UpdateItemCommand({
                TableName: table,
                Key: toItem(keyOf(chainId)),
                UpdateExpression: 'SET #head = :head',
                ConditionExpression: 'attribute_exists(#id) AND (attribute_not_exists(#head) OR #head.#seq < :seq)',
                ExpressionAttributeNames: { '#id': 'id', '#head': HEAD_ATTRIBUTE, '#seq': 'seq' },
                ExpressionAttributeValues: toItem({ ':head': { seq: head.seq, hash: head.hash }, ':seq': head.seq }),
                ReturnValues: 'NONE',
              }),
            ),
          );
          return;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
        // Lost to a writer that anchored a later event: that head covers this one. No record: nothing may anchor.
        const current = await readRecord(chainId);
        if (!current.exists)
          throw new AirlockError('internal', `audit chain ${chainId} has no record to anchor its head on`);
        if (current.head && current.head.seq >= head.seq) return;
      }
      throw new AirlockError('unavailable', `the audit head of ${chainId} could not be anchored; nothing was run`);
    },

    async read(chainId) {
      return (await readRecord(chainId)).head;
    },
  };
}

/** Chains whose id starts with a prefix anchor where that prefix says (lock chains on lock records); others on `rest`. */
export function routeAnchors(byPrefix: Record<string, AuditHeadAnchor>, rest: AuditHeadAnchor): AuditHeadAnchor {
  const pick = (chainId: string) =>
    Object.entries(byPrefix).find(([prefix]) => chainId.startsWith(prefix))?.[1] ?? rest;
  return {
    advance: (chainId, head) => pick(chainId).advance(chainId, head),
    read: (chainId) => pick(chainId).read(chainId),
  };
}
