// The audit export to a webhook, against a real Airlock and a receiver on loopback: every event exactly once
// and in order when all is well, at least once and without a gap when the receiver fails for a while or the
// exporter is restarted mid-stream; every delivery signed. The loop reads the audit table's own time index
// (listByTime), as the local stack's loop does.

import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, createDynamoAuditLog } from '../../shared/audit/index.ts';
import { assembleAuditExport, type ExportLoop, startExportLoop } from '../../shared/export/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { createPrometheusMetrics } from '../../shared/prometheus/index.ts';
import type { SecretSource } from '../../shared/secrets/index.ts';
import { captureLogs } from '../observe/support.ts';
import { openGrant, query } from '../query/fixtures.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, secrets as infraSecrets } from '../support/infra.ts';
import { allEvents, allSigned, type Receiver, startReceiver } from './support.ts';

const KEY = randomBytes(32).toString('hex');
const HEC_TOKEN = `Splunk ${randomBytes(8).toString('hex')}`;
const secrets: SecretSource = {
  getJson: async (name) =>
    name === 'airlock/export/siem' ? { key: KEY, headers: { Authorization: HEC_TOKEN } } : infraSecrets().getJson(name),
};

let stack: TestAirlock;
let receiver: Receiver;
let file: string;
const logs = captureLogs('info');
const metrics = createPrometheusMetrics({ processMetrics: false });

beforeAll(async () => {
  stack = await startTestAirlock();
  receiver = await startReceiver();
  file = join(tmpdir(), `airlock-export-${randomBytes(4).toString('hex')}.jsonl`);
});

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
  await rm(file, { force: true });
});

function exportPolicy(sinks: string) {
  return parsePolicyText(`${DEMO_POLICY_TEXT}\nauditExport:\n  sinks:\n${sinks}`, 'export policy');
}

async function exporter(options: { pageSize?: number; maxPerRound?: number; sinks?: string } = {}) {
  const built = await assembleAuditExport({
    policy: exportPolicy(
      options.sinks ??
        `    - { type: webhook, name: siem, url: "${receiver.url}", secret: airlock/export/siem, batchSize: 7 }\n`,
    ),
    secrets,
    dynamo: dynamo(),
    tables: stack.tables,
    logger: logs.logger,
    metrics,
    files: true,
    retry: { attempts: 2, baseMs: 5, maxMs: 10 },
  });
  const loop = startExportLoop({
    timeline: createDynamoAuditLog({ client: dynamo(), table: stack.tables.audit }),
    exporters: built.exporters,
    cursors: built.cursors,
    logger: logs.logger,
    intervalMs: 50,
    settleMs: 1000,
    overlapMs: 5000,
    maxBackoffMs: 200,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    ...(options.maxPerRound ? { maxPerRound: options.maxPerRound } : {}),
  });
  return { loop, built };
}

/** A few grants' worth of traffic: executed, blocked and failed statements, a revocation. */
async function traffic(tag: string): Promise<void> {
  for (let n = 0; n < 2; n++) {
    const grant = await openGrant(stack, { subject: `agent:export-${tag}-${n}` });
    expect((await query(stack, grant.token, { sql: 'SELECT id FROM orders WHERE id < $1', params: [5] })).status).toBe(
      200,
    );
    expect((await query(stack, grant.token, { sql: 'DROP TABLE orders' })).status).toBe(403);
    expect((await query(stack, grant.token, { sql: 'SELECT nope FROM orders' })).status).toBe(400);
    if (n === 0)
      expect((await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity })).status).toBe(200);
  }
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the export');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const idsOf = (records: Array<Record<string, unknown>>) => records.map((record) => record.id as string);

/** No gap: per grant, the first time each seq arrives is 1, 2, 3 … in that order. */
function expectNoGap(records: Array<Record<string, unknown>>, table: AuditEvent[]) {
  const seen = new Map<string, number>();
  for (const record of records) {
    const grantId = record.grantId as string;
    const seq = record.seq as number;
    const last = seen.get(grantId) ?? 0;
    if (seq <= last) continue; // a repeat: allowed at least once
    expect(seq, `grant ${grantId} went from ${last} to ${seq}`).toBe(last + 1);
    seen.set(grantId, seq);
  }
  for (const event of table) expect(seen.get(event.grantId) ?? 0).toBeGreaterThanOrEqual(event.seq);
}

/** In order: per grant by seq (strictly, when exactly once) and across grants by time. */
function expectInOrder(records: Array<Record<string, unknown>>) {
  for (let i = 1; i < records.length; i++) {
    expect(
      (records[i]!.at as string) >= (records[i - 1]!.at as string),
      `${records[i]!.id} after ${records[i - 1]!.id}`,
    ).toBe(true);
  }
}

let loop: ExportLoop | undefined;

describe('audit export to a webhook', () => {
  it('delivers every event exactly once, in order, signed, with the secret headers, while traffic runs', async () => {
    ({ loop } = await exporter());
    await traffic('normal');
    const table = await allEvents(dynamo(), stack.tables.audit);
    await until(() => receiver.accepted().length >= table.length);
    await loop.runOnce();
    const accepted = receiver.accepted();
    expect(idsOf(accepted)).toEqual(table.map((event) => event.id));
    expect(new Set(idsOf(accepted)).size).toBe(accepted.length);
    expectInOrder(accepted);
    expectNoGap(accepted, table);
    expect(accepted).toEqual(table.map((event) => JSON.parse(JSON.stringify(event))));
    expect(receiver.deliveries.every((d) => d.records.length <= 7)).toBe(true);
    expect(allSigned(receiver, KEY)).toBe(true);
    expect(allSigned(receiver, 'another-key-another-key-another-key!')).toBe(false);
    expect(receiver.deliveries[0]!.headers).toMatchObject({
      authorization: HEC_TOKEN,
      'content-type': 'application/json',
      'user-agent': 'airlock-audit-export/1',
    });
    // One log line per batch, naming the sink, never the URL, its query or the secret's header.
    const batches = logs.lines().filter((line) => line.msg.startsWith('export: ') && line.sink === 'siem');
    expect(batches.length).toBe(receiver.deliveries.length);
    expect(logs.text()).not.toContain(receiver.url);
    expect(logs.text()).not.toContain('channel=audit');
    expect(logs.text()).not.toContain(HEC_TOKEN);
    expect(logs.text()).not.toContain(KEY);
    const exposition = (await metrics.exposition!()).body;
    expect(exposition).toContain(`airlock_export_events_total{sink="siem"} ${table.length}`);
    expect(exposition).toContain('airlock_export_lag_seconds{sink="siem"} 0');
  });

  it('keeps every event while the receiver answers 500, never holding up a query, and catches up with no gap', async () => {
    const before = receiver.deliveries.length;
    receiver.answer(500);
    const started = performance.now();
    await traffic('outage');
    const trafficMs = performance.now() - started;
    await until(() => receiver.deliveries.slice(before).filter((d) => d.status === 500).length >= 3);
    const tableDuring = await allEvents(dynamo(), stack.tables.audit);
    expect(receiver.accepted().length).toBeLessThan(tableDuring.length);
    expect(logs.lines().some((line) => line.level === 'error' && String(line.msg).includes('did not take'))).toBe(true);
    const lag = /airlock_export_lag_seconds\{sink="siem"\} ([0-9.e-]+)/.exec((await metrics.exposition!()).body)?.[1];
    expect(Number(lag)).toBeGreaterThan(0);

    receiver.answer(200);
    await traffic('recovered');
    const table = await allEvents(dynamo(), stack.tables.audit);
    await until(async () => new Set(idsOf(receiver.accepted())).size >= table.length);
    const accepted = receiver.accepted();
    expect(new Set(idsOf(accepted))).toEqual(new Set(table.map((event) => event.id)));
    expectNoGap(accepted, table);
    expect(allSigned(receiver, KEY)).toBe(true);
    console.log(`export/outage: ${trafficMs.toFixed(0)} ms of traffic while the sink was down`);
  });

  it('resumes from the last acknowledged event when the exporter is restarted mid-stream', async () => {
    await loop?.stop();
    const seen = receiver.accepted().length;
    await traffic('restart');
    // Past the loop's settle time, so the first round sees the new events.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // A first exporter that takes a few events per round, stopped after one round.
    const first = await exporter({ pageSize: 2, maxPerRound: 2 });
    await first.loop.stop();
    await first.loop.runOnce();
    const partial = receiver.accepted().length;
    const table = await allEvents(dynamo(), stack.tables.audit);
    expect(partial).toBeGreaterThan(seen);
    expect(partial).toBeLessThan(table.length);

    // A new process: nothing in memory, only the cursors in the store.
    const second = await exporter();
    loop = second.loop;
    await until(async () => new Set(idsOf(receiver.accepted())).size >= table.length);
    await loop.runOnce();
    const accepted = receiver.accepted();
    expect(new Set(idsOf(accepted))).toEqual(new Set(table.map((event) => event.id)));
    expectNoGap(accepted, table);
    // What the first exporter acknowledged is not sent again.
    const firstRun = new Set(idsOf(accepted.slice(seen, partial)));
    expect(idsOf(accepted.slice(partial)).filter((id) => firstRun.has(id))).toEqual([]);
    await loop.stop();
  });

  it('writes a JSON Lines file sink, exactly once, next to the webhook', async () => {
    const { loop: fileLoop } = await exporter({
      sinks: `    - { type: file, name: jsonl, path: "${file}" }\n`,
    });
    const table = await allEvents(dynamo(), stack.tables.audit);
    await until(async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').length > table.length);
    await fileLoop.stop();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as AuditEvent).id)).toEqual(table.map((event) => event.id));
  });
});
