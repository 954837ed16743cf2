// Masking plan rules (origin, view, lineage, detectors, fail closed) against a fake catalog, and applying plans.
// Must never stand in for the real catalog beyond this file: catalog.test.ts checks the SQL on Postgres.

import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import {
  applyMaskingPlan,
  buildMaskingPlan,
  type CatalogLookup,
  type ColumnOrigin,
  type MaskingPlan,
  type ResultField,
  type StatementFacts,
} from '../../shared/masking/plan.ts';
import { REDACTED } from '../../shared/masking/strategies.ts';
import type { Policy } from '../../shared/policy/schema.ts';

const CUSTOMERS = 16384;
const VIEW_CONTACT = 16400;
const VIEW_PUBLIC = 16410;
const ORDERS = 16420;
const CUSTOMER_COLUMNS = ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'country', 'created_at'];

const masking: Policy['masking'] = {
  columns: [
    { column: 'public.customers.email', strategy: 'email' },
    { column: 'public.customers.card_number', strategy: 'last4' },
    { column: 'public.customers.ssn', strategy: 'redact' },
    { column: 'public.customers.phone', strategy: 'hash' },
  ],
  detectors: ['email', 'credit_card', 'us_ssn'],
};

const customer = (column: string): ColumnOrigin => ({ schema: 'public', table: 'customers', column });

/** A catalog with public.customers, public.orders, a view over email (v_contact) and one over id/name (v_public). */
function fakeCatalog(overrides: Partial<CatalogLookup> = {}) {
  const calls = { resolve: 0, relationsInfo: 0 };
  const relations: Record<string, { schema: string; name: string; columns: string[]; dependsOn: ColumnOrigin[] }> = {
    customers: { schema: 'public', name: 'customers', columns: CUSTOMER_COLUMNS, dependsOn: [] },
    orders: { schema: 'public', name: 'orders', columns: ['id', 'customer_id', 'total'], dependsOn: [] },
    v_contact: {
      schema: 'public',
      name: 'v_contact',
      columns: ['id', 'name', 'email'],
      dependsOn: ['id', 'name', 'email'].map((c) => ({ ...customer(c), via: 'public.v_contact' })),
    },
    v_public: {
      schema: 'public',
      name: 'v_public',
      columns: ['id', 'name'],
      dependsOn: ['id', 'name'].map((c) => ({ ...customer(c), via: 'public.v_public' })),
    },
  };
  const catalog: CatalogLookup = {
    async resolve(fields) {
      calls.resolve++;
      const origins = new Map<string, ColumnOrigin[]>();
      for (const { tableID, columnID } of fields) {
        const key = `${tableID}:${columnID}`;
        if (tableID === CUSTOMERS && CUSTOMER_COLUMNS[columnID - 1])
          origins.set(key, [customer(CUSTOMER_COLUMNS[columnID - 1]!)]);
        else if (tableID === ORDERS && columnID <= 3)
          origins.set(key, [{ schema: 'public', table: 'orders', column: relations.orders!.columns[columnID - 1]! }]);
        else if (tableID === VIEW_CONTACT || tableID === VIEW_PUBLIC) {
          const view = tableID === VIEW_CONTACT ? relations.v_contact! : relations.v_public!;
          const column = view.columns[columnID - 1];
          origins.set(key, column ? [{ schema: 'public', table: view.name, column }, ...view.dependsOn] : []);
        } else origins.set(key, []);
      }
      return origins;
    },
    async relationsInfo(wanted) {
      calls.relationsInfo++;
      return wanted.flatMap((relation) => {
        const found = relations[relation.name];
        return found && (relation.schema === null || relation.schema === found.schema) ? [found] : [];
      });
    },
    // Functions in schema `app` stand for functions defined in the database; everything else is built in.
    async callsDatabaseFunctions(names) {
      return names.some((name) => name.startsWith('app.'));
    },
    ...overrides,
  };
  return { catalog, calls };
}

const field = (name: string, tableID = 0, columnID = 0): ResultField => ({ name, tableID, columnID, dataTypeID: 25 });
const customersField = (column: string, name = column) => field(name, CUSTOMERS, CUSTOMER_COLUMNS.indexOf(column) + 1);

function facts(partial: Partial<StatementFacts> = {}): StatementFacts {
  return { relations: [{ schema: null, name: 'customers' }], columns: [], wholeRowRefs: [], ...partial };
}

async function plan(
  fields: ResultField[],
  statement: StatementFacts,
  options: { catalog?: CatalogLookup; policy?: Policy['masking'] } = {},
) {
  return buildMaskingPlan({
    fields,
    statement,
    masking: options.policy ?? masking,
    catalog: options.catalog ?? fakeCatalog().catalog,
  });
}

const summary = (result: MaskingPlan) =>
  result.columns.map((column) => `${column.name}:${column.strategy ?? '-'}:${column.reason}`);

describe('origin', () => {
  it('masks each column by the strategy of the column it came from, through aliases', async () => {
    const result = await plan(
      [
        customersField('id'),
        customersField('name'),
        customersField('email', 'contact'),
        customersField('phone'),
        customersField('card_number', 'pan'),
        customersField('ssn'),
      ],
      facts({ wholeRowRefs: [null] }),
    );
    expect(summary(result)).toEqual([
      'id:-:none',
      'name:-:none',
      'contact:email:origin',
      'phone:hash:origin',
      'pan:last4:origin',
      'ssn:redact:origin',
    ]);
    expect(result.columns[2]).toEqual({
      name: 'contact',
      masked: 'email',
      strategy: 'email',
      detectors: false,
      enforced: false,
      reason: 'origin',
    });
  });

  it('leaves a non-sensitive column unmasked even when the statement touches sensitive ones', async () => {
    const result = await plan(
      [customersField('name')],
      facts({
        columns: [
          { table: null, name: 'name' },
          { table: null, name: 'ssn' },
        ],
      }),
    );
    expect(result.columns[0]).toEqual({
      name: 'name',
      masked: null,
      strategy: null,
      detectors: true,
      enforced: false,
      reason: 'none',
    });
  });

  it('matches policy names without regard to case', async () => {
    const policy: Policy['masking'] = {
      columns: [{ column: 'Public.Customers.SSN', strategy: 'null' }],
      detectors: [],
    };
    const result = await plan([customersField('ssn')], facts(), { policy });
    expect(summary(result)).toEqual(['ssn:null:origin']);
  });

  it('does not ask the catalog for names when every column has an origin', async () => {
    const { catalog, calls } = fakeCatalog();
    await plan([customersField('email')], facts(), { catalog });
    expect(calls).toEqual({ resolve: 1, relationsInfo: 0 });
  });
});

describe('views', () => {
  it('masks a view column that depends on a sensitive column (reason view)', async () => {
    const result = await plan(
      [field('email', VIEW_CONTACT, 3), field('name', VIEW_CONTACT, 2)],
      facts({ relations: [{ schema: null, name: 'v_contact' }] }),
    );
    expect(summary(result)).toEqual(['email:email:view', 'name:email:view']);
  });

  it('uses redact when the sensitive columns behind a view disagree', async () => {
    const mixed: CatalogLookup = {
      ...fakeCatalog().catalog,
      async resolve() {
        return new Map([
          [
            `${VIEW_CONTACT}:1`,
            [
              { schema: 'public', table: 'v_mix', column: 'x' },
              { ...customer('email'), via: 'public.v_mix' },
              { ...customer('card_number'), via: 'public.v_mix' },
            ],
          ],
        ]);
      },
    };
    const result = await plan([field('x', VIEW_CONTACT, 1)], facts(), { catalog: mixed });
    expect(summary(result)).toEqual(['x:redact:view']);
  });

  it('leaves a view over non-sensitive columns alone', async () => {
    const result = await plan(
      [field('id', VIEW_PUBLIC, 1), field('name', VIEW_PUBLIC, 2)],
      facts({ relations: [{ schema: null, name: 'v_public' }] }),
    );
    expect(summary(result)).toEqual(['id:-:none', 'name:-:none']);
  });

  it('prefers a strategy configured on the view column itself (reason origin)', async () => {
    const policy: Policy['masking'] = {
      columns: [...masking.columns, { column: 'public.v_contact.name', strategy: 'hash' }],
      detectors: [],
    };
    const result = await plan([field('name', VIEW_CONTACT, 2)], facts(), { policy });
    expect(summary(result)).toEqual(['name:hash:origin']);
  });
});

describe('lineage', () => {
  const expression = [field('upper')];

  it('redacts an expression over a sensitive column', async () => {
    const result = await plan(expression, facts({ columns: [{ table: 'c', name: 'email' }] }));
    expect(result.columns[0]).toEqual({
      name: 'upper',
      masked: 'redact',
      strategy: 'redact',
      detectors: false,
      enforced: false,
      reason: 'lineage',
    });
  });

  it('counts an unqualified name that is sensitive in any referenced relation', async () => {
    const statement = facts({
      relations: [
        { schema: null, name: 'orders' },
        { schema: null, name: 'customers' },
      ],
      columns: [{ table: null, name: 'SSN' }],
    });
    expect(summary(await plan(expression, statement))).toEqual(['upper:redact:lineage']);
  });

  it.each([
    ['row_to_json(c)', ['c']],
    ['SELECT * in a UNION', [null]],
  ])('redacts a whole-row reference to a table with a sensitive column (%s)', async (_case, wholeRowRefs) => {
    expect(summary(await plan([field('row_to_json')], facts({ wholeRowRefs })))).toEqual([
      'row_to_json:redact:lineage',
    ]);
  });

  it('redacts any expression over a view that depends on a sensitive column', async () => {
    const statement = facts({
      relations: [{ schema: null, name: 'v_contact' }],
      columns: [{ table: null, name: 'id' }],
    });
    expect(summary(await plan([field('id_text')], statement))).toEqual(['id_text:redact:lineage']);
  });

  it('redacts a column whose origin the catalog cannot resolve (fail closed)', async () => {
    const result = await plan(
      [field('mystery', 99999, 1), customersField('name')],
      facts({ columns: [{ table: null, name: 'ssn' }] }),
    );
    expect(summary(result)).toEqual(['mystery:redact:lineage', 'name:-:none']);
  });

  it('redacts the result of a function defined in the database: its body may read anything', async () => {
    const statement = facts({ relations: [], columns: [], functions: ['app.lookup'] });
    expect(summary(await plan([field('lookup')], statement))).toEqual(['lookup:redact:lineage']);
    const builtIn = facts({ relations: [], columns: [], functions: ['lower', 'now'] });
    expect(summary(await plan([field('lower')], builtIn))).toEqual(['lower:-:none']);
  });

  it('knows sensitive tables from the policy even when the catalog does not', async () => {
    const blind: CatalogLookup = { ...fakeCatalog().catalog, relationsInfo: async () => [] };
    const result = await plan(expression, facts({ columns: [{ table: null, name: 'card_number' }] }), {
      catalog: blind,
    });
    expect(summary(result)).toEqual(['upper:redact:lineage']);
  });

  it.each<[string, Partial<StatementFacts>]>([
    ['count(*) over customers', { columns: [] }],
    [
      'an expression over non-sensitive columns',
      {
        columns: [
          { table: null, name: 'name' },
          { table: 'c', name: 'country' },
        ],
      },
    ],
    [
      'a sensitive column name of a table that is not referenced',
      {
        relations: [{ schema: null, name: 'orders' }],
        columns: [{ table: null, name: 'email' }],
        wholeRowRefs: [null],
      },
    ],
    [
      'a schema other than the configured one',
      { relations: [{ schema: 'archive', name: 'customers' }], columns: [{ table: null, name: 'email' }] },
    ],
    ['a view over non-sensitive columns', { relations: [{ schema: null, name: 'v_public' }], wholeRowRefs: [null] }],
  ])('leaves %s alone', async (_case, partial) => {
    const result = await plan(expression, facts(partial));
    expect(result.columns[0]).toEqual({
      name: 'upper',
      masked: null,
      strategy: null,
      detectors: true,
      enforced: false,
      reason: 'none',
    });
  });
});

describe('detectors and the empty policy', () => {
  it('scans only columns without a whole-column strategy, and only when detectors are configured', async () => {
    const withDetectors = await plan([customersField('name'), customersField('email')], facts());
    expect(withDetectors.columns.map((column) => column.detectors)).toEqual([true, false]);
    const without = await plan([customersField('name')], facts(), {
      policy: { columns: masking.columns, detectors: [] },
    });
    expect(without.columns[0]?.detectors).toBe(false);
  });

  it('asks the catalog nothing when no column is configured', async () => {
    const { catalog, calls } = fakeCatalog();
    const result = await plan([customersField('ssn'), field('x')], facts({ wholeRowRefs: [null] }), {
      catalog,
      policy: { columns: [], detectors: ['email'] },
    });
    expect(summary(result)).toEqual(['ssn:-:none', 'x:-:none']);
    expect(calls).toEqual({ resolve: 0, relationsInfo: 0 });
  });
});

describe('fail closed', () => {
  it.each<[string, Partial<CatalogLookup>]>([
    ['resolve', { resolve: () => Promise.reject(new Error('connection reset')) }],
    ['relationsInfo', { relationsInfo: () => Promise.reject(new Error('connection reset')) }],
  ])('turns a failing catalog (%s) into unavailable', async (_case, overrides) => {
    const { catalog } = fakeCatalog(overrides);
    const error = await plan([customersField('email'), field('upper')], facts(), { catalog }).catch(
      (caught: unknown) => caught,
    );
    expect(isAirlockError(error, 'unavailable')).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});

describe('applyMaskingPlan', () => {
  const hashKey = 'plan-test-hash-key-0123';
  const options = { hashKey, detectors: masking.detectors };

  it('masks whole columns by strategy and scans the others', async () => {
    const result = await plan(
      [
        customersField('name'),
        customersField('email'),
        customersField('card_number'),
        customersField('ssn'),
        customersField('phone'),
        field('note'),
      ],
      facts(),
    );
    const rows = [
      [
        'Ada Lovelace',
        'ada@example.com',
        '4242424242424242',
        '123-45-6789',
        '+1-415-555-2671',
        'reach me at ada@example.org, ssn 123-45-6789',
      ],
      [null, null, null, null, null, null],
    ];
    const masked = applyMaskingPlan(result, rows, options);
    expect(masked[0]).toEqual([
      'Ada Lovelace',
      'a***@example.com',
      '************4242',
      REDACTED,
      expect.stringMatching(/^hash:[0-9a-f]{16}$/),
      `reach me at a***@example.org, ssn ${REDACTED}`,
    ]);
    expect(masked[1]).toEqual([null, null, null, null, null, null]);
  });

  it('returns new rows and leaves its input alone', async () => {
    const result = await plan([customersField('ssn')], facts());
    const rows = [['123-45-6789']];
    const masked = applyMaskingPlan(result, rows, options);
    expect(rows).toEqual([['123-45-6789']]);
    expect(masked).not.toBe(rows);
    expect(masked[0]).not.toBe(rows[0]);
  });

  it('redacts lineage columns whole, whatever their type', async () => {
    const result = await plan([field('row_to_json')], facts({ wholeRowRefs: ['c'] }));
    expect(applyMaskingPlan(result, [[{ name: 'Ada', ssn: '123-45-6789' }], [[1, 2]]], options)).toEqual([
      [REDACTED],
      [REDACTED],
    ]);
  });

  it('walks JSON values in scanned columns', async () => {
    const result = await plan([field('doc')], facts({ relations: [{ schema: null, name: 'orders' }] }));
    expect(applyMaskingPlan(result, [[{ contact: 'ada@example.com', n: 1 }]], options)).toEqual([
      [{ contact: 'a***@example.com', n: 1 }],
    ]);
  });

  it('scans nothing when no detectors are passed', async () => {
    const result = await plan([customersField('name')], facts());
    expect(applyMaskingPlan(result, [['ada@example.com']], { hashKey, detectors: [] })).toEqual([['ada@example.com']]);
  });

  it('refuses rows that do not fit the plan', async () => {
    const result = await plan([customersField('name'), customersField('ssn')], facts());
    for (const rows of [[['Ada']], [['Ada', '123-45-6789', 'extra']]]) {
      let caught: unknown;
      try {
        applyMaskingPlan(result, rows, options);
      } catch (error) {
        caught = error;
      }
      expect(isAirlockError(caught, 'internal')).toBe(true);
    }
  });

  it('needs a usable hash key only when a column is hashed', async () => {
    const hashed = await plan([customersField('phone')], facts());
    expect(() => applyMaskingPlan(hashed, [['+1-415-555-2671']], { hashKey: '', detectors: [] })).toThrow(/hash key/);
    const redacted = await plan([customersField('ssn')], facts());
    expect(applyMaskingPlan(redacted, [['123-45-6789']], { hashKey: '', detectors: [] })).toEqual([[REDACTED]]);
  });
});
