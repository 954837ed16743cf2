// What Airlock relies on from DynamoDB, checked on the wire: conditional transitions, the TTL attribute,
// both GSIs and the audit log's conditional put. Runs on dynalite and on Amazon's DynamoDB Local.

import { DescribeTimeToLiveCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTables } from '../../local/dynamo.ts';
import { isAirlockError } from '../../shared/errors.ts';
import type { GrantRecord, GrantStatus } from '../../shared/grants/model.ts';
import { createGrantStore, type GrantStore } from '../../shared/grants/store.ts';
import { newId } from '../../shared/ids.ts';
import { isConditionFailure, toItem } from '../../shared/store/dynamo.ts';
import type { TableNames } from '../../shared/store/tables.ts';
import { auditLog } from '../audit/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, freshTables, store as storeKind } from '../support/infra.ts';
import { grantRecord } from '../support/stack.ts';

const RETENTION_SECONDS = 30 * 86400;
const HOUR = 3600_000;

let tables: TableNames;
let grants: GrantStore;

beforeAll(async () => {
  tables = await freshTables();
  grants = createGrantStore({ client: dynamo(), table: tables.grants });
});

const record = grantRecord;

const iso = (ms: number) => new Date(ms).toISOString();

async function rawItem(table: string, key: Record<string, unknown>) {
  return (await dynamo().send(new GetItemCommand({ TableName: table, Key: toItem(key), ConsistentRead: true }))).Item;
}

describe('conditional transitions', () => {
  it('two different transitions from pending: exactly one wins, and the item says which', async () => {
    for (let round = 0; round < 10; round++) {
      const grant = record();
      await grants.create(grant);
      const expiresAt = iso(Date.now() + 600_000);
      const [activated, revoked] = await Promise.all([
        grants.transition(grant.id, 'pending', 'active', {
          activatedAt: iso(Date.now()),
          expiresAt,
          sweep: 'active',
          dueAt: expiresAt,
        }),
        grants.transition(grant.id, 'pending', 'revoked', { sweep: undefined, dueAt: undefined }),
      ]);
      expect([activated, revoked].filter(Boolean)).toHaveLength(1);
      const winner = (activated ?? revoked)!;
      expect((await grants.get(grant.id))!.status).toBe(winner.status);
    }
  });

  it('eight racers on the same transition: one returns the record, seven get null', async () => {
    const grant = record();
    await grants.create(grant);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        grants.transition(grant.id, 'pending', 'active', {
          decisions: [{ by: `racer-${i}`, decision: 'activated', at: iso(Date.now()) }],
        }),
      ),
    );
    const winners = results.filter((result): result is GrantRecord => result !== null);
    expect(winners).toHaveLength(1);
    expect((await grants.get(grant.id))!.decisions).toEqual(winners[0]!.decisions);
  });

  it('refuses a transition from the wrong state, on a missing item, and out of an end state', async () => {
    const grant = record();
    await grants.create(grant);
    expect(await grants.transition(grant.id, 'active', 'revoked', {})).toBeNull();
    expect(await grants.transition(newId(), 'pending', 'active', {})).toBeNull();
    expect(await grants.get(grant.id)).toEqual(grant);
    await grants.transition(grant.id, 'pending', 'denied', {});
    await expect(grants.transition(grant.id, 'denied' as GrantStatus, 'active', {})).rejects.toThrow(/no transition/);
  });

  it('the sweeper’s guard: active → expired only once expiresAt is at or before the given time', async () => {
    const expiresAt = iso(Date.now() + 60_000);
    const grant = record({
      status: 'active',
      activatedAt: iso(Date.now()),
      expiresAt,
      sweep: 'active',
      dueAt: expiresAt,
    });
    await grants.create(grant);
    expect(await grants.transition(grant.id, 'active', 'expired', {}, { expiresAtBefore: iso(Date.now()) })).toBeNull();
    expect((await grants.get(grant.id))!.status).toBe('active');
    expect(await grants.transition(grant.id, 'active', 'expired', {}, { expiresAtBefore: expiresAt })).toMatchObject({
      status: 'expired',
    });
  });

  it('create is conditional: a second grant with the same id is a conflict, the first stays', async () => {
    const grant = record();
    await grants.create(grant);
    const error = await grants.create({ ...grant, subject: 'agent:intruder' }).catch((caught: unknown) => caught);
    expect(isAirlockError(error, 'conflict')).toBe(true);
    expect((await grants.get(grant.id))!.subject).toBe('agent:store');
  });

  it('a patch value of undefined removes the attribute (REMOVE), the rest is SET', async () => {
    const grant = record();
    await grants.create(grant);
    await grants.transition(grant.id, 'pending', 'revoked', { sweep: undefined, dueAt: undefined, ttl: 42 });
    const item = await rawItem(tables.grants, { id: grant.id });
    expect(item?.sweep).toBeUndefined();
    expect(item?.dueAt).toBeUndefined();
    expect(item?.ttl).toEqual({ N: '42' });
    expect(item?.status).toEqual({ S: 'revoked' });
  });
});

describe('GSI queries', () => {
  it('bySubject: the subject’s grants newest first, nobody else’s, limit taken from the newest', async () => {
    const subject = `agent:gsi-${newId(6)}`;
    const base = Date.now() - 10 * HOUR;
    const offsets = [3, 0, 4, 1, 2];
    const created = offsets.map((offset) => record({ subject, requestedAt: iso(base + offset * HOUR) }));
    for (const grant of created) await grants.create(grant);
    await grants.create(record({ subject: `${subject}-other`, requestedAt: iso(base + 5 * HOUR) }));

    const newestFirst = [...created]
      .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt))
      .map((grant) => grant.id);
    expect((await grants.listBySubject(subject)).map((grant) => grant.id)).toEqual(newestFirst);
    expect((await grants.listBySubject(subject, 2)).map((grant) => grant.id)).toEqual(newestFirst.slice(0, 2));
    expect(await grants.listBySubject(`agent:nobody-${newId(6)}`)).toEqual([]);
  });

  it('byDue: only grants still carrying `sweep`, of the asked kind, due at or before the time, soonest first', async () => {
    const own = await freshTables();
    const due = createGrantStore({ client: dynamo(), table: own.grants });
    const now = Date.now();
    const active = (offsetMs: number) => {
      const expiresAt = iso(now + offsetMs);
      return record({
        status: 'active',
        activatedAt: iso(now - 600_000),
        expiresAt,
        sweep: 'active',
        dueAt: expiresAt,
      });
    };
    const dueLater = active(-1000);
    const dueFirst = active(-60_000);
    const dueExactly = active(0);
    const notYet = active(60_000);
    const pendingDue = record({ dueAt: iso(now - 5000) });
    const ended = active(-30_000);
    for (const grant of [dueLater, dueFirst, dueExactly, notYet, pendingDue, ended]) await due.create(grant);
    await due.transition(ended.id, 'active', 'revoked', { sweep: undefined, dueAt: undefined });

    expect((await due.listDue('active', iso(now))).map((grant) => grant.id)).toEqual([
      dueFirst.id,
      dueLater.id,
      dueExactly.id,
    ]);
    expect((await due.listDue('pending', iso(now))).map((grant) => grant.id)).toEqual([pendingDue.id]);
    expect((await due.listDue('active', iso(now + 120_000))).map((grant) => grant.id)).toContain(notYet.id);
  });
});

describe('audit log conditional put', () => {
  it('PutItem with attribute_not_exists on an existing (grantId, seq) fails and leaves the event as written', async () => {
    const log = auditLog(tables.audit, dynamo());
    const grantId = newId();
    const first = await log.append({
      grantId,
      type: 'grant.requested',
      subject: 'agent:store',
      details: { reason: 'x' },
    });
    const forged = toItem({ ...first, subject: 'agent:forger', hash: 'f'.repeat(64) });
    const error = await dynamo()
      .send(
        new PutItemCommand({
          TableName: tables.audit,
          Item: forged,
          ConditionExpression: 'attribute_not_exists(grantId)',
        }),
      )
      .catch((caught: unknown) => caught);
    expect(isConditionFailure(error)).toBe(true);
    expect(await log.list(grantId)).toEqual([first]);
  });

  it('a second process with a stale head loses the put, re-reads and appends after, never over', async () => {
    const grantId = newId();
    const a = auditLog(tables.audit, dynamo());
    const b = auditLog(tables.audit, dynamo());
    await a.append({ grantId, type: 'grant.requested', subject: 'agent:store' });
    await b.append({ grantId, type: 'grant.activated', subject: 'agent:store' });
    const third = await a.append({ grantId, type: 'grant.revoked', subject: 'agent:store' });
    expect(third.seq).toBe(3);
    expect((await a.list(grantId)).map((event) => event.type)).toEqual([
      'grant.requested',
      'grant.activated',
      'grant.revoked',
    ]);
  });
});

describe('TTL', () => {
  let stack: TestAirlock;
  beforeAll(async () => {
    stack = await startTestAirlock();
  });
  afterAll(async () => {
    await stack.close();
  });

  const ttlOf = async (id: string) => {
    const item = await rawItem(stack.tables.grants, { id });
    expect(item?.ttl?.N, 'ttl is a Number attribute').toMatch(/^\d+$/);
    return Number(item!.ttl!.N);
  };
  const seconds = (value: string) => Math.floor(Date.parse(value) / 1000);

  it('an active grant carries ttl = window end + retention, in epoch seconds; revocation moves it to revocation + retention', async () => {
    const token = await stack.token('agent:ttl');
    const { grant } = (
      await stack.call('POST', '/v1/grants', {
        token,
        body: { connection: 'shop', access: 'read', ttl: 300, reason: 'ttl check' },
      })
    ).body;
    const ttl = await ttlOf(grant.id);
    expect(ttl).toBe(seconds(grant.expiresAt) + RETENTION_SECONDS);
    expect(ttl).toBeLessThan(1e11); // seconds, not milliseconds

    const revoked = (await stack.call('DELETE', `/v1/grants/${grant.id}`, { token })).body.grant;
    const revokedAt = revoked.decisions.find((decision: { decision: string }) => decision.decision === 'revoked').at;
    expect(await ttlOf(grant.id)).toBe(seconds(revokedAt) + RETENTION_SECONDS);
  });

  it('a pending grant carries ttl = approval deadline + retention', async () => {
    const token = await stack.token('agent:ttl-pending', ['finance']);
    const response = await stack.call('POST', '/v1/grants', {
      token,
      body: { connection: 'shop', access: 'write', ttl: 300, reason: 'ttl check' },
    });
    expect(response.status).toBe(202);
    expect(await ttlOf(response.body.grant.id)).toBe(seconds(response.body.grant.approvalDeadline) + RETENTION_SECONDS);
  });

  it.runIf(storeKind() === 'dynamodb-local')(
    'DescribeTimeToLive: ensureTables enabled TTL on `ttl` for grants and approvals, not audit, and stays idempotent',
    async () => {
      await ensureTables(dynamo(), tables);
      const timeToLive = async (table: string) =>
        (await dynamo().send(new DescribeTimeToLiveCommand({ TableName: table }))).TimeToLiveDescription;
      expect(await timeToLive(tables.grants)).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
      expect(await timeToLive(tables.approvals)).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
      expect((await timeToLive(tables.audit))?.TimeToLiveStatus).toBe('DISABLED');
    },
  );

  it.runIf(storeKind() === 'dynalite')('dynalite has no TTL: ensureTables leaves it off without failing', async () => {
    await ensureTables(dynamo(), tables);
    const description = (await dynamo().send(new DescribeTimeToLiveCommand({ TableName: tables.grants })))
      .TimeToLiveDescription;
    expect(description?.TimeToLiveStatus).toBe('DISABLED');
  });
});
