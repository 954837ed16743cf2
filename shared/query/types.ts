// Names of result column types: the common built-ins from a table, anything else from pg_type once.
// Only the type's name is looked up; it never reads data.

import type { CatalogQuery } from '../masking/index.ts';

const BUILTIN: Record<number, string> = {
  16: 'bool',
  17: 'bytea',
  18: 'char',
  19: 'name',
  20: 'int8',
  21: 'int2',
  23: 'int4',
  25: 'text',
  26: 'oid',
  114: 'json',
  142: 'xml',
  700: 'float4',
  701: 'float8',
  790: 'money',
  1000: 'bool[]',
  1005: 'int2[]',
  1007: 'int4[]',
  1009: 'text[]',
  1016: 'int8[]',
  1042: 'bpchar',
  1043: 'varchar',
  1082: 'date',
  1083: 'time',
  1114: 'timestamp',
  1184: 'timestamptz',
  1186: 'interval',
  1231: 'numeric[]',
  1266: 'timetz',
  1700: 'numeric',
  2249: 'record',
  2278: 'void',
  2950: 'uuid',
  3802: 'jsonb',
  3807: 'jsonb[]',
  705: 'unknown',
  869: 'inet',
  650: 'cidr',
};

const looked = new Map<number, string>();

export async function typeName(oid: number, run: CatalogQuery): Promise<string> {
  const known = BUILTIN[oid] ?? looked.get(oid);
  if (known) return known;
  const rows = await run('SELECT format_type($1::oid, NULL)', [oid]);
  const name = typeof rows[0]?.[0] === 'string' ? (rows[0][0] as string) : `oid:${oid}`;
  if (looked.size < 10_000) looked.set(oid, name);
  return name;
}
