// listByTime against the real store (dynalite and DynamoDB Local): every grant's events in time order,
// across months, paged by an opaque cursor with nothing repeated or skipped, and its refusals.

import { beforeEach, describe, expect, it } from 'vitest';
import { type StoredEvent as AuditEvent, TIME_INDEX_EPOCH } from '../../shared/audit/index.ts';
import { isAirlockError } from '../../shared/errors.ts';
import { dynamo, uniqueName } from '../support/infra.ts';
import { auditLog, freshAuditTable, type RawAuditLog } from './fixtures.ts';

let table: string;
let clock: Date;
let log: RawAuditLog;

beforeEach(async () => {
  table = await freshAuditTable();
  clock = new Date('2027-01-31T23:59:59.000Z');
  log = auditLog(table, dynamo(), () => clock);
});

const at = (iso: string) => (clock = new Date(iso));
const append = (grantId: string, type: AuditEvent['type'] = 'statement') =>
  log.append({ grantId, type, subject: 'agent:time' });
const position = (event: AuditEvent) => `${event.at} ${event.grantId} ${event.seq}`;

async function readAll(query: { since?: string; until?: string }, limit: number): Promise<AuditEvent[][]> {
  const pages: AuditEvent[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await log.listByTime({ ...query, limit, ...(after ? { after } : {}) });
    if (page.events.length === 0) {
      expect(page.next).toBeUndefined();
      return pages;
    }
    expect(typeof page.next).toBe('string');
    pages.push(page.events);
    after = page.next;
  }
}

describe('listByTime', () => {
  it('returns every grant’s events oldest first, by at, then grant id, then seq, across months', async () => {
    const [a, b] = ['ga-', 'gb-'].map(uniqueName).sort() as [string, string];
    at('2026-12-31T23:59:59.999Z');
    await append(b, 'grant.requested');
    at('2027-01-01T00:00:00.000Z');
    await append(b);
    await append(a, 'grant.requested'); // same instant: a sorts before b
    at('2027-02-10T08:00:00.000Z');
    await append(a);
    await append(a);
    at('2027-03-01T00:00:00.000Z');
    const { events, next } = await log.listByTime({ limit: 100 });
    expect(events.map(position)).toEqual([
      `2026-12-31T23:59:59.999Z ${b} 1`,
      `2027-01-01T00:00:00.000Z ${a} 1`,
      `2027-01-01T00:00:00.000Z ${b} 2`,
      `2027-02-10T08:00:00.000Z ${a} 2`,
      `2027-02-10T08:00:00.000Z ${a} 3`,
    ]);
    // Events as they are kept: no index attributes, the chain intact.
    expect(events[0]).not.toHaveProperty('tmonth');
    expect(events[0]).not.toHaveProperty('tkey');
    expect(await log.list(a)).toEqual(events.filter((event) => event.grantId === a));
    expect(typeof next).toBe('string');
    // The cursor is opaque but stable: reading after the last event finds nothing newer.
    expect(await log.listByTime({ limit: 10, after: next })).toEqual({ events: [] });
  });

  it('pages through many events with nothing repeated or skipped, whatever the page size', async () => {
    const grants = Array.from({ length: 3 }, () => uniqueName('gp'));
    const written: AuditEvent[] = [];
    for (let i = 0; i < 25; i++) {
      // Some instants repeat, some cross into the next month.
      at(new Date(Date.parse('2027-04-30T23:59:59.990Z') + Math.floor(i / 2) * 7).toISOString());
      written.push(await append(grants[i % 3]!));
    }
    const expected = [...written].sort((x, y) => (position(x) < position(y) ? -1 : 1)).map(position);
    for (const limit of [1, 4, 25, 1000]) {
      const pages = await readAll({}, limit);
      expect(pages.flat().map(position), `limit ${limit}`).toEqual(expected);
      expect(pages.every((page) => page.length <= limit)).toBe(true);
    }
    expect(new Set(expected.map((p) => p.slice(0, 7))).size).toBe(2);
  });

  it('keeps since (inclusive) and until (exclusive), also across pages and months', async () => {
    const grant = uniqueName('gs');
    for (const instant of [
      '2027-05-31T10:00:00.000Z',
      '2027-06-01T10:00:00.000Z',
      '2027-06-15T10:00:00.000Z',
      '2027-07-01T10:00:00.000Z',
    ]) {
      at(instant);
      await append(grant);
    }
    const window = { since: '2027-06-01T10:00:00.000Z', until: '2027-07-01T10:00:00.000Z' };
    expect((await readAll(window, 1)).flat().map((event) => event.at)).toEqual([
      '2027-06-01T10:00:00.000Z',
      '2027-06-15T10:00:00.000Z',
    ]);
    expect((await log.listByTime({ since: '2027-06-15T10:00:00.001Z', limit: 10 })).events.map((e) => e.seq)).toEqual([
      4,
    ]);
    expect((await log.listByTime({ until: '2027-06-01T10:00:00Z', limit: 10 })).events.map((e) => e.seq)).toEqual([1]);
    expect(
      await log.listByTime({ since: '2027-07-01T10:00:00.000Z', until: '2027-06-01T00:00:00Z', limit: 10 }),
    ).toEqual({ events: [] });
    // A cursor keeps its place when the same filters come with it.
    const first = await log.listByTime({ ...window, limit: 1 });
    const second = await log.listByTime({ ...window, limit: 5, after: first.next });
    expect(second.events.map((e) => e.seq)).toEqual([3]);
  });

  it('sees events written after the cursor was taken (a follower polling with next)', async () => {
    const grant = uniqueName('gf');
    at('2027-08-01T00:00:00.000Z');
    await append(grant);
    const first = await log.listByTime({ limit: 10 });
    at('2027-09-02T00:00:00.000Z');
    await append(grant);
    const more = await log.listByTime({ limit: 10, after: first.next });
    expect(more.events.map((event) => event.seq)).toEqual([2]);
  });

  it(`starts at ${TIME_INDEX_EPOCH} without since, and reads a day past the clock for writers that run ahead`, async () => {
    const grant = uniqueName('ge');
    at('2027-10-31T23:30:00.000Z');
    await append(grant);
    at('2027-10-31T23:00:00.000Z'); // this reader's clock is behind the writer's
    expect((await log.listByTime({ limit: 10 })).events.map((event) => event.at)).toEqual(['2027-10-31T23:30:00.000Z']);
  });

  it('refuses a bad limit, time or cursor with invalid_request', async () => {
    const refusals = [
      log.listByTime({ limit: 0 }),
      log.listByTime({ limit: 1001 }),
      log.listByTime({ limit: 1.5 }),
      log.listByTime({ limit: 10, since: 'yesterday' }),
      log.listByTime({ limit: 10, until: '2027-13-01' }),
      log.listByTime({ limit: 10, after: 'not-a-cursor' }),
      log.listByTime({
        limit: 10,
        after: Buffer.from(JSON.stringify({ m: '2027-01', k: '2026-01-01T00:00:00.000Z#g#0000000001' })).toString(
          'base64url',
        ),
      }),
    ];
    for (const refusal of refusals) {
      const error = await refusal.catch((caught: unknown) => caught);
      expect(isAirlockError(error, 'invalid_request'), String(error)).toBe(true);
    }
  });
});
