// The API's error body: one shape for every refusal, with the fields each code may carry.
// Must never describe a field that could carry a secret, a token, a literal or a row value.

import { z } from 'zod';
import { ERROR_CODES } from '../errors.ts';

export const ErrorCodeSchema = z.enum(ERROR_CODES).meta({ id: 'ErrorCode', description: 'A stable error code.' });

export const ErrorBody = z
  .object({
    error: z
      .object({
        code: ErrorCodeSchema,
        message: z.string().meta({ description: 'What went wrong and, where it helps, what to do.' }),
        requestId: z.string().optional().meta({ description: 'The request id (also in the x-request-id header).' }),
        issues: z.array(z.string()).optional().meta({ description: 'invalid_request: each problem with its path.' }),
        position: z.number().int().optional().meta({ description: 'sql_syntax: 1-based character position.' }),
        count: z.number().int().optional().meta({ description: 'multiple_statements: how many were sent.' }),
        sqlstate: z.string().optional().meta({ description: 'db_error: the SQLSTATE Postgres raised.' }),
        guardrail: z
          .string()
          .optional()
          .meta({ description: 'statement_blocked, approval_required: the guardrail or built-in rule.' }),
        lock: z
          .object({ id: z.string(), reason: z.string() })
          .optional()
          .meta({ description: "locked: the operator's lock that covers the request." }),
        cost: z
          .number()
          .int()
          .optional()
          .meta({ description: 'statement_too_complex: how deep or long the statement measured.' }),
        budget: z.number().int().optional().meta({ description: 'statement_too_complex: the most allowed.' }),
        depth: z
          .number()
          .int()
          .optional()
          .meta({ description: 'statement_too_complex: how deep a json value in the result nests.' }),
        maxDepth: z
          .number()
          .int()
          .optional()
          .meta({ description: 'statement_too_complex: the deepest json value a result may hold.' }),
        quota: z.string().optional().meta({ description: 'rate_limited: which quota is spent.' }),
        limit: z.number().int().optional().meta({ description: 'rate_limited: the quota’s limit.' }),
        retryAfterSeconds: z
          .number()
          .int()
          .optional()
          .meta({ description: 'rate_limited: seconds to wait (also the retry-after header).' }),
      })
      .catchall(z.unknown()),
  })
  .meta({ id: 'Error', description: 'Every error: a code, a message and the fields named for that code.' });
export type ErrorBody = z.infer<typeof ErrorBody>;
