// The operators' reads of the grants table on the wire: newest first across the status, subject and
// connection indexes, filters, ties on requestedAt, and pages that neither skip nor repeat.
// Runs on dynalite and on Amazon's DynamoDB Local (reserved words, key conditions, start keys).

import { beforeAll, describe, expect, it } from 'vitest';
import type { GrantRecord, GrantSearch, GrantStatus, GrantStore } from '../../shared/grants/index.ts';
import { createGrantStore } from '../../shared/grants/index.ts';
import { newId } from '../../shared/ids.ts';
import { dynamo, freshTables } from '../support/infra.ts';

let store: GrantStore;
const grants: GrantRecord[] = [];
const T0 = Date.parse('2031-03-01T10:00:00.000Z');

function record(i: number, status: GrantStatus, subject: string, connection: string, at: number): GrantRecord {
  return {
    id: `${newId().slice(0, 18)}${String(i).padStart(2, '0')}`,
    status,
    subject,
    issuer: 'http://127.0.0.1/dev',
    email: null,
    connection,
    access: 'read',
    reason: 'search',
    rule: 'agents-read',
    ttlSeconds: 600,
    requestedAt: new Date(at).toISOString(),
    activatedAt: null,
    expiresAt: null,
    approvalDeadline: null,
    approval: null,
    decisions: [],
    role: 'airlock_x',
    target: null,
    ttl: Math.floor(at / 1000) + 86400,
  };
}

const newestFirst = (a: GrantRecord, b: GrantRecord) =>
  a.requestedAt === b.requestedAt ? (a.id < b.id ? 1 : -1) : a.requestedAt < b.requestedAt ? 1 : -1;

beforeAll(async () => {
  const tables = await freshTables();
  store = createGrantStore({ client: dynamo(), table: tables.grants });
  const statuses: GrantStatus[] = ['pending', 'active', 'denied', 'expired', 'revoked'];
  for (let i = 0; i < 30; i++) {
    // Every third grant shares its instant with the one before: ties must page correctly.
    const at = T0 + Math.floor(i - (i % 3 === 2 ? 1 : 0)) * 1000;
    const grant = record(i, statuses[i % 5]!, `agent:s${i % 3}`, i % 4 === 0 ? 'crm' : 'shop', at);
    grants.push(grant);
    await store.create(grant);
  }
  grants.sort(newestFirst);
});

async function everyPage(search: Omit<GrantSearch, 'after' | 'limit'>, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let after: GrantSearch['after'];
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.search({ ...search, limit, ...(after ? { after } : {}) });
    expect(page.grants.length).toBeLessThanOrEqual(limit);
    seen.push(...page.grants.map((grant) => grant.id));
    after = page.next;
    if (!after) return seen;
  }
  throw new Error('paging did not end');
}

describe('GrantStore.search', () => {
  it('lists every grant newest first (ties by id), in pages of any size', async () => {
    const all = grants.map((grant) => grant.id);
    for (const limit of [1, 2, 7, 30, 500]) expect(await everyPage({}, limit), `limit ${limit}`).toEqual(all);
  });

  it('filters by status, subject, connection and since, alone and combined', async () => {
    const cases: Array<Omit<GrantSearch, 'after' | 'limit'>> = [
      { status: 'active' },
      { status: 'revoked' },
      { subject: 'agent:s1' },
      { connection: 'crm' },
      { subject: 'agent:s2', status: 'pending' },
      { subject: 'agent:s0', connection: 'crm' },
      { connection: 'shop', status: 'expired' },
      { since: new Date(T0 + 20_000).toISOString() },
      { status: 'active', since: new Date(T0 + 10_000).toISOString() },
      { subject: 'agent:none' },
    ];
    for (const search of cases) {
      const expected = grants
        .filter(
          (grant) =>
            (search.status === undefined || grant.status === search.status) &&
            (search.subject === undefined || grant.subject === search.subject) &&
            (search.connection === undefined || grant.connection === search.connection) &&
            (search.since === undefined || grant.requestedAt >= search.since),
        )
        .map((grant) => grant.id);
      for (const limit of [1, 3, 100]) expect(await everyPage(search, limit), JSON.stringify(search)).toEqual(expected);
    }
  });

  it('moves a grant between the status lists when its status changes', async () => {
    const grant = grants.find((candidate) => candidate.status === 'pending')!;
    const moved = await store.transition(grant.id, 'pending', 'denied', {});
    expect(moved?.status).toBe('denied');
    const denied = await everyPage({ status: 'denied' }, 50);
    expect(denied).toContain(grant.id);
    expect(await everyPage({ status: 'pending' }, 50)).not.toContain(grant.id);
  });
});
