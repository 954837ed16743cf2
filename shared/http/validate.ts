// Request validation at the edge: a zod schema in, a typed value or a 400 with the issues out.
// Messages name the field, never echo the value (it may be a secret someone pasted).

import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { formatIssues } from '../policy/index.ts';

export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = formatIssues(result.error.issues);
    throw new AirlockError('invalid_request', `invalid request body: ${issues.join('; ')}`, { issues });
  }
  return result.data;
}
