// Grant sessions against the embedded Postgres: reused while busy, closed when idle (a flood of grants holds no
// connections for long), and a session that was cut or lost is never handed out again.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { runStatement } from '../../shared/postgres/execute.ts';
import { createClientPool } from '../../shared/postgres/pool.ts';
import { createSessionPool, type SessionPool } from '../../shared/postgres/sessions.ts';
import { isSessionLost, sessionGuard } from '../../shared/postgres/wire-guard.ts';
import { adminClient, wire } from '../support/infra.ts';
import { createTestRoles, type TestRole } from './grant-roles.ts';

const roles = createTestRoles();
const IDLE_MS = 1500;
const LIMITS = { maxRows: 1000, maxBytes: 8 * 1024 * 1024 };
let pool: SessionPool;
let role: TestRole;
let admin: PgClient;

beforeAll(async () => {
  pool = createSessionPool({ wire: wire(), idleMs: IDLE_MS });
  role = await roles.mint('read');
  admin = await adminClient();
});

afterAll(async () => {
  await pool.closeAll();
  await admin.end();
  await roles.revokeAll();
});

/** Backends of these roles open right now, as Postgres counts them. */
async function sessionsOf(...grants: TestRole[]): Promise<number> {
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ANY($1)`, [
    grants.map((grant) => grant.role),
  ]);
  return rows[0].n as number;
}

/** Runs one statement on a session of the role's pool; returns the session it ran on. */
async function statementOn(target: TestRole, text = 'SELECT 1'): Promise<PgClient> {
  return pool.withSession(await target.target(), async (client) => {
    await runStatement(client, { statement: { text }, ...LIMITS });
    return client;
  });
}

describe('idle sessions', () => {
  it('a session is reused while its grant is busy, and closed once idle', async () => {
    const first = await statementOn(role);
    const second = await statementOn(role);
    expect(second).toBe(first);
    expect(await sessionsOf(role)).toBe(1);
    await expect.poll(() => sessionsOf(role), { timeout: 10_000, interval: 100 }).toBe(0);
    const third = await statementOn(role);
    expect(third).not.toBe(first);
  });

  it('a flood of grants holds no Postgres connections once they go quiet', async () => {
    const flood = await Promise.all(Array.from({ length: 4 }, () => roles.mint('read')));
    await Promise.all(flood.flatMap((grant) => [statementOn(grant), statementOn(grant)]));
    expect(await sessionsOf(...flood)).toBeGreaterThanOrEqual(4);
    await expect.poll(() => sessionsOf(...flood), { timeout: 10_000, interval: 100 }).toBe(0);
  });
});

describe('sessions that must not be reused', () => {
  it('a session whose statement was cut off is discarded, and the next statement gets a fresh one', async () => {
    const target = await role.target();
    const cut = await pool.withSession(target, async (client) => {
      const result = await runStatement(client, {
        prelude: [{ text: 'BEGIN READ ONLY' }],
        statement: { text: `SELECT repeat('x', 100000) FROM generate_series(1, 100)` },
        maxRows: 1000,
        maxBytes: 150_000,
        stopsEarly: true,
        disposableSession: true,
      });
      expect(result.sessionLost).toBe(true);
      return client;
    });
    expect(isSessionLost(cut)).toBe(true);
    const next = await statementOn(role, 'SELECT 2');
    expect(next).not.toBe(cut);
  });

  it('a statement error keeps the session; a terminated backend does not', async () => {
    const target = await role.target();
    const failing = (text: string) =>
      pool
        .withSession(target, async (client) => {
          await runStatement(client, { statement: { text }, ...LIMITS }).catch((error: unknown) => {
            throw Object.assign(error as object, { client });
          });
        })
        .then(
          () => {
            throw new Error('expected a failure');
          },
          (error: { client: PgClient }) => error.client,
        );

    const refused = await failing('SELECT 1/0');
    expect(await statementOn(role)).toBe(refused);

    const running = failing('SELECT pg_sleep(30)');
    const terminate = async () =>
      (
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%'`,
          [role.role],
        )
      ).rowCount;
    await expect.poll(terminate, { timeout: 5000, interval: 50 }).toBe(1);
    const terminated = await running;
    expect(await statementOn(role)).not.toBe(terminated);
  });

  it('the pool never hands out a session its guard marked lost, even before the socket reports the close', async () => {
    const clients = createClientPool({ connect: () => role.connect(), max: 2 });
    try {
      const first = await clients.acquire();
      sessionGuard(first)?.markClosed();
      clients.release(first, false);
      const second = await clients.acquire();
      expect(second).not.toBe(first);
      clients.release(second, false);
    } finally {
      await clients.close();
    }
  });
});
