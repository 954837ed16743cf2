// Every grant's events in time order: the audit table's `byTime` index (hash key the event's UTC month,
// range key `at#grantId#seq`), read month by month behind an opaque cursor. Must never write anything.

import {
  type AttributeValue,
  type DynamoDBClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { AirlockError } from '../errors.ts';
import { storeCall, toItem } from '../store/index.ts';
import type { AuditEvent, TimePage, TimeQuery } from './event.ts';

export const TIME_INDEX = 'byTime';
/** The first month any event carries time-index keys: a read without `since` starts here. */
export const TIME_INDEX_EPOCH = '2026-11';
export const MAX_TIME_PAGE = 1000;

const SEQ_DIGITS = 10;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const KEY = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)#([A-Za-z0-9._:-]{1,128})#(\d{10})$/;

/** The index attributes of an event: derived from `at`, `grantId` and `seq`, so they are not hashed. */
export function timeIndexKeys(event: Pick<AuditEvent, 'at' | 'grantId' | 'seq'>): { tmonth: string; tkey: string } {
  return {
    tmonth: event.at.slice(0, 7),
    tkey: `${event.at}#${event.grantId}#${String(event.seq).padStart(SEQ_DIGITS, '0')}`,
  };
}

interface Cursor {
  month: string;
  key: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify({ m: cursor.month, k: cursor.key }), 'utf8').toString('base64url');
}

function decodeCursor(text: string): Cursor {
  const invalid = () => new AirlockError('invalid_request', 'the cursor (after) is not one this log gave out');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { m, k } = (value ?? {}) as { m?: unknown; k?: unknown };
  if (typeof m !== 'string' || typeof k !== 'string' || !MONTH.test(m) || !KEY.test(k) || !k.startsWith(m))
    throw invalid();
  return { month: m, key: k };
}

function instant(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) throw new AirlockError('invalid_request', `${name} must be an ISO 8601 time`);
  return new Date(time).toISOString();
}

function nextMonth(month: string): string {
  const year = Number(month.slice(0, 4));
  const number = Number(month.slice(5, 7));
  return number === 12 ? `${year + 1}-01` : `${year}-${String(number + 1).padStart(2, '0')}`;
}

/** The table key of the item an index key names: an index's ExclusiveStartKey needs both. */
function startKey(month: string, key: string): Record<string, AttributeValue> {
  const [, , grantId, seq] = KEY.exec(key) as RegExpExecArray;
  return toItem({ tmonth: month, tkey: key, grantId, seq: Number(seq) });
}

export function createTimeIndex(options: {
  client: DynamoDBClient;
  table: string;
  now: () => Date;
  parse: (item: Record<string, AttributeValue>) => AuditEvent;
}) {
  const { client, table } = options;

  async function listByTime(query: TimeQuery): Promise<TimePage> {
    const { limit } = query;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TIME_PAGE)
      throw new AirlockError('invalid_request', `limit must be a whole number from 1 to ${MAX_TIME_PAGE}`);
    const since = instant(query.since, 'since');
    const until = instant(query.until, 'until');
    const cursor = query.after === undefined ? undefined : decodeCursor(query.after);
    if (since && until && since >= until) return { events: [] };
    // Without `until`, read a day past the clock: an event stamped by a writer whose clock runs ahead is still found.
    // No event is stamped past a day ahead of the clock: a far `until` reads no month beyond that (one Query each).
    const horizon = new Date(options.now().getTime() + 86_400_000).toISOString();
    const last = (until !== undefined && until < horizon ? until : horizon).slice(0, 7);
    let month = cursor?.month ?? since?.slice(0, 7) ?? TIME_INDEX_EPOCH;
    if (since && since.slice(0, 7) > month) month = since.slice(0, 7);
    // No event is older than the index: a `since` from long ago (an export starting from scratch) starts there.
    if (month < TIME_INDEX_EPOCH) month = TIME_INDEX_EPOCH;

    // At or after `since`, before `until`: a key is `at#…`, so key < until exactly when at < until.
    const names: Record<string, string> = { '#month': 'tmonth', ...(since || until ? { '#key': 'tkey' } : {}) };
    const bounds: Record<string, string> = {};
    let range = '';
    if (since && until) {
      range = ' AND #key BETWEEN :since AND :until';
      Object.assign(bounds, { ':since': since, ':until': until });
    } else if (since) {
      range = ' AND #key >= :since';
      bounds[':since'] = since;
    } else if (until) {
      range = ' AND #key < :until';
      bounds[':until'] = until;
    }

    const events: AuditEvent[] = [];
    for (; month <= last && events.length < limit; month = nextMonth(month)) {
      const resume = cursor?.month === month ? cursor.key : undefined;
      if (resume && until && resume >= until) continue;
      let exclusiveStart = resume && (!since || resume >= since) ? startKey(month, resume) : undefined;
      do {
        const input: QueryCommandInput = {
          TableName: table,
          IndexName: TIME_INDEX,
          KeyConditionExpression: `#month = :month${range}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: toItem({ ':month': month, ...bounds }),
          ScanIndexForward: true,
          Limit: limit - events.length,
          ExclusiveStartKey: exclusiveStart,
        };
        const output = await storeCall('audit log', () => client.send(new QueryCommand(input)));
        for (const item of output.Items ?? []) events.push(options.parse(item));
        exclusiveStart = output.LastEvaluatedKey;
      } while (exclusiveStart && events.length < limit);
    }
    const tail = events.at(-1);
    if (!tail) return { events };
    const keys = timeIndexKeys(tail);
    return { events, next: encodeCursor({ month: keys.tmonth, key: keys.tkey }) };
  }

  return { listByTime };
}
