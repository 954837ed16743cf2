// The query endpoint's shapes: what an agent sends (one statement or a transaction) and what comes back.
// Must never let a body that would overflow the stack or the parser reach them: depth and size are bounded here.

import { z } from 'zod';

/** Deeper JSON is refused before z.json(), whose recursion would overflow the stack (a 500, not a 400). */
export const MAX_PARAM_DEPTH = 32;
export const MAX_PARAMS = 1000;
export const MAX_SQL_CHARS = 100_000;
export const MAX_TRANSACTION_STATEMENTS = 50;

const Param = z
  .unknown()
  .refine((value) => nestedWithin(value, MAX_PARAM_DEPTH), {
    message: `a parameter may nest at most ${MAX_PARAM_DEPTH} levels`,
    abort: true,
  })
  .pipe(z.json())
  .meta({ description: 'A value for $n: a string, number, boolean, null, or JSON (for json/jsonb parameters).' });

export const StatementInput = z.strictObject({
  sql: z.string().min(1).max(MAX_SQL_CHARS).meta({ description: 'Exactly one SQL statement; values as $1, $2, …' }),
  params: z.array(Param).max(MAX_PARAMS).optional(),
});
export type StatementInput = z.infer<typeof StatementInput>;

export const QueryBody = z
  .union([
    StatementInput,
    z.strictObject({
      transaction: z
        .array(StatementInput)
        .min(1)
        .max(MAX_TRANSACTION_STATEMENTS)
        .meta({ description: 'Statements run atomically in one transaction.' }),
    }),
  ])
  .meta({ id: 'QueryRequest' });
export type QueryBody = z.infer<typeof QueryBody>;

export const QueryColumn = z.object({
  name: z.string(),
  type: z.string().meta({ description: 'The Postgres type name, e.g. int4, text, timestamptz.' }),
  masked: z
    .string()
    .nullable()
    .meta({ description: 'The masking strategy applied to the column (email, last4, redact, hash, null), or null.' }),
});
export type QueryColumn = z.infer<typeof QueryColumn>;

export const QueryResult = z
  .object({
    columns: z.array(QueryColumn),
    rows: z.array(z.array(z.unknown())).meta({ description: 'Arrays in column order.' }),
    rowCount: z.number().int(),
    truncated: z.boolean().meta({ description: 'Rows were cut at the row or byte limit.' }),
    auditId: z.string().meta({ description: 'The id of the statement’s audit event.' }),
  })
  .meta({ id: 'QueryResult' });
export type QueryResult = z.infer<typeof QueryResult>;

export const QueryResponse = z
  .union([QueryResult, z.object({ results: z.array(QueryResult) })])
  .meta({ id: 'QueryResponse' });
export type QueryResponse = z.infer<typeof QueryResponse>;

/** A statement a guardrail holds for a human: not run; the same statement and params, sent again once approved, run once. */
export const HeldStatement = z
  .object({
    error: z.object({
      code: z.literal('approval_required'),
      message: z.string(),
      guardrail: z.string(),
      requestId: z.string().optional(),
    }),
    approval: z.object({ id: z.string(), status: z.literal('pending') }),
  })
  .meta({ id: 'HeldStatement' });
export type HeldStatement = z.infer<typeof HeldStatement>;

/** Whether no array or object in `value` sits deeper than `max` levels; iterative, so any depth is safe to check. */
export function nestedWithin(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [item, depth] = entry;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) return false;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return true;
}
