// The schema as a grant's role should see it described: a masking view stands for the table it masks, with every
// column listed and the masked ones marked. Must never mark a column as plain when the policy masks it.

import type { MaskStrategy, Policy } from '../policy/index.ts';
import { AIRLOCK_MASKING_VIEW_SCHEMAS } from './names.ts';

export interface DescribedColumn {
  name: string;
  type: string;
  sensitive: MaskStrategy | null;
}

export interface DescribedTable {
  schema: string;
  table: string;
  columns: DescribedColumn[];
}

const MASKING_VIEW_SCHEMA = new RegExp(AIRLOCK_MASKING_VIEW_SCHEMAS);

/**
 * Tables from `information_schema.columns` rows (`[schema, table, column, type]`, read as the grant's role, the
 * masking schema included). The role reads a masked table's plain columns under its own name and all of them
 * through its masking view: the view's full column list replaces the table's, under the table's name.
 */
export function describeTables(
  rows: ReadonlyArray<readonly [string, string, string, string]>,
  masking: Pick<Policy['masking'], 'columns'>,
): DescribedTable[] {
  const sensitive = new Map(masking.columns.map((entry) => [entry.column.toLowerCase(), entry.strategy]));
  const maskedTables = masking.columns.map((entry) => entry.column.toLowerCase().split('.').slice(0, 2).join('.'));
  const tables = new Map<string, DescribedTable>();
  const masked = new Map<string, Array<readonly [string, string, string, string]>>();
  for (const row of rows) {
    const [schema, table] = row;
    if (MASKING_VIEW_SCHEMA.test(schema)) {
      masked.set(table, [...(masked.get(table) ?? []), row]);
      continue;
    }
    const key = `${schema}.${table}`;
    if (!tables.has(key)) tables.set(key, { schema, table, columns: [] });
    tables.get(key)!.columns.push(describedColumn(row, schema, sensitive));
  }
  for (const [table, columns] of masked) {
    // The view masks the policy's table of that name that its role reads unqualified (the search path's first).
    const listed = [...tables.values()].find(
      (entry) => entry.table === table && maskedTables.includes(`${entry.schema}.${entry.table}`.toLowerCase()),
    );
    const schema =
      listed?.schema ??
      maskedTables.find((name) => name.endsWith(`.${table.toLowerCase()}`))?.split('.')[0] ??
      'public';
    tables.set(`${schema}.${table}`, {
      schema,
      table,
      columns: columns.map((row) => describedColumn(row, schema, sensitive)),
    });
  }
  return [...tables.values()];
}

function describedColumn(
  [, table, column, type]: readonly [string, string, string, string],
  schema: string,
  sensitive: Map<string, MaskStrategy>,
): DescribedColumn {
  return { name: column, type, sensitive: sensitive.get(`${schema}.${table}.${column}`.toLowerCase()) ?? null };
}
