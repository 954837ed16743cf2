// Console sessions on the server: one item per signed-in browser, read with one consistent GetItem on every
// console request and deleted at sign-out. Must never let a session live on once its item is gone or past its end.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';

const WHAT = 'the console sessions store';
/** DynamoDB deletes expired items late (up to days): the item outlives the session by a day before TTL may take it. */
const TTL_SLACK_SECONDS = 86_400;

export const ConsoleSessionRecord = z.object({
  id: z.string().min(32),
  subject: z.string(),
  issuer: z.string(),
  createdAt: z.string(),
  /** The session's hard end (the ID token's expiry, at most SESSION_MAX_SECONDS after sign-in). */
  expiresAt: z.string(),
  /** Epoch seconds after which DynamoDB may delete the item; never read to decide anything. */
  ttl: z.number().int(),
});
export type ConsoleSessionRecord = z.infer<typeof ConsoleSessionRecord>;

export interface ConsoleSessionStore {
  start(session: Omit<ConsoleSessionRecord, 'ttl'>): Promise<void>;
  /** The session as stored, strongly consistent; null once ended (deleted) or never started. */
  get(id: string): Promise<ConsoleSessionRecord | null>;
  /** Ends the session for every copy of its cookie; ending an ended session is not an error. */
  end(id: string): Promise<void>;
}

export function createConsoleSessionStore(options: { client: DynamoDBClient; table: string }): ConsoleSessionStore {
  const { client, table } = options;
  return {
    async start(session) {
      const ttl = Math.floor(Date.parse(session.expiresAt) / 1000) + TTL_SLACK_SECONDS;
      try {
        await storeCall(WHAT, () =>
          client.send(
            new PutItemCommand({
              TableName: table,
              Item: toItem(ConsoleSessionRecord.parse({ ...session, ttl })),
              ConditionExpression: 'attribute_not_exists(id)',
            }),
          ),
        );
      } catch (error) {
        if (isConditionFailure(error)) throw new AirlockError('conflict', 'a console session with this id exists');
        throw error;
      }
    },

    async get(id) {
      const output = await storeCall(WHAT, () =>
        client.send(new GetItemCommand({ TableName: table, Key: toItem({ id }), ConsistentRead: true })),
      );
      if (!output.Item) return null;
      const parsed = ConsoleSessionRecord.safeParse(fromItem(output.Item));
      return parsed.success ? parsed.data : null;
    },

    async end(id) {
      await storeCall(WHAT, () => client.send(new DeleteItemCommand({ TableName: table, Key: toItem({ id }) })));
    },
  };
}
