// Identifiers in logged SQL that name nothing real are redacted like literals: `WHERE ssn = "342-61-1387"` is a
// value a model wrote in double quotes, which the parser reads as a column name. Must never keep an identifier
// the resolver did not confirm, nor one the statement does not declare itself (an alias, a CTE).

import { createHmac } from 'node:crypto';
import { parseSync, scanSync } from './engine.ts';

const IDENT = 258;
const PARAM = 267;

/** Runs one read-only catalog query (the masking catalog's query function has this shape). */
export type CatalogQuery = (sql: string, params: unknown[]) => Promise<unknown[][]>;

/** Which of these names (as Postgres stores them: unquoted ones folded to lower case) exist in the database. */
export type IdentifierResolver = (names: readonly string[]) => Promise<ReadonlySet<string>>;

/** The name an identifier token stands for: quoted ones as written (quotes and doubled quotes undone), others lower-cased. */
function nameOf(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text.toLowerCase();
}

/** Aliases, CTE and column-alias names the statement declares: names it may use without the catalog knowing them. */
function declaredNames(sql: string): Set<string> {
  const names = new Set<string>();
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch {
    return names; // nothing declared can be trusted: every identifier goes to the resolver
  }
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(walk);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Record<string, unknown>;
    if (typeof node.aliasname === 'string') names.add(node.aliasname);
    if (typeof node.ctename === 'string') names.add(node.ctename);
    if (Array.isArray(node.colnames))
      for (const column of node.colnames) {
        const sval = (column as { String?: { sval?: unknown } }).String?.sval;
        if (typeof sval === 'string') names.add(sval);
      }
    const target = node.ResTarget as { name?: unknown } | undefined;
    if (typeof target?.name === 'string') names.add(target.name);
    Object.values(node).forEach(walk);
  };
  walk(tree);
  return names;
}

/**
 * `sql` (already normalized: literals are $n) with every identifier that neither the resolver confirms nor the
 * statement declares replaced by the next $n, as a literal would be. Call with SQL that parsed. With
 * `quotedOnly` (no catalog at hand, e.g. a statement refused before it reached the database), only
 * double-quoted identifiers are candidates: the common mistake of a value written in double quotes.
 */
export async function redactUnresolvedIdentifiers(
  sql: string,
  resolve: IdentifierResolver,
  options: { quotedOnly?: boolean } = {},
): Promise<string> {
  const tokens = scanSync(sql).tokens;
  const identifiers = tokens.filter(
    (token) => token.tokenType === IDENT && (!options.quotedOnly || token.text.startsWith('"')),
  );
  if (identifiers.length === 0) return sql;
  const declared = declaredNames(sql);
  const unknown = [...new Set(identifiers.map((token) => nameOf(token.text)))].filter((name) => !declared.has(name));
  const known = unknown.length > 0 ? await resolve(unknown) : new Set<string>();
  let next = 1;
  for (const token of tokens)
    if (token.tokenType === PARAM) next = Math.max(next, (Number(token.text.slice(1)) || 0) + 1);
  // Token offsets are bytes of the UTF-8 text.
  const bytes = Buffer.from(sql, 'utf8');
  let out = '';
  let from = 0;
  for (const token of identifiers) {
    const name = nameOf(token.text);
    if (declared.has(name) || known.has(name)) continue;
    out += `${bytes.subarray(from, token.start).toString('utf8')}$${next++}`;
    from = token.end;
  }
  return out + bytes.subarray(from).toString('utf8');
}

/**
 * A resolver over the database the statement ran against (through the grant's session: only what its role
 * can see): schemas, relations, columns, functions and types of these names.
 */
export function catalogResolver(run: CatalogQuery): IdentifierResolver {
  return async (names) => {
    const rows = await run(
      `SELECT n FROM unnest($1::text[]) AS n
        WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = n)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = n)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attname = n AND attnum > 0 AND NOT attisdropped)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE proname = n)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typname = n)`,
      [names],
    );
    return new Set(rows.map((row) => String(row[0])));
  };
}

/**
 * The `fingerprint` of text the parser rejects, or of several statements in one string: a keyed hash of the
 * exact text (16 hex digits, like the parser's), so attempts can be correlated without keeping the text.
 */
export function textFingerprint(sql: string, key: string): string {
  const derived = createHmac('sha256', key).update('airlock/text-fingerprint/v1').digest();
  return createHmac('sha256', derived).update(sql, 'utf8').digest('hex').slice(0, 16);
}
