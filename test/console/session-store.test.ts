import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleSessionStore, createConsoleSessionStore } from '../../shared/console/index.ts';
import { randomToken } from '../../shared/console/session.ts';
import { toItem } from '../../shared/store/index.ts';
import type { TableNames } from '../../shared/store/tables.ts';
import { dynamo, freshTables } from '../support/infra.ts';

let tables: TableNames;
let sessions: ConsoleSessionStore;

beforeAll(async () => {
  tables = await freshTables();
  sessions = createConsoleSessionStore({ client: dynamo(), table: tables.sessions });
});

const session = (id = randomToken()) => ({
  id,
  subject: 'human:sec',
  issuer: 'http://127.0.0.1:8787/dev',
  createdAt: '2030-01-01T00:00:00.000Z',
  expiresAt: '2030-01-01T08:00:00.000Z',
});

describe('console sessions on the store', () => {
  it('a started session reads back, with a TTL a day after its end; ended, it is gone, and ending again is no error', async () => {
    const started = session();
    await sessions.start(started);
    expect(await sessions.get(started.id)).toEqual({
      ...started,
      ttl: Date.parse(started.expiresAt) / 1000 + 86_400,
    });
    await sessions.end(started.id);
    expect(await sessions.get(started.id)).toBeNull();
    await sessions.end(started.id);
  });

  it('never overwrites a session: a second start with the same id is a conflict', async () => {
    const first = session();
    await sessions.start(first);
    await expect(sessions.start({ ...first, subject: 'human:other' })).rejects.toMatchObject({ code: 'conflict' });
    expect((await sessions.get(first.id))?.subject).toBe('human:sec');
  });

  it('an item that is not a session (missing its end) is no session', async () => {
    const id = randomToken();
    await dynamo().send(
      new PutItemCommand({ TableName: tables.sessions, Item: toItem({ id, subject: 'human:sec', issuer: 'x' }) }),
    );
    expect(await sessions.get(id)).toBeNull();
  });

  it('a store that cannot be reached fails closed (unavailable), never as "no session"', async () => {
    const broken = createConsoleSessionStore({ client: dynamo(), table: 'no-such-table' });
    await expect(broken.get(randomToken())).rejects.toMatchObject({ code: 'unavailable' });
  });
});
