import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoHotPath, HotPathOperation } from '../../shared/store/hot-path.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { AUTO_WRITE_POLICY, expectStatementEvents, openGrant, ordersChecksum, query } from './fixtures.ts';

// The composition root sends the query path's per-statement store calls through the hot path; these tests count
// them, and break them, on the real app.
const calls: Record<HotPathOperation, number> = { GetItem: 0, PutItem: 0, UpdateItem: 0 };
let failing: HotPathOperation | null = null;

function watched(inner: DynamoHotPath): DynamoHotPath {
  const through = <I, O>(operation: HotPathOperation, call: (input: I) => Promise<O>) => {
    return (input: I): Promise<O> => {
      calls[operation]++;
      if (failing === operation) {
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
      }
      return call(input);
    };
  };
  return {
    getItem: through('GetItem', (input) => inner.getItem(input)),
    putItem: through('PutItem', (input) => inner.putItem(input)),
    updateItem: through('UpdateItem', (input) => inner.updateItem(input)),
    close: () => inner.close(),
  };
}

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: AUTO_WRITE_POLICY, hotPath: watched });
});
afterAll(async () => {
  await stack.close();
});

const reset = () => {
  for (const operation of Object.keys(calls) as HotPathOperation[]) calls[operation] = 0;
};

describe('the per-statement store calls', () => {
  it('a statement reads its grant, appends its event and moves the chain head, all on the hot path', async () => {
    const grant = await openGrant(stack);
    reset();
    const response = await query(stack, grant.token, { sql: 'SELECT 1 AS one' });
    expect(response.status).toBe(200);
    expect(calls.GetItem).toBeGreaterThanOrEqual(1);
    expect(calls.PutItem).toBeGreaterThanOrEqual(1);
    expect(calls.UpdateItem).toBeGreaterThanOrEqual(1);
    await expectStatementEvents(stack, grant, ['executed']);
  });

  it.each([
    ['GetItem', 'a grant read'],
    ['PutItem', 'an audit append'],
  ] as const)(
    '%s: %s that cannot reach the store fails closed: 503 unavailable, nothing changed',
    async (call, _what) => {
      const before = await ordersChecksum();
      const grant = await openGrant(stack, 'write');
      failing = call;
      try {
        const response = await query(stack, grant.token, { sql: "UPDATE orders SET status = 'refunded' WHERE id = 1" });
        expect(response.status).toBe(503);
        expect(response.body.error.code).toBe('unavailable');
      } finally {
        failing = null;
      }
      expect(await ordersChecksum()).toEqual(before);
    },
  );
});
