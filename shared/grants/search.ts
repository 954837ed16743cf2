// Operators' reads of the grants table: every subject's grants, newest first, filtered and paged.
// Must never read the table with a Scan: every page is a Query on one of the time-ordered indexes.

import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { fromItem, storeCall, toItem } from '../store/index.ts';
import { GRANT_STATUSES, GrantRecord, type GrantStatus } from './model.ts';

/** Where a page ends: the last grant it returned (times tie, ids never do). */
export interface GrantPosition {
  requestedAt: string;
  id: string;
}

export interface GrantSearch {
  status?: GrantStatus;
  subject?: string;
  connection?: string;
  /** Only grants requested at or after this instant (ISO). */
  since?: string;
  /** Continue after this grant of a previous page. */
  after?: GrantPosition;
  limit: number;
}

export interface GrantSearchPage {
  grants: GrantRecord[];
  /** Set when more grants match after the last one returned. */
  next?: GrantPosition;
}

interface Partition {
  index: string;
  key: string;
  value: string;
}

/** Newest first; among equal times, the greater id first. */
const newestFirst = (a: GrantRecord, b: GrantRecord) =>
  a.requestedAt === b.requestedAt ? (a.id < b.id ? 1 : -1) : a.requestedAt < b.requestedAt ? 1 : -1;

const isBefore = (grant: GrantRecord, position: GrantPosition) =>
  grant.requestedAt < position.requestedAt || (grant.requestedAt === position.requestedAt && grant.id < position.id);

/**
 * The partitions to read: live statuses are small, so they win over a subject's whole history; without
 * any key filter the five status partitions together hold every grant once.
 */
function partitionsFor(search: GrantSearch): Partition[] {
  const byStatus = (status: GrantStatus) => ({ index: 'byStatus', key: 'status', value: status });
  if (search.status === 'pending' || search.status === 'active') return [byStatus(search.status)];
  if (search.subject !== undefined) return [{ index: 'bySubject', key: 'subject', value: search.subject }];
  if (search.connection !== undefined) return [{ index: 'byConnection', key: 'connection', value: search.connection }];
  if (search.status !== undefined) return [byStatus(search.status)];
  return GRANT_STATUSES.map(byStatus);
}

export async function searchGrants(
  client: DynamoDBClient,
  table: string,
  search: GrantSearch,
): Promise<GrantSearchPage> {
  const keep = (grant: GrantRecord) =>
    (search.status === undefined || grant.status === search.status) &&
    (search.subject === undefined || grant.subject === search.subject) &&
    (search.connection === undefined || grant.connection === search.connection) &&
    (search.since === undefined || grant.requestedAt >= search.since) &&
    (search.after === undefined || isBefore(grant, search.after));
  const found = (
    await Promise.all(partitionsFor(search).map((partition) => readPartition(client, table, partition, search, keep)))
  )
    .flat()
    .sort(newestFirst);
  const grants = found.slice(0, search.limit);
  const last = grants.at(-1);
  return found.length > search.limit && last
    ? { grants, next: { requestedAt: last.requestedAt, id: last.id } }
    : { grants };
}

/** The partition's first `limit + 1` matches in newest-first order, ties at the boundary included. */
async function readPartition(
  client: DynamoDBClient,
  table: string,
  partition: Partition,
  search: GrantSearch,
  keep: (grant: GrantRecord) => boolean,
): Promise<GrantRecord[]> {
  const conditions = ['#k = :k'];
  const values: Record<string, unknown> = { ':k': partition.value };
  const upper = search.after?.requestedAt;
  if (search.since !== undefined && upper !== undefined && upper < search.since) return [];
  if (search.since !== undefined && upper !== undefined) {
    conditions.push('requestedAt BETWEEN :since AND :upper');
    Object.assign(values, { ':since': search.since, ':upper': upper });
  } else if (search.since !== undefined) {
    conditions.push('requestedAt >= :since');
    values[':since'] = search.since;
  } else if (upper !== undefined) {
    conditions.push('requestedAt <= :upper');
    values[':upper'] = upper;
  }
  const found: GrantRecord[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const output = await storeCall('the grants store', () =>
      client.send(
        new QueryCommand({
          TableName: table,
          IndexName: partition.index,
          KeyConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: { '#k': partition.key },
          ExpressionAttributeValues: toItem(values),
          ScanIndexForward: false,
          Limit: Math.min(Math.max(search.limit + 1, 50), 500),
          ExclusiveStartKey: start,
        }),
      ),
    );
    const page = (output.Items ?? []).map((item) => GrantRecord.parse(fromItem(item)));
    found.push(...page.filter(keep));
    start = output.LastEvaluatedKey;
    if (found.length > search.limit) {
      found.sort(newestFirst);
      // Pages come newest first: once the last item read is older than the boundary, nothing later can move it.
      const lastRead = page.at(-1)?.requestedAt;
      if (lastRead !== undefined && lastRead < found[search.limit]!.requestedAt) break;
    }
  } while (start);
  return found;
}
