// End-state events (grant.revoked, grant.denied, grant.expired) survive an audit outage at the moment a grant
// ends: the grant still ends (role dropped), the event is owed on the grant record, and the sweeper writes it once.

import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTables } from '../../local/dynamo.ts';
import { createDynamoAuditLog, type StoredEvent } from '../../shared/audit/index.ts';
import { createGrantStore } from '../../shared/grants/store.ts';
import { openGrant } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, dynamo } from '../support/infra.ts';

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await ensureTables(dynamo(), stack.tables);
  await stack.airlock.sweep();
  await stack.close();
});

const events = (grantId: string): Promise<StoredEvent[]> =>
  createDynamoAuditLog({ client: dynamo(), table: stack.tables.audit }).list(grantId);
const typesOf = async (grantId: string) => (await events(grantId)).map((event) => event.type);
const grantRecord = (grantId: string) =>
  createGrantStore({ client: dynamo(), table: stack.tables.grants }).get(grantId);

async function roleExists(role: string): Promise<boolean> {
  const admin = await adminClient();
  try {
    return (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rows.length === 1;
  } finally {
    await admin.end();
  }
}

/** The audit store goes away (the table is dropped), then comes back empty. */
async function withAuditDown<T>(work: () => Promise<T>): Promise<T> {
  await dynamo().send(new DeleteTableCommand({ TableName: stack.tables.audit }));
  try {
    return await work();
  } finally {
    await ensureTables(dynamo(), stack.tables);
  }
}

describe('end-state events during an audit outage', () => {
  it('a revocation still ends the grant and drops its role; the sweeper writes grant.revoked once', async () => {
    const grant = await openGrant(stack);
    const revoked = await withAuditDown(() =>
      stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity }),
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.grant.status).toBe('revoked');
    expect(await roleExists(stack.roleOf(grant.id))).toBe(false);
    expect(await grantRecord(grant.id)).toMatchObject({
      sweep: 'audit',
      endEvent: { type: 'grant.revoked', details: { by: expect.stringMatching(/^agent:/) } },
    });
    expect(await typesOf(grant.id)).toEqual([]);

    // Not before its grace: the first attempt could still be in flight.
    await stack.airlock.sweep();
    expect(await typesOf(grant.id)).toEqual([]);
    stack.clock.advance(61);
    await stack.airlock.sweep();
    await stack.airlock.sweep();
    expect(await typesOf(grant.id)).toEqual(['grant.revoked']);
    const record = await grantRecord(grant.id);
    expect(record?.sweep).toBeUndefined();
    expect(record?.endEvent).toBeUndefined();
  });

  it('an expiry by the sweeper still ends the grant; its grant.expired is written on a later sweep', async () => {
    const grant = await openGrant(stack, { ttl: 60 });
    stack.clock.advance(61);
    const report = await withAuditDown(() => stack.airlock.sweep());
    expect(report.expired).toBeGreaterThanOrEqual(1);
    expect((await grantRecord(grant.id))?.status).toBe('expired');
    expect(await roleExists(stack.roleOf(grant.id))).toBe(false);
    expect(await typesOf(grant.id)).toEqual([]);
    stack.clock.advance(61);
    await stack.airlock.sweep();
    expect(await typesOf(grant.id)).toEqual(['grant.expired']);
    expect((await events(grant.id))[0]).toMatchObject({ previous: 'active' });
  });

  it('a denial still ends the request; its grant.denied is written on a later sweep', async () => {
    const identity = await stack.token('agent:end-events', ['finance']);
    const pending = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'write', ttl: 300, reason: 'end events' },
    });
    expect(pending.status).toBe(202);
    const id = pending.body.grant.id as string;
    const denied = await withAuditDown(() => stack.airlock.grants!.deny(id, 'oncall@example.com', 'not now'));
    expect(denied?.status).toBe('denied');
    stack.clock.advance(61);
    await stack.airlock.sweep();
    expect((await events(id)).map(({ type, by, reason }) => ({ type, by, reason }))).toEqual([
      { type: 'grant.denied', by: 'oncall@example.com', reason: 'not now' },
    ]);
  });

  it('with the audit store up, the end event is written at once and nothing is owed', async () => {
    const grant = await openGrant(stack);
    expect((await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity })).status).toBe(200);
    expect(await typesOf(grant.id)).toEqual(['grant.requested', 'grant.activated', 'grant.revoked']);
    expect((await grantRecord(grant.id))?.sweep).toBeUndefined();
  });
});
