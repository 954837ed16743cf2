// Where each bound parameter ($n) of a parsed statement goes, read from the parse tree: the column it is compared
// with or written to, a LIMIT/OFFSET count, or undecided. Must never name a column the tree does not show it meets.

import { parseSync } from './engine.ts';
import type { RelationRef } from './statement.ts';

export type ParameterUse =
  /** Compared with (`=`, `IN`, `LIKE`, `ANY`, …) or written to (`SET`, `INSERT … VALUES`) a column of one of `relations`. */
  | { kind: 'column'; name: string; relations: RelationRef[] }
  /** A row count: LIMIT or OFFSET. */
  | { kind: 'count' }
  /** Anywhere else (inside a function call, an expression, a subquery's select list …). */
  | { kind: 'undecided' };

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

function unwrapCast(value: unknown): Node | undefined {
  let node = isNode(value) ? value : undefined;
  while (node && isNode(node.TypeCast)) node = isNode(node.TypeCast.arg) ? node.TypeCast.arg : undefined;
  return node;
}

/** The ParamRef a value is, casts aside. */
function paramOf(value: unknown): Node | undefined {
  const node = unwrapCast(value);
  return node && isNode(node.ParamRef) ? node.ParamRef : undefined;
}

/** The ParamRefs of an operand: one value, or each item of a list (`IN ($1, $2)`). */
function paramsOf(value: unknown): Node[] {
  const node = unwrapCast(value);
  const items = node && isNode(node.List) && Array.isArray(node.List.items) ? node.List.items : [value];
  return items.map(paramOf).filter((param): param is Node => param !== undefined);
}

const text = (value: unknown) => (isNode(value) && isNode(value.String) ? String(value.String.sval) : undefined);

interface Range {
  schema: string | null;
  name: string;
  alias: string | null;
}

function rangeOf(node: Node): Range | undefined {
  if (typeof node.relname !== 'string') return undefined;
  const alias = isNode(node.alias) && typeof node.alias.aliasname === 'string' ? node.alias.aliasname : null;
  return { schema: typeof node.schemaname === 'string' ? node.schemaname : null, name: node.relname, alias };
}

/** Every statement in `sql` (already parsed once, so the parser is loaded): each parameter number's uses. */
export function parameterUses(sql: string): Map<number, ParameterUse[]> {
  const tree: unknown = parseSync(sql);
  const ranges: Range[] = [];
  const params: Node[] = [];
  const decided = new Map<Node, ParameterUse>();

  const collect = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(collect);
      return;
    }
    if (!isNode(value)) return;
    if (isNode(value.RangeVar)) {
      const range = rangeOf(value.RangeVar);
      if (range) ranges.push(range);
    }
    for (const key of ['UpdateStmt', 'DeleteStmt', 'InsertStmt', 'MergeStmt'])
      if (isNode(value[key]) && isNode((value[key] as Node).relation)) {
        const range = rangeOf((value[key] as Node).relation as Node);
        if (range) ranges.push(range);
      }
    if (isNode(value.ParamRef)) params.push(value.ParamRef);
    Object.values(value).forEach(collect);
  };
  collect(tree);

  const candidates = (fields: unknown[]): { name: string; relations: RelationRef[] } | undefined => {
    const parts = fields.map(text);
    if (parts.some((part) => part === undefined) || parts.length === 0 || parts.length > 3) return undefined;
    const name = parts.at(-1)!;
    const [schema, table] = parts.length === 3 ? [parts[0]!, parts[1]!] : [null, parts.length === 2 ? parts[0]! : null];
    const matching = ranges.filter(
      (range) =>
        table === null ||
        (schema === null
          ? range.alias === table || range.name === table
          : range.schema === schema && range.name === table),
    );
    if (matching.length === 0) return undefined;
    return { name, relations: matching.map(({ schema, name }) => ({ schema, name })) };
  };
  const columnOf = (value: unknown): ParameterUse | undefined => {
    const node = unwrapCast(value);
    if (!node || !isNode(node.ColumnRef) || !Array.isArray(node.ColumnRef.fields)) return undefined;
    const column = candidates(node.ColumnRef.fields);
    return column ? { kind: 'column', ...column } : undefined;
  };
  const decide = (value: unknown, use: ParameterUse | undefined) => {
    if (!use) return;
    for (const param of paramsOf(value)) decided.set(param, use);
  };

  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (!isNode(value)) return;
    if (isNode(value.A_Expr)) {
      const { lexpr, rexpr } = value.A_Expr;
      decide(rexpr, columnOf(lexpr));
      decide(lexpr, columnOf(rexpr));
    }
    const update = isNode(value.UpdateStmt) ? value.UpdateStmt : undefined;
    if (update && isNode(update.relation) && Array.isArray(update.targetList)) {
      const range = rangeOf(update.relation);
      for (const target of update.targetList)
        if (range && isNode(target) && isNode(target.ResTarget) && typeof target.ResTarget.name === 'string')
          decide(target.ResTarget.val, {
            kind: 'column',
            name: target.ResTarget.name,
            relations: [{ schema: range.schema, name: range.name }],
          });
    }
    const insert = isNode(value.InsertStmt) ? value.InsertStmt : undefined;
    const select = insert && isNode(insert.selectStmt) ? insert.selectStmt.SelectStmt : undefined;
    if (insert && isNode(insert.relation) && Array.isArray(insert.cols) && isNode(select)) {
      const range = rangeOf(insert.relation);
      const names = insert.cols.map((col) => (isNode(col) && isNode(col.ResTarget) ? col.ResTarget.name : undefined));
      for (const row of Array.isArray(select.valuesLists) ? select.valuesLists : []) {
        const items = isNode(row) && isNode(row.List) && Array.isArray(row.List.items) ? row.List.items : [];
        items.forEach((item, index) => {
          const name = names[index];
          if (range && typeof name === 'string')
            decide(item, { kind: 'column', name, relations: [{ schema: range.schema, name: range.name }] });
        });
      }
    }
    if (isNode(value.SelectStmt)) {
      decide(value.SelectStmt.limitCount, { kind: 'count' });
      decide(value.SelectStmt.limitOffset, { kind: 'count' });
    }
    Object.values(value).forEach(visit);
  };
  visit(tree);

  const uses = new Map<number, ParameterUse[]>();
  for (const param of params) {
    const number = Number(param.number);
    uses.set(number, [...(uses.get(number) ?? []), decided.get(param) ?? { kind: 'undecided' }]);
  }
  return uses;
}
