// Two databases whose tables share OIDs (one cloned from the other, as any two clusters may): the catalog answers
// per connection, and masking is right on both, through a real Airlock with one connection per database.
// Must never leave its databases behind (dropped WITH (FORCE) after the suite).

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogConnectionKey, catalogFor, createCatalogCache } from '../../shared/masking/catalog.ts';
import { buildMaskingPlan, type ResultField } from '../../shared/masking/plan.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import type { Policy } from '../../shared/policy/schema.ts';
import type { PgClient } from '../../shared/postgres/driver.ts';
import type { SecretSource } from '../../shared/secrets/index.ts';
import { parseOne } from '../../shared/sql/parse.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, secrets } from '../support/infra.ts';
import { adminSecret, dropMasking, dropMaskingRoles } from './support.ts';

const suffix = randomBytes(4).toString('hex');
const TEMPLATE = `oids_template_${suffix}`;
const LEFT = `oids_left_${suffix}`;
const RIGHT = `oids_right_${suffix}`;
const CONTACTS = ['ada@example.com', 'grace@example.org', 'linus@example.net'];

const masking: Policy['masking'] = {
  columns: [{ column: 'public.people.contact', strategy: 'email' }],
  detectors: [],
};

let left: PgClient;
let right: PgClient;
let oid: number;

beforeAll(async () => {
  const server = await adminClient('postgres');
  try {
    await server.query(`CREATE DATABASE ${TEMPLATE}`);
    const template = await adminClient(TEMPLATE);
    await template.query(
      `CREATE TABLE public.things (id int PRIMARY KEY, contact text);
       INSERT INTO public.things VALUES ${CONTACTS.map((contact, i) => `(${i + 1}, '${contact}')`).join(', ')}`,
    );
    await template.end();
    // Cloned databases keep their objects' OIDs: one table, one OID, two databases.
    await server.query(`CREATE DATABASE ${LEFT} TEMPLATE ${TEMPLATE}`);
    await server.query(`CREATE DATABASE ${RIGHT} TEMPLATE ${TEMPLATE}`);
  } finally {
    await server.end();
  }
  left = await adminClient(LEFT);
  right = await adminClient(RIGHT);
  // Left calls it people (masked by the policy); right keeps calling it things (not masked).
  await left.query('ALTER TABLE public.things RENAME TO people');
  const [a] = (await left.query(`SELECT 'public.people'::regclass::oid::int8 AS oid`)).rows;
  const [b] = (await right.query(`SELECT 'public.things'::regclass::oid::int8 AS oid`)).rows;
  expect(a.oid).toBe(b.oid);
  oid = Number(a.oid);
});

afterAll(async () => {
  await left?.end();
  await right?.end();
  const server = await adminClient('postgres');
  try {
    for (const database of [LEFT, RIGHT, TEMPLATE])
      await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  } finally {
    await server.end();
  }
});

const runOn = (client: PgClient) => async (sql: string, params: unknown[]) =>
  (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];

async function planOn(client: PgClient, lookup: ReturnType<typeof catalogFor>, sql: string) {
  const result = await client.query({ text: sql, rowMode: 'array' });
  const fields: ResultField[] = result.fields.map((field) => ({
    name: field.name,
    tableID: field.tableID,
    columnID: field.columnID,
    dataTypeID: field.dataTypeID,
  }));
  return buildMaskingPlan({ fields, statement: await parseOne(sql), masking, catalog: lookup });
}

describe('the catalog, per connection', () => {
  it('resolves one OID to each database’s own table, whichever is asked first', async () => {
    for (const order of [
      ['left', 'right'],
      ['right', 'left'],
    ]) {
      const cache = createCatalogCache();
      const lookups = {
        left: catalogFor(cache, catalogConnectionKey({ host: '127.0.0.1', port: 1, database: LEFT }), runOn(left)),
        right: catalogFor(cache, catalogConnectionKey({ host: '127.0.0.1', port: 1, database: RIGHT }), runOn(right)),
      };
      const seen: Record<string, unknown> = {};
      for (const side of order as Array<'left' | 'right'>) {
        const origins = await lookups[side].resolve([{ tableID: oid, columnID: 2 }]);
        seen[side] = origins.get(`${oid}:2`);
      }
      expect(seen).toEqual({
        left: [{ schema: 'public', table: 'people', column: 'contact' }],
        right: [{ schema: 'public', table: 'things', column: 'contact' }],
      });
    }
  });

  it('builds each database’s plan from its own catalog: masked on the left, not on the right', async () => {
    const cache = createCatalogCache();
    const leftLookup = catalogFor(cache, LEFT, runOn(left));
    const rightLookup = catalogFor(cache, RIGHT, runOn(right));
    for (let round = 0; round < 2; round++) {
      const onLeft = await planOn(left, leftLookup, 'SELECT id, contact FROM people');
      const onRight = await planOn(right, rightLookup, 'SELECT id, contact FROM things');
      expect(onLeft.columns.map((column) => column.strategy)).toEqual([null, 'email']);
      expect(onRight.columns.map((column) => column.strategy)).toEqual([null, null]);
    }
  });
});

describe('two connections on the two databases, through Airlock', () => {
  let stack: TestAirlock;
  const policyText = `
version: 1
publicUrl: http://127.0.0.1:8787
identity: { issuers: [ { issuer: http://127.0.0.1:8787/dev, audience: airlock, jwksUri: http://127.0.0.1:8787/dev/jwks.json } ] }
connections:
  left:  { adminSecret: test/left/admin,  profiles: { read: { memberOf: [pg_read_all_data], readOnly: true } } }
  right: { adminSecret: test/right/admin, profiles: { read: { memberOf: [pg_read_all_data], readOnly: true } } }
masking: { columns: [ { column: public.people.contact, strategy: email } ], detectors: [] }
rules:
  - { name: left, when: { subject: "agent:*" }, connection: left, access: read, maxTtl: 30m }
  - { name: right, when: { subject: "agent:*" }, connection: right, access: read, maxTtl: 30m }
`;

  beforeAll(async () => {
    parsePolicyText(policyText, 'two-database policy');
    const admin = await adminSecret();
    const shared = secrets();
    const twoDatabases: SecretSource = {
      async getJson(name) {
        if (name === 'test/left/admin') return { ...admin, dbname: LEFT };
        if (name === 'test/right/admin') return { ...admin, dbname: RIGHT };
        return shared.getJson(name);
      },
    };
    stack = await startTestAirlock({ policyText, secrets: twoDatabases });
  });

  afterAll(async () => {
    await stack?.close();
    if (stack) {
      await dropMasking(stack.rolePrefix, LEFT);
      await dropMaskingRoles(stack.rolePrefix);
    }
  });

  async function read(connection: 'left' | 'right', sql: string) {
    const identity = await stack.token(`agent:${connection}-${randomBytes(3).toString('hex')}`);
    const grant = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection, access: 'read', ttl: 300, reason: 'two databases with colliding OIDs' },
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    const response = await stack.call('POST', '/v1/query', { token: grant.body.token, body: { sql } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body as { columns: Array<{ name: string; masked: string | null }>; rows: unknown[][] };
  }

  it('masks the left database’s column by Postgres, whatever was read on the right before or after', async () => {
    const masked = CONTACTS.map((contact) => `${contact[0]}***${contact.slice(contact.indexOf('@'))}`);
    const first = await read('left', 'SELECT id, contact FROM people ORDER BY id');
    expect(first.columns.map((column) => column.masked)).toEqual([null, 'email']);
    expect(first.rows.map((row) => row[1])).toEqual(masked);
    const lineage = await read('left', 'SELECT id, upper(contact) AS c FROM people ORDER BY id');
    expect(lineage.rows.map((row) => row[1])).toEqual(['[REDACTED]', '[REDACTED]', '[REDACTED]']);
    // The right database's table has the same OID: it is read as what it is there (no raw value of the left leaks).
    const other = await read('right', 'SELECT id, contact FROM things ORDER BY id');
    expect(other.rows.map((row) => row[0])).toEqual([1, 2, 3]);
    const again = await read('left', 'SELECT id, contact FROM people ORDER BY id');
    expect(again.rows.map((row) => row[1])).toEqual(masked);
    expect(JSON.stringify([first, lineage, again])).not.toMatch(/ada@|grace@|linus@/);
  });
});
