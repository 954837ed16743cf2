// The policy's JSON Schema, for editors and for anyone validating a policy file with a standard tool.
// Generated from the zod schema the loader uses; it must never accept what the loader refuses.

import { z } from 'zod';
import { Policy } from './schema.ts';

type JsonSchema = { [keyword: string]: unknown };

/** Draft 2020-12 from the loader's zod schema, in the form `ajv --strict` accepts. */
export function policyJsonSchema(): JsonSchema {
  return strictForAjv(z.toJSONSchema(Policy, { io: 'input', target: 'draft-2020-12' })) as JsonSchema;
}

/**
 * Rewrites what strict validators refuse or read differently: a union of plain types becomes
 * `anyOf` (strict mode refuses `type: [...]`), and a string checked by zod's email pattern drops
 * `format: email`, a second and different notion of an address than the pattern the loader runs.
 */
function strictForAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictForAjv);
  if (typeof node !== 'object' || node === null) return node;
  const schema: JsonSchema = {};
  for (const [keyword, value] of Object.entries(node)) {
    // Defaults and examples are policy values, not schemas.
    schema[keyword] =
      keyword === 'default' || keyword === 'examples' || keyword === 'const' ? value : strictForAjv(value);
  }
  if (Array.isArray(schema.type)) {
    schema.anyOf = schema.type.map((type: unknown) => ({ type }));
    delete schema.type;
  }
  if (schema.format === 'email' && typeof schema.pattern === 'string') delete schema.format;
  return schema;
}
