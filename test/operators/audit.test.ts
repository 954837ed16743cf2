// GET /v1/admin/audit: events of every grant in time order, filtered and paged with `next`.
// One grant's chain is read with `list`; across grants the route reads the audit log's `listByTime` (the
// time index). The search's paging is also tested over an in-memory timeline that keeps listByTime's contract.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, createDynamoAuditLog } from '../../shared/audit/index.ts';
import type { AuditTimeline } from '../../shared/operators/audit-search.ts';
import { searchAudit } from '../../shared/operators/audit-search.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';
import { auditor, OPERATOR_POLICY, openRead, operator } from './support.ts';

let stack: TestAirlock;
let reader: string;
const grants: string[] = [];

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: OPERATOR_POLICY });
  reader = await auditor(stack);
  const secops = await operator(stack);
  for (const subject of ['agent:audit-a', 'agent:audit-b', 'agent:audit-a']) {
    const grant = await openRead(stack, subject);
    grants.push(grant.id);
    stack.clock.advance(1);
    await stack.call('POST', '/v1/query', { token: grant.token, body: { sql: 'SELECT 1' } });
    await stack.call('POST', '/v1/query', { token: grant.token, body: { sql: 'DROP TABLE orders' } });
    stack.clock.advance(1);
  }
  await stack.call('DELETE', `/v1/admin/grants/${grants[1]}`, { token: secops, body: { reason: 'audit test' } });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

const auditLog = () => createDynamoAuditLog({ client: dynamo(), table: stack.tables.audit });

async function search(query: string) {
  const response = await stack.call('GET', `/v1/admin/audit${query}`, { token: reader });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as { events: AuditEvent[]; next?: string };
}

async function everyPage(query: string, limit: number): Promise<AuditEvent[]> {
  const seen: AuditEvent[] = [];
  let next: string | undefined;
  do {
    const page = await search(
      `${query}${query ? '&' : '?'}limit=${limit}${next ? `&next=${encodeURIComponent(next)}` : ''}`,
    );
    expect(page.events.length).toBeLessThanOrEqual(limit);
    seen.push(...page.events);
    next = page.next;
  } while (next);
  return seen;
}

describe('GET /v1/admin/audit?grantId=', () => {
  it('returns one grant’s chain, filtered by type, decision and time, paged with next', async () => {
    const chain = (await search(`?grantId=${grants[0]}`)).events;
    expect(chain.map((event) => event.type)).toEqual(['grant.requested', 'grant.activated', 'statement', 'statement']);
    expect((await search(`?grantId=${grants[0]}&type=statement&decision=blocked`)).events).toEqual([chain[3]]);
    expect((await search(`?grantId=${grants[0]}&since=${encodeURIComponent(chain[2]!.at)}`)).events).toEqual(
      chain.filter((event) => event.at >= chain[2]!.at),
    );
    expect((await search(`?grantId=${grants[0]}&until=${encodeURIComponent(chain[2]!.at)}`)).events).toEqual(
      chain.filter((event) => event.at < chain[2]!.at),
    );
    for (const limit of [1, 3]) expect(await everyPage(`?grantId=${grants[0]}`, limit)).toEqual(chain);
    const revoked = (await search(`?grantId=${grants[1]}&type=grant.revoked`)).events;
    expect(revoked).toEqual([expect.objectContaining({ by: 'person:oncall-sec', reason: 'audit test' })]);
  });

  it('refuses an unknown type or decision, a bad time, or a cursor of another list', async () => {
    for (const query of ['?type=grant.exploded', '?decision=maybe', '?since=last-week', '?next=abc', '?limit=900']) {
      const response = await stack.call('GET', `/v1/admin/audit${query}`, { token: reader });
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toBe('invalid_request');
    }
  });
});

/** The timeline's order: by `at`, then `grantId`, then `seq`. */
const timelineOrder = (a: AuditEvent, b: AuditEvent) =>
  a.at !== b.at ? (a.at < b.at ? -1 : 1) : a.grantId !== b.grantId ? (a.grantId < b.grantId ? -1 : 1) : a.seq - b.seq;

/** listByTime's contract over real chains: every event ordered by at, grantId, seq; `after` an opaque offset. */
async function timelineOf(ids: string[]): Promise<AuditTimeline & { all: AuditEvent[] }> {
  const log = auditLog();
  const all = (await Promise.all(ids.map((id) => log.list(id)))).flat().sort(timelineOrder);
  return {
    all,
    list: (id) => log.list(id),
    verify: (id) => log.verify(id),
    async listByTime({ since, until, after, limit }) {
      const window = all.filter(
        (event) => (since === undefined || event.at >= since) && (until === undefined || event.at < until),
      );
      const start = after === undefined ? 0 : Number(after);
      const events = window.slice(start, start + limit);
      return start + limit < window.length ? { events, next: String(start + limit) } : { events };
    },
  };
}

describe('searching across grants (the route’s search over a listByTime timeline)', () => {
  it('returns events of several grants in time order and pages with next, whatever the page size', async () => {
    const timeline = await timelineOf(grants);
    expect(new Set(timeline.all.map((event) => event.grantId)).size).toBe(3);
    for (const limit of [1, 2, 5, 500]) {
      const seen: AuditEvent[] = [];
      let after: Parameters<typeof searchAudit>[1]['after'];
      do {
        const page = await searchAudit(timeline, { limit, ...(after ? { after } : {}) });
        expect(page.events.length).toBeLessThanOrEqual(limit);
        seen.push(...page.events);
        after = page.next;
      } while (after);
      expect(seen, `limit ${limit}`).toEqual(timeline.all);
    }
  });

  it('filters by subject, type and decision, and pages the filtered list without gaps', async () => {
    const timeline = await timelineOf(grants);
    const wanted = timeline.all.filter((event) => event.subject === 'agent:audit-a' && event.type === 'statement');
    expect(wanted).toHaveLength(4);
    const seen: AuditEvent[] = [];
    let after: Parameters<typeof searchAudit>[1]['after'];
    do {
      const page = await searchAudit(timeline, {
        subject: 'agent:audit-a',
        type: 'statement',
        limit: 1,
        ...(after ? { after } : {}),
      });
      seen.push(...page.events);
      after = page.next;
    } while (after);
    expect(seen).toEqual(wanted);
    const blocked = await searchAudit(timeline, { decision: 'blocked', limit: 100 });
    expect(blocked.events.map((event) => event.grantId)).toEqual(
      grants.slice().sort((a, b) => {
        const at = (id: string) =>
          timeline.all.find(
            (event) => event.grantId === id && (event as Record<string, unknown>).decision === 'blocked',
          )!.at;
        return at(a) < at(b) ? -1 : 1;
      }),
    );
  });
});

describe('GET /v1/admin/audit across grants', () => {
  it('returns the events of several grants in time order and pages with next', async () => {
    const all = await everyPage('', 500);
    const ours = all.filter((event) => grants.includes(event.grantId));
    expect(new Set(ours.map((event) => event.grantId)).size).toBe(3);
    const sorted = [...all].sort(timelineOrder);
    expect(all).toEqual(sorted);
    expect(await everyPage('', 2)).toEqual(all);
  });

  it('filters by subject, type, decision and time', async () => {
    const all = await everyPage('', 500);
    expect(await everyPage('?subject=agent:audit-b', 3)).toEqual(
      all.filter((event) => event.subject === 'agent:audit-b'),
    );
    expect(await everyPage('?type=grant.revoked', 3)).toEqual(all.filter((event) => event.type === 'grant.revoked'));
    expect(await everyPage('?decision=blocked', 1)).toEqual(
      all.filter((event) => (event as Record<string, unknown>).decision === 'blocked'),
    );
    const middle = all[Math.floor(all.length / 2)]!.at;
    expect(await everyPage(`?since=${encodeURIComponent(middle)}`, 4)).toEqual(
      all.filter((event) => event.at >= middle),
    );
  });
});
