// Helpers for the audit tests: a log on fresh tables of the real local dynalite, and a command recorder.
// Must never stand in for the store: every log here talks to dynalite over the DynamoDB wire protocol.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type AuditEventType, createDynamoAuditLog, type StoredEvent } from '../../shared/audit/index.ts';
import { dynamo, freshTables } from '../support/infra.ts';

export interface SentCommand {
  name: string;
  input: Record<string, unknown>;
}

/** Records every command the client sends (name and input), after the SDK has accepted it. */
export function recordCommands(client: DynamoDBClient): SentCommand[] {
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'recordAuditCommands' },
  );
  return sent;
}

export async function freshAuditTable(): Promise<string> {
  return (await freshTables()).audit;
}

/** An append as the storage tests make it: any details, to check what is stored and hashed, not the API's shapes. */
export interface RawAppend {
  grantId: string;
  type: AuditEventType;
  subject: string;
  details?: Record<string, unknown>;
}

export interface RawAuditLog {
  append(event: RawAppend): Promise<StoredEvent>;
  list(grantId: string): Promise<StoredEvent[]>;
}

/** The real log on dynalite, driven without the API's detail types (the production writers are typed). */
export function auditLog(table: string, client: DynamoDBClient = dynamo(), now?: () => Date): RawAuditLog {
  return createDynamoAuditLog({ client, table, ...(now ? { now } : {}) }) as unknown as RawAuditLog;
}
