import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/observe/index.ts';
import type { QueryPhase } from '../../shared/query/index.ts';
import { expectStatementEvents, openGrant, query } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';

// A fault in Airlock's own code on the query path, injected through the query profile hook (called inside each phase).
let failIn: QueryPhase | undefined;
let stack: TestAirlock;
/** The operators' log: kept out of the test output, and it must name the real cause. */
const logged: string[] = [];
const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });

beforeAll(async () => {
  stack = await startTestAirlock({
    observe: { logger },
    queryProfile: {
      record(phase) {
        if (phase === failIn) throw new TypeError('a mistake in Airlock’s own code');
      },
    },
  });
});
afterAll(async () => {
  await stack.close();
});

describe('an internal error on the query path', () => {
  it.each<QueryPhase>(['execute', 'mask'])(
    'in the %s phase: 500 internal (not 503 unavailable), audited as failed, the process serves on',
    async (phase) => {
      const grant = await openGrant(stack, 'read');
      failIn = phase;
      try {
        const response = await query(stack, grant.token, { sql: 'SELECT 1' });
        expect(response.status).toBe(500);
        expect(response.body.error).toMatchObject({ code: 'internal', message: 'internal error' });
      } finally {
        failIn = undefined;
      }
      expect(logged.at(-1)).toContain('a mistake in Airlock’s own code');
      const [event] = await expectStatementEvents(stack, grant, ['failed']);
      expect(event!.error).toMatchObject({ code: 'internal' });
      expect((await stack.call('GET', '/healthz')).status).toBe(200);
      expect((await query(stack, grant.token, { sql: 'SELECT 1' })).status).toBe(200);
    },
  );
});
