// Quotas per subject against the real store and the real stack: live or pending grants, database sessions,
// 429 with retry-after. Mostly floods and races: a limit must hold when requests arrive together.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { createSubjectQuotas, subjectQuotaKey } from '../../shared/grants/quota.ts';
import { createGrantStore, type GrantStore } from '../../shared/grants/store.ts';
import { newId } from '../../shared/ids.ts';
import { closeClient, connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { adminQuery } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock, testClock } from '../support/airlock.ts';
import { adminTarget, dynamo, freshTables, secrets, uniqueName, wire } from '../support/infra.ts';

const LIMITS = { grantsPerSubject: 10, sessionsPerSubject: 20 };

describe('the quota item', () => {
  let store: GrantStore;
  const clock = testClock();
  beforeAll(async () => {
    store = createGrantStore({ client: dynamo(), table: (await freshTables()).grants });
  });
  const quotas = () =>
    createSubjectQuotas({ store: store.quotas, grants: (ids) => store.getMany(ids), limits: LIMITS, now: clock.now });
  const subject = () => ({ issuer: 'https://issuer.example', subject: `agent:${uniqueName('q')}` });

  it('lets exactly grantsPerSubject of 40 racing reservations through, within sessionsPerSubject', async () => {
    const who = subject();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, () => quotas().reserve(who, { id: newId(), ttlSeconds: 600 }, 5)),
    );
    const given = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(given).toHaveLength(10);
    expect(given.every((sessions) => sessions >= 1 && sessions <= 5)).toBe(true);
    expect(given.reduce((sum, sessions) => sum + sessions, 0)).toBeLessThanOrEqual(20);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(isAirlockError(outcome.reason, 'rate_limited')).toBe(true);
    }
    const state = await store.quotas.read(subjectQuotaKey(who));
    expect(state.grants).toBe(10);
    expect(state.entries).toHaveLength(10);
    expect(state.extra).toBe(state.entries.reduce((sum, entry) => sum + entry.sessions - 1, 0));
  });

  it('gives one subject its sessions so that every grant it may still ask for keeps one', async () => {
    const who = subject();
    const given: number[] = [];
    for (let i = 0; i < 10; i++) given.push(await quotas().reserve(who, { id: newId(), ttlSeconds: 600 }, 5));
    expect(given).toEqual([5, 5, 3, 1, 1, 1, 1, 1, 1, 1]);
    const refused = await quotas()
      .reserve(who, { id: newId(), ttlSeconds: 600 }, 5)
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({
      code: 'rate_limited',
      details: { quota: 'grantsPerSubject', limit: 10, retryAfterSeconds: expect.any(Number) },
    });
    // Other subjects, and the same subject name from another issuer, have their own quota.
    expect(
      await quotas().reserve({ ...who, issuer: 'https://other.example' }, { id: newId(), ttlSeconds: 600 }, 5),
    ).toBe(5);
  });

  it('is idempotent: a retried reservation or release counts once', async () => {
    const who = subject();
    const id = newId();
    expect(await quotas().reserve(who, { id, ttlSeconds: 600 }, 2)).toBe(2);
    expect(await quotas().reserve(who, { id, ttlSeconds: 600 }, 2)).toBe(2);
    expect((await store.quotas.read(subjectQuotaKey(who))).grants).toBe(1);
    await quotas().release({ ...who, id, sessionLimit: 2 });
    await quotas().release({ ...who, id, sessionLimit: 2 });
    expect(await store.quotas.read(subjectQuotaKey(who))).toEqual({ grants: 0, extra: 0, entries: [] });
  });

  it('drops what a crashed request left (a reservation whose grant never came) before refusing', async () => {
    const who = subject();
    for (let i = 0; i < 10; i++) await quotas().reserve(who, { id: newId(), ttlSeconds: 60 }, 1);
    await expect(quotas().reserve(who, { id: newId(), ttlSeconds: 60 }, 1)).rejects.toMatchObject({
      code: 'rate_limited',
    });
    clock.advance(121);
    try {
      expect(await quotas().reserve(who, { id: newId(), ttlSeconds: 60 }, 1)).toBe(1);
      expect((await store.quotas.read(subjectQuotaKey(who))).grants).toBe(1);
    } finally {
      clock.advance(-121);
    }
  });

  it('with fewer sessions than grants, gives each grant one session and stops at the sessions', async () => {
    const who = subject();
    const tight = createSubjectQuotas({
      store: store.quotas,
      grants: (ids) => store.getMany(ids),
      limits: { grantsPerSubject: 10, sessionsPerSubject: 3 },
      now: clock.now,
    });
    expect([
      await tight.reserve(who, { id: newId(), ttlSeconds: 600 }, 5),
      await tight.reserve(who, { id: newId(), ttlSeconds: 600 }, 5),
    ]).toEqual([1, 1]);
    await tight.reserve(who, { id: newId(), ttlSeconds: 600 }, 5);
    await expect(tight.reserve(who, { id: newId(), ttlSeconds: 600 }, 5)).rejects.toMatchObject({
      code: 'rate_limited',
      details: { quota: 'sessionsPerSubject', limit: 3 },
    });
  });
});

describe('quotas on the real stack', () => {
  let stack: TestAirlock;
  let roleKey: string;
  const sessions: PgClient[] = [];

  beforeAll(async () => {
    stack = await startTestAirlock();
    roleKey = (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).roleKey;
  });
  afterAll(async () => {
    await Promise.all(sessions.map((session) => closeClient(session)));
    await stack.airlock.sweep();
    await stack.close();
  });

  const ask = (identity: string, ttl = 600) =>
    stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'read', ttl, reason: 'quota tests' },
    });

  /** The CONNECTION LIMIT of each grant's role. */
  const limitsOf = async (ids: string[]) =>
    (
      await adminQuery<{ n: number }>('SELECT rolconnlimit AS n FROM pg_roles WHERE rolname = ANY($1::text[])', [
        ids.map((id) => stack.roleOf(id)),
      ])
    ).map((row) => row.n);

  it('answers the 11th live grant of a subject 429 rate_limited with retry-after; ending one makes room', async () => {
    const identity = await stack.token(`agent:${uniqueName('eleven')}`);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await ask(identity);
      expect(response.status).toBe(201);
      ids.push(response.body.grant.id);
    }
    const refused = await ask(identity);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', quota: 'grantsPerSubject', limit: 10 });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    expect(refused.body.error.retryAfterSeconds).toBe(retryAfter);

    const limits = await limitsOf(ids);
    expect(limits).toHaveLength(10);
    expect(limits.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(20);
    expect(Math.min(...limits)).toBeGreaterThanOrEqual(1);

    expect((await stack.call('DELETE', `/v1/grants/${ids[0]}`, { token: identity })).status).toBe(200);
    expect((await ask(identity)).status).toBe(201);
  });

  it('a flood of 40 grant requests by one identity holds at most the quota of grants and of connections', async () => {
    const identity = await stack.token(`agent:${uniqueName('flood')}`);
    const responses = await Promise.all(Array.from({ length: 40 }, () => ask(identity)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    const granted = responses.filter((response) => response.status === 201).map((response) => response.body.grant.id);
    expect(granted.length).toBeGreaterThan(0);
    expect(granted.length).toBeLessThanOrEqual(10);
    expect(statuses.filter((status) => status !== 201 && status !== 429)).toEqual([]);
    for (const response of responses.filter((r) => r.status === 429)) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect((await limitsOf(granted)).reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(20);

    // Ask Postgres itself: open sessions as each role until it refuses.
    let opened = 0;
    for (const id of granted) {
      for (;;) {
        try {
          sessions.push(
            await connectClient(
              { ...(await adminTarget()), user: stack.roleOf(id), password: derivePassword(roleKey, id) },
              wire(),
            ),
          );
          opened++;
        } catch (error) {
          expect(error).toMatchObject({ sqlstate: '53300' });
          break;
        }
      }
    }
    console.log(`quotas: flood of 40 → ${granted.length} grants, ${opened} sessions at most`);
    expect(opened).toBeLessThanOrEqual(20);
    await Promise.all(sessions.splice(0).map((session) => closeClient(session)));
  });

  it('a grant whose share is one session queues concurrent statements instead of failing them', async () => {
    const identity = await stack.token(`agent:${uniqueName('share')}`);
    const ids: string[] = [];
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await ask(identity);
      ids.push(response.body.grant.id);
      tokens.push(response.body.token);
    }
    expect(await limitsOf([ids[3]!])).toEqual([1]);
    const run = () => stack.call('POST', '/v1/query', { token: tokens[3], body: { sql: 'SELECT pg_sleep(0.2)' } });
    const results = await Promise.all([run(), run(), run(), run()]);
    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200]);

    // The next grant's one session taken by someone else (another process of the query side): 429, not 503.
    const fresh = await ask(identity);
    expect(fresh.status).toBe(201);
    const other = await connectClient(
      {
        ...(await adminTarget()),
        user: stack.roleOf(fresh.body.grant.id),
        password: derivePassword(roleKey, fresh.body.grant.id),
      },
      wire(),
    );
    sessions.push(other);
    const refused = await stack.call('POST', '/v1/query', { token: fresh.body.token, body: { sql: 'SELECT 1' } });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', quota: 'sessionsPerSubject' });
    expect(refused.headers.get('retry-after')).toBe('1');
  });

  it('a grant whose window passed but is not swept yet no longer counts', async () => {
    const identity = await stack.token(`agent:${uniqueName('late')}`);
    for (let i = 0; i < 10; i++) expect((await ask(identity, 60)).status).toBe(201);
    expect((await ask(identity, 60)).status).toBe(429);
    stack.clock.advance(61);
    try {
      expect((await ask(identity, 60)).status).toBe(201);
    } finally {
      stack.clock.advance(-61);
    }
  });
});
