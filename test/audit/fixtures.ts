// Helpers for the audit tests: a log on fresh tables of the real local dynalite, and a command recorder.
// Must never stand in for the store: every log here talks to dynalite over the DynamoDB wire protocol.

import { randomBytes } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type AuditEventType,
  type AuditHeadAnchor,
  type AuditVerification,
  createDynamoAuditLog,
  createDynamoHeadAnchor,
  type StoredEvent,
  type TimeQuery,
} from '../../shared/audit/index.ts';
import { toItem } from '../../shared/store/dynamo.ts';
import type { TableNames } from '../../shared/store/tables.ts';
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
  countStatements(grantId: string): Promise<number>;
  listByTime(query: TimeQuery): Promise<{ events: StoredEvent[]; next?: string }>;
  verify(grantId: string): Promise<Omit<AuditVerification, 'events'> & { events: StoredEvent[] }>;
}

/** The real log on dynalite, driven without the API's detail types (the production writers are typed). */
export function auditLog(table: string, client: DynamoDBClient = dynamo(), now?: () => Date): RawAuditLog {
  return createDynamoAuditLog({ client, table, ...(now ? { now } : {}) }) as unknown as RawAuditLog;
}

/** An audit key of the size `npm run keys` makes. */
export const newAuditKey = () => randomBytes(32).toString('base64url');

export interface KeyedAudit {
  tables: TableNames;
  key: string;
  anchor: AuditHeadAnchor;
  /** A log as the composition root builds it: keyed, heads anchored on the grants table. */
  log(options?: { client?: DynamoDBClient; now?: () => Date; anchor?: AuditHeadAnchor; key?: string }): RawAuditLog;
  /** The record a chain anchors its head on (a grant record, reduced to its key). */
  record(chainId: string): Promise<void>;
}

export async function keyedAudit(): Promise<KeyedAudit> {
  const tables = await freshTables();
  const key = newAuditKey();
  const anchor = createDynamoHeadAnchor({ client: dynamo(), table: tables.grants });
  return {
    tables,
    key,
    anchor,
    log: (options = {}) =>
      (createDynamoAuditLog as (o: Parameters<typeof createDynamoAuditLog>[0]) => unknown)({
        client: options.client ?? dynamo(),
        table: tables.audit,
        chain: { key: options.key ?? key, anchor: options.anchor ?? anchor },
        ...(options.now ? { now: options.now } : {}),
      }) as RawAuditLog,
    record: async (chainId) => {
      await dynamo().send(new PutItemCommand({ TableName: tables.grants, Item: toItem({ id: chainId }) }));
    },
  };
}
