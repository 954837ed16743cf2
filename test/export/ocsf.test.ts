// OCSF output of the audit export: every kind of event a real Airlock writes becomes an OCSF 1.6.0 API Activity
// or Datastore Activity event that validates against the classes' required attributes (ajv, JSON Schema fixture).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventOf } from '../../shared/audit/index.ts';
import { assembleAuditExport, OCSF_VERSION, toOcsf } from '../../shared/export/index.ts';
import { noMetrics } from '../../shared/observe/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { decide, grantOf, grantRef, linkFor, requestWrite } from '../approvals/support.ts';
import { captureLogs } from '../observe/support.ts';
import { openGrant, query } from '../query/fixtures.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, secrets as infraSecrets } from '../support/infra.ts';
import { allEvents, allSigned, type Receiver, startReceiver } from './support.ts';

const schema = JSON.parse(readFileSync(new URL('./fixtures/ocsf-1.6.0.schema.json', import.meta.url), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
const KEY = randomBytes(32).toString('hex');

let stack: TestAirlock;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startTestAirlock();
  receiver = await startReceiver();
  // Every kind of event: requested, activated, approved (by a person), statements executed, blocked, failed
  // and held, revoked.
  const read = await openGrant(stack, { subject: 'agent:ocsf-read' });
  await query(stack, read.token, { sql: 'SELECT id, email FROM customers WHERE id < $1', params: [3] });
  await query(stack, read.token, { sql: 'DROP TABLE orders' });
  await query(stack, read.token, { sql: 'SELEC 1' });
  await query(stack, read.token, { sql: 'SELECT nope FROM orders' });
  await stack.call('DELETE', `/v1/grants/${read.id}`, { token: read.identity });
  const { grant, identity } = await requestWrite(stack, { subject: 'agent:ocsf-write' });
  await decide(await linkFor(stack, grantRef(grant.id), 'oncall@example.com'), 'approve');
  const write = await grantOf(stack, grant.id, identity);
  expect((await query(stack, write.token!, { sql: "UPDATE orders SET status = 'x'" })).status).toBe(202);
});

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

function errorsOf(record: unknown): string {
  validate(record);
  return JSON.stringify(validate.errors ?? []);
}

describe('OCSF 1.6.0 output', () => {
  it('maps every event a real Airlock wrote to a valid API Activity or Datastore Activity event', async () => {
    const events = await allEvents(dynamo(), stack.tables.audit);
    const types = new Set(
      events.map((event) => `${event.type}${event.type === 'statement' ? `:${event.decision}` : ''}`),
    );
    for (const kind of [
      'grant.requested',
      'grant.activated',
      'grant.approved',
      'grant.revoked',
      'statement:executed',
      'statement:blocked',
      'statement:failed',
      'statement:held',
    ])
      expect(types, kind).toContain(kind);
    for (const event of events) {
      const record = toOcsf(event, { connection: 'shop' });
      expect(validate(record), `${event.type}: ${errorsOf(record)}`).toBe(true);
      expect(record).toMatchObject({
        class_uid: event.type === 'statement' ? 6005 : 6003,
        time: Date.parse(event.at),
        metadata: { version: OCSF_VERSION, uid: event.id, event_code: event.type },
      });
      expect(record.type_uid).toBe((record.class_uid as number) * 100 + (record.activity_id as number));
      if (typeof event.requestId === 'string')
        expect((record.metadata as Record<string, unknown>).correlation_uid).toBe(event.requestId);
    }
  });

  it('names the statement, its decision and the database, never more SQL than the normalized text', async () => {
    const events = await allEvents(dynamo(), stack.tables.audit);
    const executed = events.find(
      (event): event is AuditEventOf<'statement'> => event.type === 'statement' && event.decision === 'executed',
    )!;
    expect(toOcsf(executed, { connection: 'shop' })).toMatchObject({
      activity_id: 4,
      activity_name: 'Query',
      status_id: 1,
      severity_id: 1,
      database: { name: 'shop', type_id: 1 },
      table: { name: 'customers' },
      query_info: { query_string: executed.normalizedSql, uid: executed.fingerprint },
      actor: { user: { uid: 'agent:ocsf-read' } },
    });
    const blocked = events.find((event) => event.type === 'statement' && event.decision === 'blocked')!;
    expect(toOcsf(blocked, { connection: 'shop' })).toMatchObject({
      status_id: 2,
      severity_id: 3,
      status_code: 'statement_blocked',
    });
    const approved = events.find((event) => event.type === 'grant.approved')!;
    expect(toOcsf(approved)).toMatchObject({ activity_id: 3, actor: { user: { uid: 'oncall@example.com' } } });
  });

  it('a webhook sink with format ocsf sends valid OCSF events, with the connection read from the chain', async () => {
    const built = await assembleAuditExport({
      policy: parsePolicyText(
        `${DEMO_POLICY_TEXT}\nauditExport:\n  sinks:\n    - { type: webhook, name: ocsf, url: "${receiver.url}", secret: airlock/export/ocsf, format: ocsf }\n`,
        'ocsf policy',
      ),
      secrets: {
        getJson: async (name) => (name === 'airlock/export/ocsf' ? { key: KEY } : infraSecrets().getJson(name)),
      },
      dynamo: dynamo(),
      tables: stack.tables,
      logger: captureLogs().logger,
      metrics: noMetrics,
      files: false,
    });
    const events = await allEvents(dynamo(), stack.tables.audit);
    // Statements only: the connection must come from each grant's chain, not from events in the same batch.
    const statements = events.filter((event) => event.type === 'statement');
    const report = await built.exporters[0]!.deliver(statements);
    expect(report).toMatchObject({ ok: true, delivered: statements.length });
    const records = receiver.accepted();
    expect(records).toHaveLength(statements.length);
    for (const record of records) {
      expect(validate(record), errorsOf(record)).toBe(true);
      expect(record).toMatchObject({ class_uid: 6005, database: { name: 'shop' } });
    }
    expect(allSigned(receiver, KEY)).toBe(true);
  });

  it('the schema check refuses what OCSF requires and a record would lack', async () => {
    const [event] = (await allEvents(dynamo(), stack.tables.audit)).filter((e) => e.type === 'statement');
    const record = toOcsf(event!, { connection: 'shop' });
    const without = (field: string) => Object.fromEntries(Object.entries(record).filter(([key]) => key !== field));
    for (const field of ['actor', 'src_endpoint', 'metadata', 'time', 'type_uid', 'severity_id'])
      expect(validate(without(field)), field).toBe(false);
    const nowhere = without('database');
    delete nowhere.table;
    expect(validate(nowhere)).toBe(false);
    expect(validate({ ...record, actor: {} })).toBe(false);
    expect(validate({ ...record, database: { type_id: 1 } })).toBe(false);
    const grantEvent = toOcsf(
      (await allEvents(dynamo(), stack.tables.audit)).find((e) => e.type === 'grant.requested')!,
    );
    expect(validate(grantEvent)).toBe(true);
    expect(validate({ ...grantEvent, api: {} })).toBe(false);
  });
});
