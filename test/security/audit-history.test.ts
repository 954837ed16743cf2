// Rewriting history through the audit table (issue 12, item 5), against the assembled app with the audit log
// wired as the composition root will wire it: deleting the newest events, or changing one and recomputing the
// plain sha256 chain, turns `verified` false with a reason, and `airlock audit --verify` exits 1.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashEvent, type StoredEvent } from '../../shared/audit/index.ts';
import { toItem } from '../../shared/store/dynamo.ts';
import { type OpenGrant, openGrant, query } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let stack: TestAirlock;
let configDir: string;

beforeAll(async () => {
  stack = await startTestAirlock();
  configDir = await mkdtemp(join(tmpdir(), 'airlock-history-'));
});
afterAll(async () => {
  await stack?.close();
  await rm(configDir, { recursive: true, force: true });
});

async function trail(grant: OpenGrant) {
  const response = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
  expect(response.status).toBe(200);
  return response.body as { events: StoredEvent[]; verified: boolean; reason?: string; head: unknown };
}

/** `airlock audit <id> --verify` as a user runs it. */
function verifyWithCli(grant: OpenGrant): Promise<{ code: number; stdout: string }> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value && !key.startsWith('AIRLOCK_')) env[key] = value;
  Object.assign(env, {
    AIRLOCK_URL: stack.baseUrl,
    AIRLOCK_CONFIG_DIR: configDir,
    AIRLOCK_TOKEN: grant.identity,
    NO_COLOR: '1',
  });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'airlock.mjs'), 'audit', grant.id, '--verify'], {
      cwd: ROOT,
      env,
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
  });
}

async function grantWithStatements(): Promise<OpenGrant> {
  const grant = await openGrant(stack);
  for (const id of [1, 2, 3])
    expect((await query(stack, grant.token, { sql: 'SELECT id FROM orders WHERE id = $1', params: [id] })).status).toBe(
      200,
    );
  return grant;
}

describe('the audit trail of a grant', () => {
  it('verifies while untouched, here and with airlock audit --verify', async () => {
    const grant = await grantWithStatements();
    const intact = await trail(grant);
    expect(intact).toMatchObject({ verified: true, head: { seq: 5 } });
    expect(intact.reason).toBeUndefined();
    const cli = await verifyWithCli(grant);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/audit chain verified: 5 events/);
  });

  it('does not verify once its newest event is deleted, and the CLI exits 1', async () => {
    const grant = await grantWithStatements();
    await dynamo().send(
      new DeleteItemCommand({ TableName: stack.tables.audit, Key: toItem({ grantId: grant.id, seq: 5 }) }),
    );
    const cut = await trail(grant);
    expect(cut.events.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect(cut.verified).toBe(false);
    expect(cut.reason).toBe('the chain ends at seq 4 but its head is seq 5: events were removed');
    const cli = await verifyWithCli(grant);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('audit chain does NOT verify: server: the chain ends at seq 4 but its head is seq 5');
  });

  it('does not verify once an event is changed and the plain chain recomputed, and the CLI exits 1', async () => {
    const grant = await grantWithStatements();
    const events = structuredClone((await trail(grant)).events);
    // Hide what the third statement read: a different row, hashes and links recomputed from there on.
    events[4]!.rowCount = 0;
    for (let i = 4; i < events.length; i++) {
      events[i]!.prevHash = i === 0 ? GENESIS_HASH : events[i - 1]!.hash;
      events[i]!.hash = hashEvent(events[i]!);
    }
    await dynamo().send(new PutItemCommand({ TableName: stack.tables.audit, Item: toItem(events[4]!) }));
    const rewritten = await trail(grant);
    expect(rewritten.events[4]).toMatchObject({ rowCount: 0 });
    expect(rewritten.verified).toBe(false);
    expect(rewritten.reason).toBe('event 5 does not carry the keyed hash of its content');
    const cli = await verifyWithCli(grant);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('audit chain does NOT verify: server: event 5 does not carry the keyed hash');
  });
});
