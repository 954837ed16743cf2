// Request validation at the edge: a zod schema in, a typed value or a 400 with the issues out.
// Messages name the field, never echo the value (it may be a secret someone pasted).

import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { formatIssues } from '../policy/index.ts';

export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = formatIssues(specific(result.error.issues));
    throw new AirlockError('invalid_request', `invalid request body: ${issues.join('; ')}`, { issues });
  }
  return result.data;
}

/**
 * A union's issues as those of the alternative that came closest (fewest issues, then the deepest path),
 * so a body says `params: Too big: …` rather than `(root): Invalid input`.
 */
function specific(issues: ReadonlyArray<z.core.$ZodIssue>): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
    const deepest = (candidate: z.core.$ZodIssue[]) => Math.max(...candidate.map((inner) => inner.path.length));
    const [closest] = [...issue.errors].sort((a, b) => a.length - b.length || deepest(b) - deepest(a));
    return specific((closest ?? []).map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })));
  });
}
