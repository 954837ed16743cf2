// A small IAM evaluator for identity-policy statements, so tests can ask what a function may do.
// Same order as AWS: an explicit deny wins, then any allow; everything else is denied. Conditions only narrow.

import type { Statement } from '../../stacks/permissions.ts';

/** IAM wildcard match: `*` any run of characters, `?` exactly one; actions compare without case. */
export function iamMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

export const applies = (statement: Statement, action: string, resource: string) =>
  statement.actions.some((pattern) => iamMatches(pattern, action, true)) &&
  statement.resources.some((pattern) => iamMatches(pattern, resource));

export function allowed(statements: Statement[], action: string, resource: string): boolean {
  if (statements.some((s) => s.effect === 'deny' && applies(s, action, resource))) return false;
  return statements.some((s) => (s.effect ?? 'allow') === 'allow' && applies(s, action, resource));
}
