// An SDK DynamoDB client whose single-item calls (GetItem, PutItem, UpdateItem) take the hot path; every
// other command goes through the SDK as before. It must never change a call's input, output or errors' names.

import { type DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoHotPath } from './hot-path.ts';

/**
 * The stores keep calling `client.send(new GetItemCommand(…))`; what they get back has the SDK's output
 * shape, and a lost condition still fails as `ConditionalCheckFailedException`.
 */
export function withHotPath(client: DynamoDBClient, hot: DynamoHotPath): DynamoDBClient {
  const sdkSend = client.send.bind(client) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
  const routed = Object.create(client) as DynamoDBClient;
  const send = (command: unknown, ...rest: unknown[]): Promise<unknown> => {
    // A call with options (abort signal) or a callback keeps the SDK's semantics for them.
    if (rest.length > 0) return sdkSend(command, ...rest);
    if (command instanceof GetItemCommand) return hot.getItem(command.input);
    if (command instanceof PutItemCommand) return hot.putItem(command.input);
    if (command instanceof UpdateItemCommand) return hot.updateItem(command.input);
    return sdkSend(command, ...rest);
  };
  routed.send = send as DynamoDBClient['send'];
  routed.destroy = () => {
    hot.close();
    client.destroy();
  };
  return routed;
}
