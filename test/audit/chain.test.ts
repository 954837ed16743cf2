// The hash chain: canonical hashing and every way a stored chain can be tampered with.
// Must never build chains by hand for the tamper cases: they come from the real log on dynalite.

import { beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashEvent, type StoredEvent, verifyChain } from '../../shared/audit/index.ts';
import { auditLog, freshAuditTable } from './fixtures.ts';

let chain: StoredEvent[];
let other: StoredEvent[];

const copy = (events: StoredEvent[]): StoredEvent[] => structuredClone(events);
const at = (events: StoredEvent[], index: number): StoredEvent => events[index] as StoredEvent;

beforeAll(async () => {
  const log = auditLog(await freshAuditTable());
  await log.append({
    grantId: 'g-chain',
    type: 'grant.requested',
    subject: 'agent:a',
    details: { reason: 'incident 42', minutes: 30 },
  });
  await log.append({
    grantId: 'g-chain',
    type: 'grant.approved',
    subject: 'agent:a',
    details: { by: 'alice@example.com' },
  });
  await log.append({ grantId: 'g-chain', type: 'grant.activated', subject: 'agent:a' });
  for (let i = 0; i < 3; i++) {
    await log.append({
      grantId: 'g-chain',
      type: 'statement',
      subject: 'agent:a',
      details: {
        fingerprint: `fp${i}`,
        normalizedSql: 'SELECT * FROM orders WHERE id = $1',
        decision: 'executed',
        rowCount: i,
        durationMs: 3,
        maskedColumns: [{ table: 'customers', column: 'email' }],
      },
    });
  }
  chain = await log.list('g-chain');
  await log.append({ grantId: 'g-other', type: 'grant.requested', subject: 'agent:b' });
  await log.append({ grantId: 'g-other', type: 'grant.denied', subject: 'agent:b' });
  other = await log.list('g-other');
});

describe('hashEvent', () => {
  const base = {
    id: 'g:1',
    grantId: 'g',
    seq: 1,
    at: '2030-01-01T00:00:00.000Z',
    type: 'statement' as const,
    subject: 's',
    prevHash: GENESIS_HASH,
  };

  it('is sha256 hex of the canonical encoding', () => {
    expect(hashEvent(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });

  it('does not depend on key order at any depth', () => {
    const a = { ...base, detail: { b: 1, a: [{ y: 2, x: 1 }] } };
    const b = { detail: { a: [{ x: 1, y: 2 }], b: 1 }, ...base };
    expect(hashEvent(a)).toBe(hashEvent(b));
  });

  it('ignores the hash field itself and undefined members, but not null', () => {
    expect(hashEvent({ ...base, hash: 'anything' })).toBe(hashEvent(base));
    expect(hashEvent({ ...base, error: undefined })).toBe(hashEvent(base));
    expect(hashEvent({ ...base, error: null })).not.toBe(hashEvent(base));
  });

  it('changes with any value, including array order and number vs string', () => {
    const h = hashEvent({ ...base, list: [1, 2] });
    expect(hashEvent({ ...base, list: [2, 1] })).not.toBe(h);
    expect(hashEvent({ ...base, list: [1, '2'] })).not.toBe(h);
    expect(hashEvent({ ...base, seq: 2 })).not.toBe(hashEvent(base));
  });

  it('refuses values that are not plain JSON', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1n,
      () => 1,
      Symbol('x'),
      new Date(0),
      new Map(),
      [undefined],
    ]) {
      expect(() => hashEvent({ ...base, bad })).toThrow(expect.objectContaining({ code: 'internal' }));
    }
  });
});

describe('verifyChain', () => {
  it('accepts a chain read back from the store, and the empty chain', () => {
    expect(chain.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verifyChain(chain)).toBe(true);
    expect(verifyChain(other)).toBe(true);
    expect(verifyChain([])).toBe(true);
  });

  it('rejects a changed detail', () => {
    const events = copy(chain);
    at(events, 3).rowCount = 1000;
    expect(verifyChain(events)).toBe(false);
  });

  it('rejects a changed nested detail', () => {
    const events = copy(chain);
    (at(events, 4).maskedColumns as Array<{ column: string }>)[0]!.column = 'name';
    expect(verifyChain(events)).toBe(false);
  });

  it('rejects an added or removed detail', () => {
    const added = copy(chain);
    at(added, 2).note = 'harmless';
    expect(verifyChain(added)).toBe(false);
    const removed = copy(chain);
    delete at(removed, 0).reason;
    expect(verifyChain(removed)).toBe(false);
  });

  it('rejects changed core fields: subject, type, at, id', () => {
    const cases: Array<(event: StoredEvent) => void> = [
      (event) => (event.subject = 'agent:b'),
      (event) => (event.type = 'grant.denied'),
      (event) => (event.at = '2000-01-01T00:00:00.000Z'),
      (event) => (event.id = 'x'),
    ];
    for (const tamper of cases) {
      const events = copy(chain);
      tamper(at(events, 1));
      expect(verifyChain(events)).toBe(false);
    }
  });

  it('rejects a changed seq, even with the hash recomputed', () => {
    const events = copy(chain);
    at(events, 2).seq = 7;
    expect(verifyChain(events)).toBe(false);
    at(events, 2).hash = hashEvent(at(events, 2));
    expect(verifyChain(events)).toBe(false);
  });

  it('rejects a dropped event: first or in the middle', () => {
    expect(verifyChain(chain.slice(1))).toBe(false);
    expect(verifyChain([...chain.slice(0, 2), ...chain.slice(3)])).toBe(false);
  });

  it('rejects a dropped event in the middle even with the later seqs renumbered and rehashed', () => {
    const events = copy([...chain.slice(0, 2), ...chain.slice(3)]);
    for (const [index, event] of events.entries()) {
      if (index < 2) continue;
      event.seq = index + 1;
      event.hash = hashEvent(event);
    }
    expect(verifyChain(events)).toBe(false);
  });

  it('rejects reordered events', () => {
    const events = copy(chain);
    [events[2], events[3]] = [at(events, 3), at(events, 2)];
    expect(verifyChain(events)).toBe(false);
    expect(verifyChain(copy(chain).reverse())).toBe(false);
  });

  it('rejects a changed prevHash, including on the first event', () => {
    const events = copy(chain);
    at(events, 3).prevHash = at(events, 1).hash;
    expect(verifyChain(events)).toBe(false);
    const first = copy(chain);
    at(first, 0).prevHash = 'f'.repeat(64);
    at(first, 0).hash = hashEvent(at(first, 0));
    expect(verifyChain(first)).toBe(false);
  });

  it('rejects a changed hash, and a recomputed hash that breaks the next link', () => {
    const events = copy(chain);
    at(events, 5).hash = 'a'.repeat(64);
    expect(verifyChain(events)).toBe(false);
    const rehashed = copy(chain);
    at(rehashed, 2).rowCount = 99;
    at(rehashed, 2).hash = hashEvent(at(rehashed, 2));
    expect(verifyChain(rehashed)).toBe(false);
  });

  it('rejects a malformed hash and an event that cannot be encoded', () => {
    const upper = copy(chain);
    at(upper, 5).hash = at(upper, 5).hash.toUpperCase();
    expect(verifyChain(upper)).toBe(false);
    const weird = copy(chain);
    at(weird, 5).rowCount = Number.NaN;
    expect(verifyChain(weird)).toBe(false);
  });

  it('rejects events of two grants spliced together', () => {
    expect(verifyChain([...other, ...chain.slice(2)])).toBe(false);
    expect(verifyChain([at(chain, 0), at(other, 1)])).toBe(false);
  });

  it('cannot detect a chain cut short at its end (documented limit)', () => {
    expect(verifyChain(chain.slice(0, 4))).toBe(true);
  });
});
