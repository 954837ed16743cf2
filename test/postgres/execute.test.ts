// The statement pipeline against the embedded Postgres, as a grant's role through the WebSocket proxy: the same values
// as client.query, one WebSocket message per pipeline, row caps, and every way a statement can fail.

import { DatabaseError } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockError } from '../../shared/errors.ts';
import { closeClient, type PgClient } from '../../shared/postgres/driver.ts';
import {
  endTransaction,
  failedStep,
  isConnectionLost,
  runPipeline,
  runStatement,
} from '../../shared/postgres/execute.ts';
import { isSessionLost } from '../../shared/postgres/wire-guard.ts';
import { adminClient, uniqueName } from '../support/infra.ts';
import { createTestRoles, type TestRole } from './grant-roles.ts';

const roles = createTestRoles();
let reader: TestRole;
let writer: TestRole;
const table = uniqueName('wire_probe').replace('-', '_');
const sequence = `${table}_seq`;

async function asAdmin<T>(work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await adminClient();
  try {
    return await work(client);
  } finally {
    await closeClient(client);
  }
}

beforeAll(async () => {
  [reader, writer] = await Promise.all([roles.mint('read'), roles.mint('write')]);
  await asAdmin((client) =>
    client.query(`CREATE TABLE ${table} (id int); CREATE SEQUENCE ${sequence}; GRANT USAGE ON ${sequence} TO PUBLIC`),
  );
});

afterAll(async () => {
  await asAdmin((client) => client.query(`DROP TABLE IF EXISTS ${table}; DROP SEQUENCE IF EXISTS ${sequence}`));
  await roles.revokeAll();
});

async function withSession<T>(role: TestRole, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await role.connect();
  try {
    return await work(client);
  } finally {
    await closeClient(client);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** Counts the WebSocket messages a session sends while `work` runs. */
async function sends<T>(client: PgClient, work: () => Promise<T>): Promise<{ result: T; messages: number }> {
  const ws = (client.connection.stream as unknown as { ws: { send(data: unknown): void } }).ws;
  const send = ws.send;
  let messages = 0;
  ws.send = (data: unknown) => {
    messages++;
    send.call(ws, data);
  };
  try {
    return { result: await work(), messages };
  } finally {
    ws.send = send;
  }
}

async function sequenceState(): Promise<{ last: string; called: boolean }> {
  return asAdmin(async (client) => {
    const { rows } = await client.query(`SELECT last_value::text AS last, is_called AS called FROM ${sequence}`);
    return rows[0];
  });
}

const READ_ONLY = [{ text: 'BEGIN READ ONLY' }];
const LIMITS = { maxRows: 1000, maxBytes: 8 * 1024 * 1024 };

describe('results are what client.query returns', () => {
  const SPREAD = `SELECT 32767::int2, 2147483647::int4, 9223372036854775807::int8, 12345678901234567890.000123::numeric,
      1.5::float4, 'NaN'::float8, '-Infinity'::float8, true, 'héllo 🌍 e\u0301 "q" ''s'::text, 'v'::varchar(3), 'c'::char(3),
      '\\x00ff10'::bytea, '{"a":[1,{"b":null}],"c":"é"}'::json, '{"z":1,"a":2}'::jsonb, '2024-02-29'::date,
      '2024-02-29 12:34:56.789'::timestamp, '2024-02-29 12:34:56.789+05:30'::timestamptz, '1 day 02:03:04'::interval,
      '13:14:15'::time, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '10.1.2.3/32'::inet,
      ARRAY[1, NULL, 3]::int[], ARRAY['a,b', 'c"d', NULL, 'e\\f']::text[], ARRAY[1.10, 2.25]::numeric[],
      ARRAY['{"k":1}']::jsonb[], NULL::int, NULL::text, 26::oid,
      $1::text, $2::int, $3::bool, $4::jsonb, $5::int[], $6::text[], $7::numeric, $8::text`;
  const VALUES = [
    "ünïcødé 🌍 \\ '",
    42,
    true,
    { nested: { list: [1, 'two', null] } },
    [1, 2, 3],
    ['x', 'y,z', null],
    1.5,
    null,
  ];

  it('the same values and fields for a spread of types, parameters and NULLs', async () => {
    await withSession(reader, async (client) => {
      const expected = await client.query({ text: SPREAD, values: VALUES, rowMode: 'array' });
      const result = await runStatement(client, { statement: { text: SPREAD, values: VALUES }, ...LIMITS });
      expect(result.rows).toEqual(expected.rows);
      expect(result.fields).toEqual(expected.fields);
      expect(result.rowCount).toBe(1);
      expect(result.command).toBe('SELECT');
      expect(result.truncated).toBe(false);
    });
  });

  it('the same fields for table columns (their table and column ids) and rows in order', async () => {
    await withSession(reader, async (client) => {
      const text = 'SELECT id, name, created_at FROM customers WHERE id <= $1 ORDER BY id';
      const expected = await client.query({ text, values: [25], rowMode: 'array' });
      const result = await runStatement(client, {
        prelude: READ_ONLY,
        statement: { text, values: [25] },
        epilogue: [{ text: 'COMMIT' }],
        stopsEarly: true,
        ...LIMITS,
      });
      expect(result.fields).toEqual(expected.fields);
      expect(result.fields[0]!.tableID).toBeGreaterThan(0);
      expect(result.rows).toEqual(expected.rows);
      expect(result.rowCount).toBe(25);
    });
  });

  it('a statement without rows: no fields, its command tag', async () => {
    await withSession(writer, async (client) => {
      const result = await runStatement(client, {
        statement: { text: `UPDATE ${table} SET id = id WHERE id < 0` },
        ...LIMITS,
      });
      expect(result).toMatchObject({ fields: [], rows: [], rowCount: 0, command: 'UPDATE', truncated: false });
    });
  });
});

describe('one round trip', () => {
  it('prelude, statement and epilogue go out as one WebSocket message', async () => {
    await withSession(reader, async (client) => {
      await runStatement(client, { statement: { text: 'SELECT 1' }, ...LIMITS });
      const { result, messages } = await sends(client, () =>
        runStatement(client, {
          prelude: [
            { text: 'BEGIN READ ONLY' },
            { text: 'SET LOCAL standard_conforming_strings = on' },
            { text: 'SET LOCAL statement_timeout = 5000' },
            { text: `DO $$ BEGIN IF clock_timestamp() < '2000-01-01' THEN RAISE EXCEPTION 'ended'; END IF; END $$` },
          ],
          statement: { text: 'SELECT $1::int + 1', values: [41] },
          epilogue: [{ text: 'COMMIT' }],
          stopsEarly: true,
          disposableSession: true,
          ...LIMITS,
        }),
      );
      expect(result.rows).toEqual([[42]]);
      expect(messages).toBe(1);
    });
  });

  it('a transaction of several statements goes out as one message too', async () => {
    await withSession(reader, async (client) => {
      const { result, messages } = await sends(client, () =>
        runPipeline(client, [
          { text: 'BEGIN READ ONLY' },
          { text: 'SELECT 1', result: LIMITS },
          { text: 'SET LOCAL statement_timeout = 5000' },
          { text: 'SELECT 2', result: LIMITS },
          { text: 'COMMIT' },
        ]),
      );
      expect(result.results.map((each) => each.rows)).toEqual([[[1]], [[2]]]);
      expect(result.sessionLost).toBe(false);
      expect(messages).toBe(1);
    });
  });
});

describe('row caps', () => {
  const series = (count: number) => ({ text: `SELECT g FROM generate_series(1, ${count}) g` });

  it('a statement that stops early returns exactly maxRows rows and says truncated when there are more', async () => {
    await withSession(reader, async (client) => {
      const cases = [
        [50, 10, 10, true],
        [50, 49, 49, true],
        [50, 50, 50, false],
        [50, 1000, 50, false],
      ] as const;
      for (const [count, maxRows, rows, truncated] of cases) {
        const result = await runStatement(client, {
          statement: series(count),
          maxRows,
          maxBytes: 1 << 20,
          stopsEarly: true,
        });
        expect(result.rows).toEqual(Array.from({ length: rows }, (_, i) => [i + 1]));
        expect(result.truncated).toBe(truncated);
        expect(result.rowCount).toBe(rows);
      }
    });
  });

  it('Postgres stops producing rows after maxRows + 1', async () => {
    await withSession(writer, async (client) => {
      const before = BigInt((await sequenceState()).last);
      const result = await runStatement(client, {
        statement: { text: `SELECT nextval('${sequence}') FROM generate_series(1, 5000)` },
        maxRows: 10,
        maxBytes: 1 << 20,
        stopsEarly: true,
      });
      expect(result.rows).toHaveLength(10);
      expect(result.truncated).toBe(true);
      expect(BigInt((await sequenceState()).last) - before).toBeLessThanOrEqual(11n);
    });
  });

  it('a statement run to the end keeps maxRows rows, drops the rest unread and counts them all', async () => {
    await withSession(writer, async (client) => {
      const result = await runStatement(client, {
        prelude: [{ text: 'BEGIN' }],
        statement: { text: `INSERT INTO ${table} SELECT g FROM generate_series(1, 50) g RETURNING id` },
        epilogue: [{ text: 'COMMIT' }],
        maxRows: 10,
        maxBytes: 1 << 20,
      });
      expect(result.rows).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1]));
      expect(result).toMatchObject({ rowCount: 50, command: 'INSERT', truncated: true });
      const count = await asAdmin(
        async (admin) => (await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n,
      );
      expect(count).toBeGreaterThanOrEqual(50);
    });
  });

  it('rows past maxBytes are dropped unread: the result is a prefix and the session stays', async () => {
    await withSession(reader, async (client) => {
      // Rows 1–9 are 1,012 bytes on the wire (5 header, 2 column count, 4 + 1 for g, 4 + 996 for the text): 9 fit in 10,000.
      const result = await runStatement(client, {
        prelude: READ_ONLY,
        statement: { text: `SELECT g, repeat('x', 996) FROM generate_series(1, 100) g` },
        epilogue: [{ text: 'COMMIT' }],
        maxRows: 1000,
        maxBytes: 10_000,
        stopsEarly: true,
        disposableSession: true,
      });
      expect(result.rows.map((row) => row[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(result).toMatchObject({ truncated: true, rowCount: 9, sessionLost: false });
      expect(isSessionLost(client)).toBe(false);
      expect((await runStatement(client, { statement: { text: 'SELECT 7' }, ...LIMITS })).rows).toEqual([[7]]);
    });
  });

  it('a disposable session past its allowance is cut: the rows so far, truncated, and the session gone', async () => {
    const client = await reader.connect();
    try {
      const result = await runStatement(client, {
        prelude: READ_ONLY,
        statement: { text: `SELECT g, repeat('x', 100000) FROM generate_series(1, 100) g` },
        epilogue: [{ text: 'COMMIT' }],
        maxRows: 1000,
        maxBytes: 300_000,
        stopsEarly: true,
        disposableSession: true,
      });
      expect(result.rows.map((row) => row[0])).toEqual([1, 2]);
      expect(result).toMatchObject({ truncated: true, sessionLost: true, rowCount: 2 });
      expect(isSessionLost(client)).toBe(true);
      const next = await rejection(runStatement(client, { statement: { text: 'SELECT 1' }, ...LIMITS }));
      expect(isConnectionLost(next)).toBe(true);
    } finally {
      await closeClient(client);
    }
    await withSession(reader, async (fresh) => {
      expect((await runStatement(fresh, { statement: { text: 'SELECT 1' }, ...LIMITS })).rows).toEqual([[1]]);
    });
  });

  it('a session that must not be lost drains instead of cutting', async () => {
    await withSession(reader, async (client) => {
      const result = await runStatement(client, {
        statement: { text: `SELECT g, repeat('x', 100000) FROM generate_series(1, 30) g` },
        maxRows: 1000,
        maxBytes: 300_000,
        stopsEarly: true,
      });
      expect(result.rows).toHaveLength(2);
      expect(result).toMatchObject({ truncated: true, sessionLost: false });
      expect((await runStatement(client, { statement: { text: 'SELECT 3' }, ...LIMITS })).rows).toEqual([[3]]);
    });
  });
});

describe('statement errors leave the session usable', () => {
  async function refused(client: PgClient, text: string, values: unknown[] = []) {
    const error = await rejection(
      runStatement(client, {
        prelude: READ_ONLY,
        statement: { text, values },
        epilogue: [{ text: 'COMMIT' }],
        ...LIMITS,
      }),
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect(isConnectionLost(error)).toBe(false);
    expect(isSessionLost(client)).toBe(false);
    await endTransaction(client, 'ROLLBACK');
    expect((await runStatement(client, { statement: { text: 'SELECT 5' }, ...LIMITS })).rows).toEqual([[5]]);
    return error as DatabaseError;
  }

  it('a syntax error: 42601 with its position in the statement, from the statement', async () => {
    await withSession(reader, async (client) => {
      const error = await refused(client, 'SELECT 1 FROM FROM');
      expect(error.code).toBe('42601');
      expect(error.position).toBe('15');
      expect(failedStep(error)).toBe(1);
    });
  });

  it('a permission error: 42501', async () => {
    await withSession(reader, async (client) => {
      expect((await refused(client, `SELECT pg_read_file('postgresql.conf')`)).code).toBe('42501');
    });
  });

  it('a division by zero after some rows arrived: 22012, none of them returned', async () => {
    await withSession(reader, async (client) => {
      expect((await refused(client, 'SELECT 10 / (3 - g) FROM generate_series(1, 5) g')).code).toBe('22012');
    });
  });

  it('a write in a read-only transaction: 25006', async () => {
    await withSession(writer, async (client) => {
      expect((await refused(client, `INSERT INTO ${table} VALUES (1)`)).code).toBe('25006');
    });
  });

  it('more parameters than placeholders: 08P01 is the statement refused, not a lost connection', async () => {
    await withSession(reader, async (client) => {
      const error = await refused(client, 'SELECT $1::int', [1, 2]);
      expect(error.code).toBe('08P01');
    });
  });

  it('COPY FROM STDIN as the last step fails (57014) and the session answers again', async () => {
    await withSession(writer, async (client) => {
      const error = await rejection(
        runStatement(client, { statement: { text: `COPY ${table} FROM STDIN` }, ...LIMITS }),
      );
      expect((error as DatabaseError).code).toBe('57014');
      expect(isConnectionLost(error)).toBe(false);
      expect((await runStatement(client, { statement: { text: 'SELECT 6' }, ...LIMITS })).rows).toEqual([[6]]);
    });
  });

  it('COPY FROM STDIN before other steps: Postgres refuses them (08P01) and ends the session, which is marked lost', async () => {
    const client = await writer.connect();
    try {
      const error = await rejection(
        runStatement(client, {
          prelude: [{ text: 'BEGIN' }],
          statement: { text: `COPY ${table} FROM STDIN` },
          epilogue: [{ text: 'COMMIT' }],
          ...LIMITS,
        }),
      );
      expect((error as DatabaseError).code).toBe('08P01');
      await expect.poll(() => isSessionLost(client)).toBe(true);
    } finally {
      await closeClient(client);
    }
  });

  it('a value the driver cannot serialize fails before anything is sent', async () => {
    await withSession(reader, async (client) => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const { result: error, messages } = await sends(client, () =>
        rejection(runStatement(client, { statement: { text: 'SELECT $1::jsonb', values: [circular] }, ...LIMITS })),
      );
      expect(error).toBeInstanceOf(TypeError);
      expect(messages).toBe(0);
      expect((await runStatement(client, { statement: { text: 'SELECT 8' }, ...LIMITS })).rows).toEqual([[8]]);
    });
  });
});

describe('a prelude that fails', () => {
  const windowCheck = (ended: boolean) => ({
    text: `DO $$ BEGIN IF ${ended} THEN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'window ended'; END IF; END $$`,
  });

  it('rejects with its error, and the statement never ran (its nextval did not happen)', async () => {
    await withSession(writer, async (client) => {
      const before = await sequenceState();
      const error = await rejection(
        runStatement(client, {
          prelude: [{ text: 'BEGIN' }, windowCheck(true)],
          statement: { text: `SELECT nextval('${sequence}')` },
          ...LIMITS,
        }),
      );
      expect((error as DatabaseError).code).toBe('P0001');
      expect(failedStep(error)).toBe(1);
      await endTransaction(client, 'ROLLBACK');
      expect(await sequenceState()).toEqual(before);

      // The same pipeline with the check passing does run the statement: the check is what stopped it.
      await runStatement(client, {
        prelude: [{ text: 'BEGIN' }, windowCheck(false)],
        statement: { text: `SELECT nextval('${sequence}')` },
        epilogue: [{ text: 'ROLLBACK' }],
        ...LIMITS,
      });
      expect(await sequenceState()).not.toEqual(before);
    });
  });
});

describe('transactions', () => {
  it('several statements and their results in one pipeline; COMMIT makes them visible', async () => {
    await withSession(writer, async (client) => {
      const { results } = await runPipeline(client, [
        { text: 'BEGIN' },
        { text: `INSERT INTO ${table} VALUES ($1), ($2) RETURNING id`, values: [9001, 9002], result: LIMITS },
        { text: `SELECT count(*)::int FROM ${table} WHERE id > 9000`, result: LIMITS },
      ]);
      expect(results.map((each) => each.rows)).toEqual([[[9001], [9002]], [[2]]]);
      const seen = async () =>
        asAdmin(
          async (admin) => (await admin.query(`SELECT count(*)::int AS n FROM ${table} WHERE id > 9000`)).rows[0].n,
        );
      expect(await seen()).toBe(0);
      await endTransaction(client, 'COMMIT');
      expect(await seen()).toBe(2);
    });
  });

  it('a read-only transaction’s COMMIT in the epilogue ends it in the same round trip', async () => {
    await withSession(reader, async (client) => {
      const inside = await runStatement(client, {
        prelude: [{ text: 'BEGIN READ ONLY' }, { text: 'SET LOCAL statement_timeout = 4321' }],
        statement: { text: 'SHOW statement_timeout' },
        epilogue: [{ text: 'COMMIT' }],
        ...LIMITS,
      });
      expect(inside.rows).toEqual([['4321ms']]);
      const after = await runStatement(client, { statement: { text: 'SHOW statement_timeout' }, ...LIMITS });
      expect(after.rows).toEqual([['2min']]);
    });
  });

  it('a ROLLBACK after a failed statement leaves the session ready for the next transaction', async () => {
    await withSession(writer, async (client) => {
      await rejection(
        runPipeline(client, [
          { text: 'BEGIN' },
          { text: `INSERT INTO ${table} VALUES (7001)`, result: LIMITS },
          { text: 'SELECT 1/0', result: LIMITS },
        ]),
      );
      await endTransaction(client, 'ROLLBACK');
      const { results } = await runPipeline(client, [
        { text: `SELECT count(*)::int FROM ${table} WHERE id = 7001`, result: LIMITS },
      ]);
      expect(results[0]!.rows).toEqual([[0]]);
    });
  });
});

describe('a session that is lost', () => {
  it('a backend terminated mid-statement rejects as a lost connection, and the session is marked lost', async () => {
    await withSession(reader, async (client) => {
      const running = rejection(runStatement(client, { statement: { text: 'SELECT pg_sleep(30)' }, ...LIMITS }));
      await asAdmin(async (admin) => {
        for (let tries = 0; tries < 100; tries++) {
          const { rows } = await admin.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%'`,
            [reader.role],
          );
          if (rows.length > 0) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error('the statement never showed up in pg_stat_activity');
      });
      const error = await running;
      expect(isConnectionLost(error)).toBe(true);
      await expect.poll(() => isSessionLost(client)).toBe(true);
    });
  });
});

describe('isConnectionLost', () => {
  it('tells statement errors from lost connections, failing closed on anything it does not know', () => {
    const statement = [
      { code: '42601' },
      { code: '08P01', severity: 'ERROR' },
      { code: '57014' },
      { code: '22012', severity: 'ERROR' },
      new AirlockError('db_error', 'refused'),
      new AirlockError('grant_expired', 'ended'),
    ];
    const lost = [
      { code: '08006' },
      { code: '08003' },
      { code: '57P01', severity: 'FATAL' },
      { code: '57P02' },
      { code: '57P03' },
      { code: '25P04', severity: 'FATAL' },
      { code: 'XX000', severity: 'PANIC' },
      { code: 'ECONNRESET' },
      { code: 42 },
      new Error('Connection terminated unexpectedly'),
      new AirlockError('unavailable', 'gone'),
      null,
      'text',
    ];
    for (const error of statement) expect(isConnectionLost(error), JSON.stringify(error)).toBe(false);
    for (const error of lost) expect(isConnectionLost(error), String(JSON.stringify(error))).toBe(true);
  });
});
