// The audit log on DynamoDB: one item per event, keyed (grantId, seq), appended with a conditional put, the
// chain's head then anchored on its record. Must never update or delete an event, nor write it any other way.

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { AirlockError } from '../errors.ts';
import { fromItem, isConditionFailure, storeCall, toItem } from '../store/index.ts';
import type { AuditHeadAnchor } from './anchor.ts';
import {
  canonicalJson,
  checkChain,
  checkHead,
  createKeyedHasher,
  type EventHasher,
  GENESIS_HASH,
  hashEvent,
  toHashedJson,
} from './chain.ts';
import {
  AUDIT_EVENT_TYPES,
  type AuditAppend,
  type AuditEvent,
  type AuditLog,
  type AuditVerification,
  CHAIN_ID,
  CORE_FIELDS,
  INDEX_FIELDS,
  StoredAuditEvent,
} from './event.ts';
import { createTimeIndex, timeIndexKeys } from './time-index.ts';

export interface DynamoAuditLogOptions {
  client: DynamoDBClient;
  /** Physical name of the `audit` table (hash key `grantId` S, range key `seq` N, index `byTime`). */
  table: string;
  /**
   * The audit key (`auditKey` of the query-keys secret) and where chain heads are anchored (the grants
   * table). Without it events carry a plain sha256 and no head is kept: `verify` then cannot tell a
   * recomputed chain or a cut end from an intact one (the composition root must pass it).
   */
  chain?: { key: string; anchor: AuditHeadAnchor };
  now?: () => Date;
}

interface ChainHead {
  seq: number;
  hash: string;
}

/** Conditional puts lost to other writers before giving up (fail closed with `unavailable`). */
const MAX_APPEND_ATTEMPTS = 20;
/** Heads remembered per process; beyond this, the least recently written grant is forgotten. */
const MAX_CACHED_HEADS = 1000;
const RESERVED = new Set<string>([...CORE_FIELDS, ...INDEX_FIELDS]);
const TYPES = new Set<string>(AUDIT_EVENT_TYPES);
const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };
/** Reads of a chain caught between an event and its head, before the verdict is given as it stands. */
const VERIFY_ATTEMPTS = 3;

/**
 * Appends are serialized per grant inside this log and the last written head is cached, so a warm
 * process appends with one round trip; another writer's append makes the put fail, the cache is
 * dropped and the head re-read. Create one log per process: separate logs only coordinate via the store.
 */
export function createDynamoAuditLog(options: DynamoAuditLogOptions): AuditLog {
  const { client, table } = options;
  const now = options.now ?? (() => new Date());
  const heads = new Map<string, ChainHead>();
  const tails = new Map<string, Promise<void>>();
  const hasher: EventHasher = options.chain ? createKeyedHasher(options.chain.key) : hashEvent;
  const anchor = options.chain?.anchor;
  const timeIndex = createTimeIndex({ client, table, now, parse: parseStored });

  function remember(grantId: string, head: ChainHead): void {
    heads.delete(grantId);
    heads.set(grantId, head);
    if (heads.size > MAX_CACHED_HEADS) heads.delete(heads.keys().next().value as string);
  }

  function serialized<T>(grantId: string, task: () => Promise<T>): Promise<T> {
    const result = (tails.get(grantId) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(grantId, tail);
    void tail.then(() => {
      if (tails.get(grantId) === tail) tails.delete(grantId);
    });
    return result;
  }

  async function readHead(grantId: string): Promise<ChainHead> {
    const output = await storeCall('audit log', () =>
      client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: '#grantId = :grantId',
          ExpressionAttributeNames: { '#grantId': 'grantId', '#seq': 'seq', '#hash': 'hash' },
          ExpressionAttributeValues: { ':grantId': { S: grantId } },
          ProjectionExpression: '#seq, #hash',
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    const item = output.Items?.[0];
    if (!item) return EMPTY_HEAD;
    const head = fromItem<Partial<ChainHead>>(item);
    if (typeof head.seq !== 'number' || typeof head.hash !== 'string') {
      throw new AirlockError('internal', `audit chain head of grant ${grantId} is malformed`);
    }
    return { seq: head.seq, hash: head.hash };
  }

  /** The event first, then its head: a crash in between leaves an event past the head, which the next append covers. */
  async function write(input: PreparedAppend): Promise<AuditEvent> {
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt++) {
      const head = heads.get(input.grantId) ?? (await readHead(input.grantId));
      const event = link(input, head, now(), hasher);
      const item = storable(event);
      try {
        await storeCall('audit log', () =>
          client.send(
            new PutItemCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(grantId)' }),
          ),
        );
      } catch (error) {
        // Lost to another writer, or unknown whether it landed: either way the cached head is stale.
        heads.delete(input.grantId);
        if (!isConditionFailure(error)) throw error;
        await sleep(Math.random() * 5 * attempt);
        continue;
      }
      remember(input.grantId, { seq: event.seq, hash: event.hash });
      if (anchor) await anchor.advance(input.grantId, { seq: event.seq, hash: event.hash });
      return event;
    }
    throw new AirlockError('unavailable', `audit log is contended for grant ${input.grantId}; nothing was run`);
  }

  /** Every page of one grant's chain in seq order, read consistently; `query` adds a filter or a projection. */
  async function* chainPages(
    grantId: string,
    query: Partial<QueryCommandInput> = {},
  ): AsyncGenerator<QueryCommandOutput> {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const output = await storeCall('audit log', () =>
        client.send(
          new QueryCommand({
            ...query,
            TableName: table,
            KeyConditionExpression: '#grantId = :grantId',
            ExpressionAttributeNames: { ...query.ExpressionAttributeNames, '#grantId': 'grantId' },
            ExpressionAttributeValues: { ...query.ExpressionAttributeValues, ':grantId': { S: grantId } },
            ScanIndexForward: true,
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      yield output;
      startKey = output.LastEvaluatedKey;
    } while (startKey);
  }

  async function list(grantId: string): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    for await (const page of chainPages(grantId)) for (const item of page.Items ?? []) events.push(parseStored(item));
    return events;
  }

  async function countStatements(grantId: string): Promise<number> {
    let count = 0;
    const statements = {
      FilterExpression: '#type = :statement',
      ExpressionAttributeNames: { '#type': 'type' },
      ExpressionAttributeValues: { ':statement': { S: 'statement' } },
      Select: 'COUNT',
    } as const;
    for await (const page of chainPages(grantId, statements)) count += page.Count ?? 0;
    return count;
  }

  async function verify(grantId: string): Promise<AuditVerification> {
    if (!anchor) {
      const events = await list(grantId);
      return { events, head: null, ...checkChain(events, hasher) };
    }
    for (let attempt = 1; ; attempt++) {
      // Head first: every event it names was written before it, so an honest chain is never shorter than its head.
      const head = await anchor.read(grantId);
      const events = await list(grantId);
      const links = checkChain(events, hasher);
      if (!links.verified) return { events, head, ...links };
      const end = checkHead(events, head);
      const inFlight = head !== null && (events.at(-1)?.seq ?? 0) > head.seq;
      // An append between its event and its head looks like a chain past its head for a moment.
      if (end.verified || !inFlight || attempt === VERIFY_ATTEMPTS) return { events, head, ...end };
      await sleep(50 * attempt);
    }
  }

  return {
    append(event) {
      try {
        const input = prepare(event);
        return serialized(input.grantId, () => write(input));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    list,
    countStatements,
    listByTime: timeIndex.listByTime,
    verify,
  };
}

interface PreparedAppend {
  grantId: string;
  type: AuditAppend['type'];
  subject: string;
  details: Record<string, unknown>;
}

/** Checks an append before it is queued; details are copied as the plain JSON that gets hashed. */
function prepare(event: AuditAppend): PreparedAppend {
  const { grantId, type, subject } = event;
  if (typeof grantId !== 'string' || !CHAIN_ID.test(grantId)) {
    throw new AirlockError('internal', 'an audit event needs a well-formed grant id');
  }
  if (!TYPES.has(type)) throw new AirlockError('internal', `unknown audit event type "${String(type)}"`);
  if (typeof subject !== 'string' || subject === '')
    throw new AirlockError('internal', 'an audit event needs a subject');
  const overriding = Object.keys(event.details ?? {}).filter((key) => RESERVED.has(key));
  if (overriding.length > 0) {
    throw new AirlockError('internal', `audit event details may not set core fields: ${overriding.join(', ')}`);
  }
  const details = toHashedJson(event.details ?? {}, 'details');
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    throw new AirlockError('internal', 'audit event details must be an object');
  }
  return { grantId, type, subject: toHashedJson(subject) as string, details: details as Record<string, unknown> };
}

function link(input: PreparedAppend, head: ChainHead, at: Date, hasher: EventHasher): AuditEvent {
  const seq = head.seq + 1;
  const unsigned = {
    ...input.details,
    id: `${input.grantId}:${seq}`,
    grantId: input.grantId,
    seq,
    at: at.toISOString(),
    type: input.type,
    subject: input.subject,
    prevHash: head.hash,
  };
  // Its details were typed by the append (AuditAppend), and are stored exactly as hashed.
  return { ...unsigned, hash: hasher(unsigned) } as AuditEvent;
}

/** The item for an event (plus its time-index keys), refused unless the event reads back to exactly what was hashed. */
function storable(event: AuditEvent): Record<string, AttributeValue> {
  try {
    const item = toItem(event);
    if (canonicalJson(fromItem(item)) === canonicalJson(event)) return { ...item, ...toItem(timeIndexKeys(event)) };
  } catch (error) {
    throw new AirlockError('internal', `audit event ${event.id} cannot be stored as hashed`, {}, { cause: error });
  }
  throw new AirlockError('internal', `audit event ${event.id} cannot be stored as hashed`);
}

function parseStored(item: Record<string, AttributeValue>): AuditEvent {
  const { tmonth: _month, tkey: _key, ...event } = fromItem<Record<string, unknown>>(item);
  const parsed = StoredAuditEvent.safeParse(event);
  if (!parsed.success) throw new AirlockError('internal', 'a stored audit event is malformed');
  // Only appends write items, and they are typed; the core is what a reader may rely on being checked.
  return parsed.data as unknown as AuditEvent;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
