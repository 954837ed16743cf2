// One DynamoDB client for every store, and the conversions between items and plain objects.
// Every state change elsewhere is a single-item conditional write built on these helpers.

import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { unavailable } from '../errors.ts';

export interface DynamoOptions {
  region: string;
  /** Local stack only: dynalite's endpoint, with static dummy credentials. */
  endpoint?: string;
}

export function createDynamoClient(options: DynamoOptions): DynamoDBClient {
  return new DynamoDBClient({
    region: options.region,
    maxAttempts: 2,
    // Every request reuses a connection: on the query path the store is called twice per statement.
    requestHandler: { httpAgent: new HttpAgent({ keepAlive: true }), httpsAgent: new HttpsAgent({ keepAlive: true }) },
    ...(options.endpoint
      ? { endpoint: options.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
  });
}

export const toItem = (value: object): Record<string, AttributeValue> =>
  marshall(value, { removeUndefinedValues: true, convertClassInstanceToMap: false });

export const fromItem = <T>(item: Record<string, AttributeValue>): T => unmarshall(item) as T;

export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string })?.name === 'ConditionalCheckFailedException'
  );
}

/** Runs a store call; anything but a lost condition becomes `unavailable` (fail closed). */
export async function storeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isConditionFailure(error)) throw error;
    throw unavailable(what, error);
  }
}
