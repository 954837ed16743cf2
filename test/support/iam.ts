// A small IAM evaluator for identity-policy statements, so tests can ask what a function may do.
// Same order as AWS: an explicit deny wins, then any allow; everything else is denied. Conditions are
// evaluated against the request's context keys with AWS's semantics, absent keys included.

import type { Statement } from '../../stacks/permissions.ts';

/** The condition keys of one request, e.g. `{ 'dynamodb:Attributes': ['id', 'auditHead'], 'dynamodb:ReturnValues': 'NONE' }`. */
export type RequestContext = Record<string, string | string[]>;

/** IAM wildcard match: `*` any run of characters, `?` exactly one; actions compare without case. */
export function iamMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

/**
 * One condition block entry. Single-valued operators on an absent key are false (the `IfExists` forms true);
 * `ForAllValues` holds for an absent or empty key (the classic trap), `ForAnyValue` does not; `Null` tests presence.
 */
export function conditionHolds(
  condition: NonNullable<Statement['conditions']>[number],
  context: RequestContext,
): boolean {
  const raw = context[condition.variable];
  const present = raw !== undefined;
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const equals = (value: string) => condition.values.includes(value);
  switch (condition.test) {
    case 'StringEquals':
      return present && values.length === 1 && equals(values[0]!);
    case 'StringNotEquals':
      return present && values.length === 1 && !equals(values[0]!);
    case 'StringEqualsIfExists':
      return !present || (values.length === 1 && equals(values[0]!));
    case 'StringNotEqualsIfExists':
      return !present || (values.length === 1 && !equals(values[0]!));
    case 'ForAllValues:StringEquals':
      return values.every(equals);
    case 'ForAnyValue:StringEquals':
      return values.some(equals);
    case 'ForAnyValue:StringNotEquals':
      return values.some((value) => !equals(value));
    case 'Null':
      return condition.values.length === 1 && (condition.values[0] === 'true') === !present;
    default:
      throw new Error(`the test evaluator does not know the IAM condition operator ${condition.test}`);
  }
}

export const applies = (statement: Statement, action: string, resource: string, context: RequestContext = {}) =>
  statement.actions.some((pattern) => iamMatches(pattern, action, true)) &&
  statement.resources.some((pattern) => iamMatches(pattern, resource)) &&
  (statement.conditions ?? []).every((condition) => conditionHolds(condition, context));

export function allowed(
  statements: Statement[],
  action: string,
  resource: string,
  context: RequestContext = {},
): boolean {
  if (statements.some((s) => s.effect === 'deny' && applies(s, action, resource, context))) return false;
  return statements.some((s) => (s.effect ?? 'allow') === 'allow' && applies(s, action, resource, context));
}
