// GET /v1/admin/grants: every subject's grants, newest first, with filters and a `next` cursor that pages
// without gaps or repeats; bad filters and cursors are a 400, never a 500.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { auditor, OPERATOR_POLICY, openRead, operator, requestWrite } from './support.ts';

let stack: TestAirlock;
let reader: string;
const opened: string[] = [];
let pendingId: string;

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: OPERATOR_POLICY });
  reader = await auditor(stack);
  for (const subject of ['agent:list-a', 'agent:list-b', 'agent:list-a', 'agent:list-c', 'agent:list-a']) {
    opened.push((await openRead(stack, subject)).id);
    stack.clock.advance(1);
  }
  pendingId = (await requestWrite(stack, 'agent:list-b')).id;
  const secops = await operator(stack);
  await stack.call('DELETE', `/v1/admin/grants/${opened[1]}`, { token: secops, body: { reason: 'tidy up' } });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

async function list(query: string) {
  const response = await stack.call('GET', `/v1/admin/grants${query}`, { token: reader });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as {
    grants: Array<{ id: string; status: string; subject: string; issuer: string }>;
    next?: string;
  };
}

describe('GET /v1/admin/grants', () => {
  it('lists every subject’s grants newest first, with the issuer', async () => {
    const { grants, next } = await list('');
    expect(grants.map((grant) => grant.id)).toEqual([pendingId, ...[...opened].reverse()]);
    expect(next).toBeUndefined();
    expect(grants[0]).toMatchObject({ status: 'pending', subject: 'agent:list-b', issuer: `${stack.baseUrl}/dev` });
  });

  it('filters by status, subject, connection and since, alone and together', async () => {
    expect((await list('?status=pending')).grants.map((g) => g.id)).toEqual([pendingId]);
    expect((await list('?status=revoked')).grants.map((g) => g.id)).toEqual([opened[1]]);
    expect((await list('?subject=agent:list-a')).grants.map((g) => g.id)).toEqual([opened[4], opened[2], opened[0]]);
    expect((await list('?subject=agent:list-b&status=active')).grants).toEqual([]);
    expect((await list('?subject=agent:list-b&status=revoked')).grants.map((g) => g.id)).toEqual([opened[1]]);
    expect((await list('?connection=shop&status=active')).grants.map((g) => g.id)).toEqual([
      opened[4],
      opened[3],
      opened[2],
      opened[0],
    ]);
    expect((await list('?connection=elsewhere')).grants).toEqual([]);
    const all = (await list('')).grants as Array<{ id: string; requestedAt?: string }>;
    const third = (await stack.call('GET', `/v1/admin/grants?subject=agent:list-a`, { token: reader })).body.grants[1];
    const since = (await list(`?since=${encodeURIComponent(third.requestedAt)}`)).grants.map((g) => g.id);
    expect(since).toEqual(all.slice(0, all.findIndex((grant) => grant.id === third.id) + 1).map((g) => g.id));
  });

  it('pages with `next`: every grant once, in order, whatever the page size', async () => {
    const everything = (await list('')).grants.map((grant) => grant.id);
    for (const limit of [1, 2, 4]) {
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const page = await list(`?limit=${limit}${next ? `&next=${encodeURIComponent(next)}` : ''}`);
        expect(page.grants.length).toBeLessThanOrEqual(limit);
        seen.push(...page.grants.map((grant) => grant.id));
        next = page.next;
      } while (next);
      expect(seen, `limit ${limit}`).toEqual(everything);
    }
    const filtered: string[] = [];
    let next: string | undefined;
    do {
      const page = await list(`?subject=agent:list-a&limit=1${next ? `&next=${encodeURIComponent(next)}` : ''}`);
      filtered.push(...page.grants.map((grant) => grant.id));
      next = page.next;
    } while (next);
    expect(filtered).toEqual([opened[4], opened[2], opened[0]]);
  });

  it('answers 400 for a bad filter, limit or cursor', async () => {
    const bad = [
      '?status=alive',
      '?limit=0',
      '?limit=501',
      '?limit=ten',
      '?since=yesterday',
      '?since=2030-01-01',
      '?next=not-a-cursor',
      `?next=${Buffer.from(JSON.stringify({ k: 'audit', p: { at: 'x', grantId: 'y', seq: 1 } })).toString('base64url')}`,
      '?stauts=active',
    ];
    for (const query of bad) {
      const response = await stack.call('GET', `/v1/admin/grants${query}`, { token: reader });
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toBe('invalid_request');
    }
  });
});
