// Writes airlock.policy.schema.json, the editors' JSON Schema, from the policy's zod schema.
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '../shared/policy/index.ts';

const target = new URL('../airlock.policy.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
