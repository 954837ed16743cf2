// The audit export on AWS, driven by a recorded DynamoDB stream batch of the audit table (fixtures/
// audit-stream-batch.json: two grants' hash-chained events as Lambda hands them over, and one MODIFY record).
// The table holds the same items, as it would behind a real stream.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type AttributeValue, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, verifyChain } from '../../shared/audit/index.ts';
import { assembleAuditExport, eventsOfBatch, exportStreamBatch, type StreamRecord } from '../../shared/export/index.ts';
import { noMetrics } from '../../shared/observe/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import type { TableNames } from '../../shared/store/tables.ts';
import { captureLogs } from '../observe/support.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';
import { dynamo, freshTables, secrets as infraSecrets } from '../support/infra.ts';
import { allSigned, type Receiver, startReceiver } from './support.ts';

const BATCH = JSON.parse(readFileSync(new URL('./fixtures/audit-stream-batch.json', import.meta.url), 'utf8')) as {
  Records: Array<StreamRecord & { dynamodb: { NewImage: Record<string, AttributeValue>; SequenceNumber: string } }>;
};
const INSERTS = BATCH.Records.filter((record) => record.eventName === 'INSERT');
const EVENTS = INSERTS.map((record) => unmarshall(record.dynamodb.NewImage) as AuditEvent);
const KEY = randomBytes(32).toString('hex');

let tables: TableNames;
let up: Receiver;
let down: Receiver;
const logs = captureLogs('info');

beforeAll(async () => {
  tables = await freshTables();
  for (const record of INSERTS)
    await dynamo().send(new PutItemCommand({ TableName: tables.audit, Item: record.dynamodb.NewImage }));
  up = await startReceiver();
  down = await startReceiver();
});

afterAll(async () => {
  await up?.close();
  await down?.close();
});

async function exporters(sinks: string) {
  const built = await assembleAuditExport({
    policy: parsePolicyText(`${DEMO_POLICY_TEXT}\nauditExport:\n  sinks:\n${sinks}`, 'stream policy'),
    secrets: {
      getJson: async (name) => (name === 'airlock/export/hook' ? { key: KEY } : infraSecrets().getJson(name)),
    },
    dynamo: dynamo(),
    tables,
    logger: logs.logger,
    metrics: noMetrics,
    files: false,
    retry: { attempts: 2, baseMs: 5, maxMs: 10 },
  });
  return built.exporters;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

const hook = (name: string, receiver: Receiver, format = 'airlock') =>
  `    - { type: webhook, name: ${name}, url: "${receiver.url}", secret: airlock/export/hook, format: ${format} }\n`;

describe('the stream fixture is a real audit stream', () => {
  it('holds two complete hash chains, and the export reads exactly its inserts', () => {
    const byGrant = groupBy(EVENTS, (event) => event.grantId);
    expect(byGrant.size).toBe(2);
    for (const chain of byGrant.values()) expect(verifyChain(chain)).toBe(true);
    const read = eventsOfBatch(BATCH, logs.logger);
    expect(read.map((event) => event.id)).toEqual(EVENTS.map((event) => event.id));
    expect(logs.lines().some((line) => line.msg.includes('changed other than by an insert'))).toBe(true);
  });
});

describe('exportStreamBatch', () => {
  it('delivers the batch in order, signed, and a redelivered batch (a Lambda retry) is not sent twice', async () => {
    const sinks = await exporters(hook('primary', up));
    expect(await exportStreamBatch(BATCH, { exporters: sinks, logger: logs.logger })).toEqual({
      batchItemFailures: [],
    });
    const ids = up.accepted().map((record) => record.id);
    expect([...ids].sort()).toEqual(EVENTS.map((event) => event.id).sort());
    // Per grant by seq, across grants by time.
    expect(ids).toEqual([...EVENTS].sort((a, b) => a.at.localeCompare(b.at)).map((event) => event.id));
    expect(ids).not.toContain(BATCH.Records.find((r) => r.eventName === 'MODIFY')!.eventID);
    expect(allSigned(up, KEY)).toBe(true);

    const again = await exporters(hook('primary', up));
    expect(await exportStreamBatch(BATCH, { exporters: again, logger: logs.logger })).toEqual({
      batchItemFailures: [],
    });
    expect(up.accepted()).toHaveLength(EVENTS.length);
  });

  it('reports the batch failed from its first record while a sink refuses it; the other sink gets no repeat', async () => {
    down.answer(503);
    const before = up.accepted().length;
    const sinks = await exporters(hook('steady', up) + hook('flaky', down));
    const failed = await exportStreamBatch(BATCH, { exporters: sinks, logger: logs.logger });
    expect(failed).toEqual({ batchItemFailures: [{ itemIdentifier: BATCH.Records[0]!.dynamodb!.SequenceNumber }] });
    expect(down.deliveries.length).toBeGreaterThan(0);
    expect(down.accepted()).toEqual([]);
    expect(up.accepted().length - before).toBe(EVENTS.length);

    // Lambda sends the same batch again; now the flaky sink answers.
    down.answer(200);
    expect(await exportStreamBatch(BATCH, { exporters: sinks, logger: logs.logger })).toEqual({
      batchItemFailures: [],
    });
    expect(
      down
        .accepted()
        .map((record) => record.id)
        .sort(),
    ).toEqual(EVENTS.map((event) => event.id).sort());
    expect(up.accepted().length - before).toBe(EVENTS.length);
  });

  it('fills a gap from the audit table when a batch skips part of a grant’s chain', async () => {
    const gapped = await startReceiver();
    try {
      const sinks = await exporters(hook('gapped', gapped));
      // The sink sees grant 1's seq 1-2, then a batch with its seq 4-5 (3 is missing) and grant 2's seq 3.
      const [first, second] = [BATCH.Records.slice(0, 2), BATCH.Records.slice(5, 8)];
      await exportStreamBatch({ Records: first }, { exporters: sinks, logger: logs.logger });
      await exportStreamBatch({ Records: second }, { exporters: sinks, logger: logs.logger });
      const seqs = groupBy(gapped.accepted(), (record) => record.grantId as string);
      expect(seqs.get(EVENTS[0]!.grantId)!.map((record) => record.seq)).toEqual([1, 2, 3, 4, 5]);
      // A grant the sink never saw starts where the sink first meets it (earlier events predate the sink).
      expect(seqs.get(EVENTS[2]!.grantId)!.map((record) => record.seq)).toEqual([3]);
    } finally {
      await gapped.close();
    }
  });

  it('sends OCSF with the connection of each grant', async () => {
    const ocsf = await startReceiver();
    try {
      await exportStreamBatch(BATCH, { exporters: await exporters(hook('ocsf', ocsf, 'ocsf')), logger: logs.logger });
      const statements = ocsf.accepted().filter((record) => record.class_uid === 6005);
      expect(statements).toHaveLength(2);
      for (const record of statements) expect(record).toMatchObject({ database: { name: 'shop' } });
    } finally {
      await ocsf.close();
    }
  });
});
