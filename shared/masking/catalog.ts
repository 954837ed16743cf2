// Catalog lookups for masking: result-column OIDs to schema.table.column, and what views depend on, per connection.
// Must never interpolate a value into SQL (everything is a bound parameter), never guess an origin, and never answer
// for one database from what another said (OIDs repeat across databases).

import { MaskStrategy } from '../policy/index.ts';
import { integer, text } from './catalog-row.ts';
import { AIRLOCK_MASKING_VIEW_SCHEMAS } from './names.ts';
import type { CatalogLookup, ColumnOrigin } from './plan.ts';

/** Runs one query with bound parameters; rows come back in array mode. */
export type CatalogQuery = (sql: string, params: unknown[]) => Promise<unknown[][]>;

interface RelationEntry {
  schema: string;
  name: string;
  /** attnum → attname, system columns included. */
  attributes: Map<number, string>;
  /** Base-table columns of a view/matview; null for a plain relation. */
  dependsOn: ColumnOrigin[] | null;
  /** An Airlock masking view: the relation it masks, and the strategy Postgres applies to each masked column. */
  masks?: { schema: string; table: string; enforced: Map<number, MaskStrategy> };
}

// A masking view is recognized by where it lives and who owns it (only that owner can write its descriptions):
// a view in an `airlock_…mask` schema owned by `<schema>_owner` (see names.ts and enforce.ts).
const RELATIONS_BY_OID = `
SELECT c.oid::int8, c.relkind::text, n.nspname::text, c.relname::text, a.attnum::int4, a.attname::text, m.masking,
       CASE WHEN m.masking IS NOT NULL AND a.attnum > 0 THEN pg_catalog.col_description(c.oid, a.attnum) END
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
  SELECT CASE WHEN c.relkind = 'v' AND n.nspname ~ $2 AND pg_catalog.pg_get_userbyid(c.relowner) = n.nspname || '_owner'
    THEN pg_catalog.obj_description(c.oid, 'pg_class') END AS masking) m
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
WHERE c.oid = ANY($1::oid[])`;

// Every base-table column a view's rewrite rule references, following nested views and matviews.
// pg_depend does not say which view column uses which base column, so each view column is taken to
// use all of them. A rule with a whole-row Var (`:varattno 0`) reads every column of what it depends on:
// pg_depend keeps no whole-relation entry once a column of that relation is also named (`c.id, row_to_json(c)`).
const VIEW_DEPENDENCIES = `
WITH RECURSIVE dep(root, relid, attnum) AS (
  SELECT r.ev_class, d.refobjid, CASE WHEN strpos(r.ev_action::text, ':varattno 0 ') > 0 THEN 0 ELSE d.refobjsubid::int4 END
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
  WHERE r.ev_class = ANY($1::oid[])
    AND (d.refobjsubid > 0 OR strpos(r.ev_action::text, ':varattno 0 ') > 0)
  UNION
  SELECT dep.root, d.refobjid, CASE WHEN strpos(r.ev_action::text, ':varattno 0 ') > 0 THEN 0 ELSE d.refobjsubid::int4 END
  FROM dep
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = dep.relid
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
  WHERE d.refobjsubid > 0 OR strpos(r.ev_action::text, ':varattno 0 ') > 0
)
SELECT DISTINCT dep.root::int8, n.nspname::text, c.relname::text, a.attname::text
FROM dep
JOIN pg_catalog.pg_class c ON c.oid = dep.relid AND c.relkind NOT IN ('v', 'm')
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = dep.relid AND NOT a.attisdropped
 AND (a.attnum = dep.attnum OR (dep.attnum = 0 AND a.attnum > 0))`;

// Views (through nested views) whose rules call a function defined in the database, not a built-in:
// its body may read anything, and neither pg_depend nor the result's field origins can say what.
const VIEWS_CALLING_FUNCTIONS = `
WITH RECURSIVE views(root, relid) AS (
  SELECT v, v FROM unnest($1::oid[]) AS v
  UNION
  SELECT views.root, d.refobjid
  FROM views
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = views.relid
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
  JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND c.relkind IN ('v', 'm')
)
SELECT DISTINCT views.root::int8
FROM views
JOIN pg_catalog.pg_rewrite r ON r.ev_class = views.relid
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
 AND d.refclassid = 'pg_catalog.pg_proc'::regclass
JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')`;

const DATABASE_FUNCTIONS = `
SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = ANY($1::text[]) AND n.nspname NOT IN ('pg_catalog', 'information_schema'))`;

// A relation named without a schema is looked up in every schema: the grant role's search_path is not known here.
const RELATIONS_BY_NAME = `
SELECT wanted.ord::int4, c.oid::int8
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS wanted(schema, name, ord)
JOIN pg_catalog.pg_class c ON c.relname = wanted.name
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE (wanted.schema IS NULL OR n.nspname = wanted.schema)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`;

const VIEW_KINDS = new Set(['v', 'm']);
const MAX_CACHED = 10_000;

/** What lookups remember, keyed by connection and OID (or name): share one per process, pass it explicitly. */
export interface CatalogCache {
  readonly ttlMs: number;
  now(): Date;
  readonly relations: Map<string, { entry: RelationEntry; expires: number }>;
  readonly names: Map<string, { oids: number[]; expires: number }>;
  readonly functions: Map<string, { opaque: boolean; expires: number }>;
}

export function createCatalogCache(options: { cacheTtlMs?: number; now?: () => Date } = {}): CatalogCache {
  return {
    ttlMs: options.cacheTtlMs ?? 60_000,
    now: options.now ?? (() => new Date()),
    relations: new Map(),
    names: new Map(),
    functions: new Map(),
  };
}

/** The database a lookup answers for: two policy connections to one database may share entries, nothing else does. */
export function catalogConnectionKey(target: { host: string; port: number; database: string }): string {
  return JSON.stringify([target.host.toLowerCase(), target.port, target.database]);
}

/**
 * A lookup on one database (`connection`, e.g. catalogConnectionKey of its target) through `run`, a session on
 * that database; `cache` is shared by every connection and keeps their entries apart.
 */
export function catalogFor(cache: CatalogCache, connection: string, run: CatalogQuery): CatalogLookup {
  const { ttlMs: ttl, now } = cache;
  const key = (part: string | number) => `${connection}\u0000${part}`;

  function fresh<T extends { expires: number }>(cached: T | undefined): T | undefined {
    return cached && cached.expires > now().getTime() ? cached : undefined;
  }

  function remember<V extends { expires: number }>(map: Map<string, V>, at: string, value: V): void {
    if (map.size >= MAX_CACHED) {
      const time = now().getTime();
      for (const [old, cached] of map) if (cached.expires <= time) map.delete(old);
      if (map.size >= MAX_CACHED) map.clear();
    }
    map.set(at, value);
  }

  async function relations(oids: readonly number[]): Promise<Map<number, RelationEntry>> {
    const found = new Map<number, RelationEntry>();
    const missing: number[] = [];
    for (const oid of new Set(oids)) {
      const cached = fresh(cache.relations.get(key(oid)));
      if (cached) found.set(oid, cached.entry);
      else missing.push(oid);
    }
    if (missing.length === 0) return found;

    const loaded = new Map<number, RelationEntry>();
    const views: number[] = [];
    for (const row of await run(RELATIONS_BY_OID, [missing, AIRLOCK_MASKING_VIEW_SCHEMAS])) {
      const oid = integer(row[0]);
      let entry = loaded.get(oid);
      if (!entry) {
        const masks = maskingViewOf(row[6]);
        const isView = VIEW_KINDS.has(text(row[1])) && !masks;
        entry = {
          schema: text(row[2]),
          name: text(row[3]),
          attributes: new Map(),
          dependsOn: isView ? [] : null,
          ...(masks ? { masks } : {}),
        };
        loaded.set(oid, entry);
        if (isView) views.push(oid);
      }
      if (row[4] !== null) {
        entry.attributes.set(integer(row[4]), text(row[5]));
        const strategy = maskedStrategyOf(row[7]);
        if (entry.masks && strategy) entry.masks.enforced.set(integer(row[4]), strategy);
      }
    }
    if (views.length > 0) {
      for (const row of await run(VIEW_DEPENDENCIES, [views])) {
        const entry = loaded.get(integer(row[0]));
        entry?.dependsOn?.push({
          schema: text(row[1]),
          table: text(row[2]),
          column: text(row[3]),
          via: `${entry.schema}.${entry.name}`,
        });
      }
      for (const row of await run(VIEWS_CALLING_FUNCTIONS, [views])) {
        const entry = loaded.get(integer(row[0]));
        entry?.dependsOn?.push({
          schema: entry.schema,
          table: entry.name,
          column: '*',
          via: `${entry.schema}.${entry.name}`,
          opaque: true,
        });
      }
    }
    const expires = now().getTime() + ttl;
    for (const [oid, entry] of loaded) {
      remember(cache.relations, key(oid), { entry, expires });
      found.set(oid, entry);
    }
    return found;
  }

  return {
    async callsDatabaseFunctions(names) {
      // The name's last part: `s.lookup` and `lookup` both count; a built-in shadowed by a database function counts too.
      const wanted = [...new Set(names.map((name) => name.slice(name.lastIndexOf('.') + 1)))].sort();
      if (wanted.length === 0) return false;
      const at = key(wanted.join(','));
      const cached = fresh(cache.functions.get(at));
      if (cached) return cached.opaque;
      const [row] = await run(DATABASE_FUNCTIONS, [wanted]);
      const opaque = row?.[0] === true;
      remember(cache.functions, at, { opaque, expires: now().getTime() + ttl });
      return opaque;
    },

    async resolve(fields) {
      const entries = await relations(fields.map((field) => field.tableID).filter((oid) => oid !== 0));
      const origins = new Map<string, ColumnOrigin[]>();
      for (const field of fields) {
        const entry = entries.get(field.tableID);
        const column = entry?.attributes.get(field.columnID);
        const at = `${field.tableID}:${field.columnID}`;
        if (!entry || column === undefined) origins.set(at, []);
        else if (entry.masks) {
          // A masking view's column is the masked relation's column, as Postgres already masked it (or passed it on).
          const enforced = entry.masks.enforced.get(field.columnID);
          origins.set(at, [
            { schema: entry.masks.schema, table: entry.masks.table, column, ...(enforced ? { enforced } : {}) },
          ]);
        } else origins.set(at, [{ schema: entry.schema, table: entry.name, column }, ...(entry.dependsOn ?? [])]);
      }
      return origins;
    },

    async relationsInfo(wanted) {
      const oids: number[] = [];
      const unknown: Array<{ schema: string | null; name: string }> = [];
      for (const relation of wanted) {
        const cached = fresh(cache.names.get(key(nameKey(relation))));
        if (cached) oids.push(...cached.oids);
        else unknown.push(relation);
      }
      if (unknown.length > 0) {
        const found = unknown.map((): number[] => []);
        const rows = await run(RELATIONS_BY_NAME, [
          unknown.map((relation) => relation.schema),
          unknown.map((relation) => relation.name),
        ]);
        for (const row of rows) found[integer(row[0]) - 1]?.push(integer(row[1]));
        const expires = now().getTime() + ttl;
        for (const [index, relation] of unknown.entries()) {
          remember(cache.names, key(nameKey(relation)), { oids: found[index] ?? [], expires });
        }
        oids.push(...found.flat());
      }
      const entries = await relations(oids);
      // A masking view stands for the relation it masks: its columns are that relation's, masked or not.
      return [...entries.values()].map((entry) => ({
        schema: entry.masks?.schema ?? entry.schema,
        name: entry.masks?.table ?? entry.name,
        columns: [...entry.attributes].filter(([attnum]) => attnum > 0).map(([, name]) => name),
        dependsOn: entry.dependsOn ?? [],
      }));
    },
  };
}

/** One database's lookup with a cache of its own: for a caller that only ever talks to one database. */
export function createCatalogLookup(
  run: CatalogQuery,
  options: { cacheTtlMs?: number; now?: () => Date } = {},
): CatalogLookup {
  return catalogFor(createCatalogCache(options), 'default', run);
}

/** The relation a masking view's description names (written by enforce.ts), or undefined. */
function maskingViewOf(description: unknown): RelationEntry['masks'] {
  if (typeof description !== 'string') return undefined;
  const parsed = parseJson(description) as { airlock?: unknown; of?: { schema?: unknown; table?: unknown } } | null;
  if (parsed?.airlock !== 'masking view') return undefined;
  const { schema, table } = parsed.of ?? {};
  if (typeof schema !== 'string' || typeof table !== 'string') return undefined;
  return { schema, table, enforced: new Map() };
}

function maskedStrategyOf(description: unknown): MaskStrategy | undefined {
  if (typeof description !== 'string') return undefined;
  const parsed = parseJson(description) as { airlock?: unknown; strategy?: unknown } | null;
  if (parsed?.airlock !== 'masked') return undefined;
  const strategy = MaskStrategy.safeParse(parsed.strategy);
  return strategy.success ? strategy.data : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function nameKey(relation: { schema: string | null; name: string }): string {
  return JSON.stringify([relation.schema, relation.name]);
}
