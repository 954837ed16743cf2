// The plan of columns read through a masking view (origins the catalog marks `enforced`): reported with their
// strategy, never masked a second time, and masked by Node whenever the view does not do what the policy says.

import { describe, expect, it } from 'vitest';
import {
  applyMaskingPlan,
  buildMaskingPlan,
  type CatalogLookup,
  type ColumnOrigin,
} from '../../shared/masking/plan.ts';
import { createStrategy, REDACTED } from '../../shared/masking/strategies.ts';
import type { MaskStrategy, Policy } from '../../shared/policy/schema.ts';

const hashKey = 'h'.repeat(32);
const VIEW = 20000;
const COLUMNS = ['id', 'email', 'phone', 'ssn', 'note'];
const masking: Policy['masking'] = {
  columns: [
    { column: 'public.customers.email', strategy: 'email' },
    { column: 'public.customers.phone', strategy: 'hash' },
    { column: 'public.customers.ssn', strategy: 'redact' },
  ],
  detectors: ['email'],
};

/** A catalog whose masking view of public.customers applies `enforced` to the named columns. */
function catalogWith(enforced: Record<string, MaskStrategy>): CatalogLookup {
  return {
    async resolve(fields) {
      const origins = new Map<string, ColumnOrigin[]>();
      for (const { tableID, columnID } of fields) {
        const column = COLUMNS[columnID - 1];
        const strategy = column ? enforced[column] : undefined;
        origins.set(
          `${tableID}:${columnID}`,
          column ? [{ schema: 'public', table: 'customers', column, ...(strategy ? { enforced: strategy } : {}) }] : [],
        );
      }
      return origins;
    },
    async relationsInfo() {
      return [{ schema: 'public', name: 'customers', columns: COLUMNS, dependsOn: [] }];
    },
    async callsDatabaseFunctions() {
      return false;
    },
  };
}

const fields = COLUMNS.map((name, i) => ({ name, tableID: VIEW, columnID: i + 1, dataTypeID: 25 }));
const statement = { relations: [{ schema: null, name: 'customers' }], columns: [], wholeRowRefs: [null] };

describe('columns masked by Postgres', () => {
  it('are reported with their strategy and passed on as they are (a hash is not hashed again)', async () => {
    const plan = await buildMaskingPlan({
      fields,
      statement,
      masking,
      catalog: catalogWith({ email: 'email', phone: 'hash', ssn: 'redact' }),
    });
    expect(plan.columns.map((column) => [column.name, column.strategy, column.enforced, column.reason])).toEqual([
      ['id', null, false, 'none'],
      ['email', 'email', true, 'database'],
      ['phone', 'hash', true, 'database'],
      ['ssn', 'redact', true, 'database'],
      ['note', null, false, 'none'],
    ]);
    const hashed = createStrategy('hash', { hashKey })('+1 415 555 2671');
    const row = [1, 'a***@example.com', hashed, REDACTED, 'write to bob@example.com'];
    expect(applyMaskingPlan(plan, [row], { hashKey, detectors: masking.detectors })).toEqual([
      [1, 'a***@example.com', hashed, REDACTED, 'write to b***@example.com'],
    ]);
  });

  it('are masked by Node when the view is behind the policy (a passed-on column, another strategy)', async () => {
    const plan = await buildMaskingPlan({
      fields,
      statement,
      masking,
      catalog: catalogWith({ email: 'redact' }),
    });
    expect(plan.columns.map((column) => [column.name, column.strategy, column.enforced])).toEqual([
      ['id', null, false],
      ['email', 'email', false],
      ['phone', 'hash', false],
      ['ssn', 'redact', false],
      ['note', null, false],
    ]);
    const [masked] = applyMaskingPlan(plan, [[1, REDACTED, '+1 415 555 2671', '123-45-6789', 'n']], {
      hashKey,
      detectors: [],
    });
    expect(masked).toEqual([1, REDACTED, createStrategy('hash', { hashKey })('+1 415 555 2671'), REDACTED, 'n']);
  });

  it('are not reported as masked when the policy no longer masks them', async () => {
    const plan = await buildMaskingPlan({
      fields,
      statement,
      masking: { columns: [], detectors: [] },
      catalog: catalogWith({ email: 'email' }),
    });
    expect(plan.columns.every((column) => column.strategy === null && !column.enforced)).toBe(true);
  });
});
