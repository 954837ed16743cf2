// Locks on the wire: placed once (conditional put), lifted once (conditional update), and read back with
// one strongly consistent query that leaves lifted locks out. Runs on dynalite and on Amazon's DynamoDB Local.

import { beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { createLockStore, type Lock, type LockStore } from '../../shared/operators/index.ts';
import { dynamo, freshTables } from '../support/infra.ts';

let locks: LockStore;

beforeAll(async () => {
  const tables = await freshTables();
  locks = createLockStore({ client: dynamo(), table: tables.locks });
});

const lock = (overrides: Partial<Lock> = {}): Lock => ({
  id: newId(),
  subject: 'agent:demo',
  reason: 'leaked token',
  by: 'person:secops',
  byIssuer: 'http://127.0.0.1/dev',
  createdAt: new Date().toISOString(),
  ...overrides,
});

describe('LockStore', () => {
  it('places a lock once: the same id again is a conflict and changes nothing', async () => {
    const first = lock();
    await locks.create(first);
    const again = await locks.create({ ...first, reason: 'overwritten?' }).catch((error: unknown) => error);
    expect(isAirlockError(again, 'conflict')).toBe(true);
    expect(await locks.get(first.id)).toEqual(first);
  });

  it('reads every unlifted lock at once after it is placed, expired ones included (callers compare times)', async () => {
    const expired = lock({ expiresAt: new Date(Date.now() - 1000).toISOString(), ttl: 1 });
    const connection = lock({ subject: undefined, connection: 'shop' });
    await locks.create(expired);
    await locks.create(connection);
    const ids = (await locks.listUnlifted()).map((item) => item.id);
    expect(ids).toEqual(expect.arrayContaining([expired.id, connection.id]));
  });

  it('lifts a lock once; a lifted lock is no longer read; lifting it again or a missing one finds nothing', async () => {
    const held = lock();
    await locks.create(held);
    const lifted = await locks.lift(held.id, {
      liftedAt: new Date().toISOString(),
      liftedBy: 'person:secops',
      liftReason: 'rotated',
      ttl: Math.floor(Date.now() / 1000) + 86400,
    });
    expect(lifted).toMatchObject({ id: held.id, liftedBy: 'person:secops', liftReason: 'rotated' });
    expect((await locks.listUnlifted()).map((item) => item.id)).not.toContain(held.id);
    const lift = { liftedAt: new Date().toISOString(), liftedBy: 'x', liftReason: 'again', ttl: 1 };
    expect(await locks.lift(held.id, lift)).toBeNull();
    expect(await locks.lift(newId(), lift)).toBeNull();
    expect((await locks.get(held.id))?.liftReason).toBe('rotated');
  });
});
