// The keyed chain with its anchored head, against the real store: what someone who can write the audit
// table (but holds neither the audit key nor write access to grants) can no longer hide, and what a crash leaves.

import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditHeadAnchor,
  createDynamoHeadAnchor,
  createKeyedHasher,
  type EventHasher,
  GENESIS_HASH,
  hashEvent,
  type StoredEvent,
} from '../../shared/audit/index.ts';
import { isAirlockError } from '../../shared/errors.ts';
import { toItem } from '../../shared/store/dynamo.ts';
import { dynamo, uniqueName } from '../support/infra.ts';
import { type KeyedAudit, keyedAudit, newAuditKey, type RawAppend, recordCommands } from './fixtures.ts';

let audit: KeyedAudit;
let grantId: string;

beforeEach(async () => {
  audit = await keyedAudit();
  grantId = uniqueName('grant');
  await audit.record(grantId);
});

const statement = (i: number): RawAppend => ({
  grantId,
  type: 'statement',
  subject: 'agent:demo',
  details: {
    fingerprint: `fp-${i}`,
    normalizedSql: 'DELETE FROM orders WHERE id = $1',
    decision: 'executed',
    rowCount: i,
  },
});

async function chainOf(length: number): Promise<StoredEvent[]> {
  const log = audit.log();
  await log.append({ grantId, type: 'grant.requested', subject: 'agent:demo', details: { reason: 'incident 7' } });
  for (let i = 2; i <= length; i++) await log.append(statement(i));
  return log.list(grantId);
}

/** What a writer of the audit table can do: replace items outright (no condition, no key). */
async function putEvents(events: StoredEvent[]): Promise<void> {
  for (const event of events)
    await dynamo().send(new PutItemCommand({ TableName: audit.tables.audit, Item: toItem(event) }));
}

async function deleteEvent(seq: number): Promise<void> {
  await dynamo().send(new DeleteItemCommand({ TableName: audit.tables.audit, Key: toItem({ grantId, seq }) }));
}

/** Changes one event and recomputes every hash from there on with `hasher`, relinking the rest. */
function recompute(events: StoredEvent[], index: number, change: (event: StoredEvent) => void, hasher: EventHasher) {
  const copy = structuredClone(events);
  change(copy[index]!);
  for (let i = index; i < copy.length; i++) {
    copy[i]!.prevHash = i === 0 ? GENESIS_HASH : copy[i - 1]!.hash;
    copy[i]!.hash = hasher(copy[i]!);
  }
  return copy;
}

describe('a keyed chain with its head anchored on the grant record', () => {
  it('verifies as written: seq 1..n, keyed hashes, the head on the record naming the last event', async () => {
    const events = await chainOf(5);
    const verdict = await audit.log().verify(grantId);
    expect(verdict).toEqual({ events, verified: true, head: { seq: 5, hash: events[4]!.hash } });
    expect(await audit.anchor.read(grantId)).toEqual({ seq: 5, hash: events[4]!.hash });
    // Not a plain sha256: nobody without the key can make one.
    expect(events[4]!.hash).not.toBe(hashEvent(events[4]!));
    expect(events[4]!.hash).toBe(createKeyedHasher(audit.key)(events[4]!));
  });

  it('detects the newest event deleted (tail truncation), which a plain chain cannot', async () => {
    const events = await chainOf(4);
    await deleteEvent(4);
    const verdict = await audit.log().verify(grantId);
    expect(verdict.verified).toBe(false);
    expect(verdict.reason).toBe('the chain ends at seq 3 but its head is seq 4: events were removed');
    expect(verdict.events).toEqual(events.slice(0, 3));
    // The same three events would pass the links-and-hashes check alone.
    expect(verdict.head).toEqual({ seq: 4, hash: events[3]!.hash });
  });

  it('detects every event deleted', async () => {
    await chainOf(3);
    for (const seq of [1, 2, 3]) await deleteEvent(seq);
    const verdict = await audit.log().verify(grantId);
    expect(verdict).toMatchObject({ events: [], verified: false, head: { seq: 3 } });
  });

  it('detects a changed event with the chain recomputed as plain sha256', async () => {
    const events = await chainOf(5);
    await putEvents(recompute(events, 2, (event) => (event.rowCount = 0), hashEvent));
    const verdict = await audit.log().verify(grantId);
    expect(verdict.verified).toBe(false);
    expect(verdict.reason).toBe('event 3 does not carry the keyed hash of its content');
  });

  it('detects a chain recomputed under another key', async () => {
    const events = await chainOf(4);
    const forger = createKeyedHasher(newAuditKey());
    await putEvents(recompute(events, 1, (event) => (event.subject = 'agent:someone-else'), forger));
    expect((await audit.log().verify(grantId)).reason).toBe('event 2 does not carry the keyed hash of its content');
  });

  it('detects the newest event replaced by one with a correct keyed hash of other content (a replayed event)', async () => {
    const events = await chainOf(3);
    const elsewhere = uniqueName('grant');
    await audit.record(elsewhere);
    // Another grant's genuine event cannot stand in: its grantId and id are hashed with it.
    const log = audit.log();
    await log.append({ ...statement(1), grantId: elsewhere });
    await log.append({ ...statement(2), grantId: elsewhere });
    const [, foreign] = await log.list(elsewhere);
    await putEvents([{ ...foreign!, grantId, prevHash: events[1]!.hash, seq: 3, id: `${grantId}:3` }]);
    expect((await log.verify(grantId)).reason).toBe('event 3 does not carry the keyed hash of its content');
  });

  it('detects an event added past the head with a plain hash', async () => {
    const events = await chainOf(2);
    const added = recompute([...events, { ...events[1]!, seq: 3, id: `${grantId}:3` }], 2, () => {}, hashEvent);
    await putEvents([added[2]!]);
    expect((await audit.log().verify(grantId)).reason).toBe('event 3 does not carry the keyed hash of its content');
  });
});

describe('the head', () => {
  it('is written with one conditional UpdateItem naming only id and auditHead, returning nothing', async () => {
    const client = dynamo();
    const sent = recordCommands(client);
    const log = audit.log({ client, anchor: createDynamoHeadAnchor({ client, table: audit.tables.grants }) });
    await log.append(statement(1));
    await log.append(statement(2));
    expect(sent.map((command) => command.name)).toEqual([
      'QueryCommand',
      'PutItemCommand',
      'UpdateItemCommand',
      'PutItemCommand',
      'UpdateItemCommand',
    ]);
    const update = sent.find((command) => command.name === 'UpdateItemCommand')!.input;
    expect(update).toMatchObject({
      TableName: audit.tables.grants,
      UpdateExpression: 'SET #head = :head',
      ConditionExpression: 'attribute_exists(#id) AND (attribute_not_exists(#head) OR #head.#seq < :seq)',
      ExpressionAttributeNames: { '#id': 'id', '#head': 'auditHead', '#seq': 'seq' },
      ReturnValues: 'NONE',
    });
  });

  it('only moves forward: two processes appending at once leave it on the last event', async () => {
    const a = audit.log();
    const b = audit.log();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).append(statement(i))));
    const verdict = await a.verify(grantId);
    expect(verdict).toMatchObject({ verified: true, head: { seq: 20 } });
    await audit.anchor.advance(grantId, { seq: 3, hash: verdict.events[2]!.hash });
    expect(await audit.anchor.read(grantId)).toEqual({ seq: 20, hash: verdict.events[19]!.hash });
  });

  it('is never written for a chain without a record: the append fails closed', async () => {
    const error = await audit
      .log()
      .append({ ...statement(1), grantId: uniqueName('no-record') })
      .catch((caught: unknown) => caught);
    expect(isAirlockError(error, 'internal')).toBe(true);
  });

  it('a crash between the event and its head shows as a chain past its head, and the next append heals it', async () => {
    await chainOf(2);
    const failing: AuditHeadAnchor = {
      advance: async () => {
        throw new Error('the process died here');
      },
      read: audit.anchor.read,
    };
    await expect(audit.log({ anchor: failing }).append(statement(3))).rejects.toThrow('the process died here');
    const cut = await audit.log().verify(grantId);
    expect(cut.verified).toBe(false);
    expect(cut.reason).toMatch(/^the chain runs past its anchored head \(seq 3 > 2\)/);
    await audit.log().append(statement(4));
    expect(await audit.log().verify(grantId)).toMatchObject({ verified: true, head: { seq: 4 } });
  });
});
