// Rewrites the route reference of docs/api.md from a running Airlock's /openapi.json (start one with `npm start`;
// AIRLOCK_URL names another). The test suite checks the committed reference matches the routes.

import { readFileSync, writeFileSync } from 'node:fs';
import { withApiReference } from './api-reference.ts';

const base = process.env.AIRLOCK_URL ?? 'http://127.0.0.1:8787';
const response = await fetch(`${base}/openapi.json`).catch((cause: unknown) => {
  throw new Error(`no Airlock answers at ${base} (start one with npm start, or set AIRLOCK_URL)`, { cause });
});
if (!response.ok) throw new Error(`${base}/openapi.json answered ${response.status}`);
const target = new URL('../docs/api.md', import.meta.url);
writeFileSync(
  target,
  withApiReference(readFileSync(target, 'utf8'), (await response.json()) as Record<string, unknown>),
);
console.log(`wrote the route reference in ${target.pathname}`);
