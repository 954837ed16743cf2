// Writes airlock.policy.schema.json, the editors' JSON Schema, from the policy's zod schema, and the
// field reference of docs/policy.md from that JSON Schema (the test suite checks both are current).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { policyJsonSchema } from '../shared/policy/index.ts';
import { withReference } from './policy-reference.ts';

const schema = policyJsonSchema();
const target = new URL('../airlock.policy.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`);
console.log(`wrote ${target.pathname}`);

const docs = new URL('../docs/policy.md', import.meta.url);
writeFileSync(docs, withReference(readFileSync(docs, 'utf8'), schema));
// The tree's formatter pads the tables; the test compares them without the padding.
execFileSync('npx', ['biome', 'format', '--write', fileURLToPath(docs)], { stdio: 'inherit' });
console.log(`wrote the reference in ${docs.pathname}`);
