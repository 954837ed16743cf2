// Sweeper failures say what happened: a role that cannot be dropped (it owns a table in another database)
// is recorded with its grant, role and cause, logged on the run's one line, counted, and fails the run —
// in-process and through the Lambda handler.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { assertSwept, observeSweep } from '../../shared/observe/index.ts';
import { closeClient, type PgClient } from '../../shared/postgres/driver.ts';
import { createPrometheusMetrics } from '../../shared/prometheus/index.ts';
import { openGrant } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, infra } from '../support/infra.ts';
import { captureLogs } from './support.ts';

let stack: TestAirlock;
let elsewhere: PgClient;
const table = `held_${randomBytes(4).toString('hex')}`;
const logs = captureLogs('debug');
const metrics = createPrometheusMetrics({ processMetrics: false });

beforeAll(async () => {
  stack = await startTestAirlock();
  elsewhere = await adminClient('postgres');
});

afterAll(async () => {
  await elsewhere?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
  await closeClient(elsewhere);
  await stack?.airlock.sweep();
  await stack?.close();
});

describe('a sweep that cannot drop a role', () => {
  let grant: { id: string; role: string };

  it('records the grant, the role and the cause, logs them on one error line, and counts the failure', async () => {
    const opened = await openGrant(stack, { ttl: 60, subject: 'agent:stuck' });
    grant = { id: opened.id, role: stack.roleOf(opened.id) };
    // Objects in another database: DROP OWNED in the connection's database cannot remove them.
    await elsewhere.query(`CREATE TABLE ${table} (id int); ALTER TABLE ${table} OWNER TO "${grant.role}"`);
    stack.clock.advance(61);

    const report = await observeSweep(() => stack.airlock.sweep(), { logger: logs.logger, metrics });
    expect(report.failures).toEqual([
      expect.objectContaining({ step: 'expire', connection: 'shop', grantId: grant.id, role: grant.role }),
    ]);
    expect(report.errors).toBe(1);
    const line = logs.lines().find((l) => String(l.msg).startsWith('sweep:'))!;
    expect(line).toMatchObject({
      level: 'error',
      msg: expect.stringContaining('1 failed'),
      errors: 1,
      failures: [
        {
          step: 'expire',
          grantId: grant.id,
          role: grant.role,
          cause: {
            name: 'AirlockError',
            message: 'the role still has objects or privileges in another database',
            cause: { code: '2BP01', message: expect.stringContaining('cannot be dropped') },
          },
        },
      ],
    });
    expect(logs.lines().filter((l) => String(l.msg).startsWith('sweep:'))).toHaveLength(1);
    expect((await metrics.exposition!()).body).toContain('airlock_sweep_errors_total{step="expire"} 1');

    let thrown: unknown;
    try {
      assertSwept(report);
    } catch (error) {
      thrown = error;
    }
    expect(isAirlockError(thrown, 'unavailable')).toBe(true);
    expect((thrown as Error).message).toContain(`grant ${grant.id}`);
    expect((thrown as Error).message).toContain(`role ${grant.role}`);
  });

  it('the next run finds the role an orphan and fails again, naming it, until it can be dropped', async () => {
    const again = await observeSweep(() => stack.airlock.sweep(), { logger: logs.logger, metrics });
    expect(again.failures).toEqual([expect.objectContaining({ step: 'reap', grantId: grant.id, role: grant.role })]);
    expect(() => assertSwept(again)).toThrow(grant.role);
  });

  it('the Lambda handler throws when a step fails, so the invocation fails (here: a database it cannot reach)', async () => {
    await elsewhere.query(`DROP TABLE ${table}`);
    const previous = { ...process.env };
    // The function's own wiring, in this process: the demo policy's connection is reached through Neon's proxy
    // (no AIRLOCK_WS_PROXY), which does not exist here, so listing its roles fails.
    Object.assign(process.env, {
      AIRLOCK_STAGE: 'test',
      AIRLOCK_GRANTS_TABLE: stack.tables.grants,
      AIRLOCK_AUDIT_TABLE: stack.tables.audit,
      AIRLOCK_APPROVALS_TABLE: stack.tables.approvals,
      AIRLOCK_EXPORTS_TABLE: stack.tables.exports,
      AIRLOCK_POLICY: new URL('../../airlock.policy.yaml', import.meta.url).pathname,
      AIRLOCK_LOG: 'silent',
      AWS_REGION: 'eu-west-1',
      AIRLOCK_TEST_SECRETS_FILE: infra().secretsPath,
      AIRLOCK_TEST_DYNAMO_ENDPOINT: infra().dynamoEndpoint,
    });
    try {
      const { handler } = await import('../../functions/sweeper.ts');
      await expect(handler({}, { awsRequestId: 'sweep-1' } as never)).rejects.toThrow(
        /the sweep left 1 step\(s\) undone: connection/,
      );
    } finally {
      process.env = previous;
    }
  });
});
