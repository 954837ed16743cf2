// The module boundaries of the code base, as the README's architecture section states them: which module may
// import which, and that production code crosses into a shared/ module only through its index.ts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PRODUCTION = ['shared', 'functions', 'local', 'cli', 'stacks', 'scripts', 'proxy', 'bench'];

/** Who may import whom. A module not listed here may not be imported by anyone but the composition root. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'shared/errors': [],
  'shared/ids': [],
  'shared/policy': ['shared/errors'],
  'shared/secrets': ['shared/errors'],
  'shared/store': ['shared/errors'],
  'shared/api': ['shared/errors', 'shared/policy'],
  'shared/sql': ['shared/errors', 'shared/policy'],
  'shared/identity': ['shared/errors', 'shared/policy'],
  'shared/wsproxy': ['shared/errors'],
  'shared/audit': ['shared/errors', 'shared/store', 'shared/api'],
  'shared/observe': [
    'shared/errors',
    'shared/ids',
    'shared/policy',
    'shared/secrets',
    'shared/postgres',
    'shared/audit',
    'shared/grants',
  ],
  'shared/prometheus': ['shared/observe'],
  'shared/export': [
    'shared/errors',
    'shared/policy',
    'shared/secrets',
    'shared/store',
    'shared/audit',
    'shared/observe',
  ],
  'shared/postgres': ['shared/errors', 'shared/ids', 'shared/policy', 'shared/secrets'],
  'shared/masking': ['shared/errors', 'shared/policy', 'shared/sql', 'shared/postgres', 'shared/secrets'],
  'shared/grants': [
    'shared/errors',
    'shared/ids',
    'shared/policy',
    'shared/identity',
    'shared/postgres',
    'shared/audit',
    'shared/store',
    'shared/api',
  ],
  'shared/query': [
    'shared/errors',
    'shared/policy',
    'shared/sql',
    'shared/masking',
    'shared/postgres',
    'shared/identity',
    'shared/grants',
    'shared/audit',
    'shared/store',
    'shared/api',
    'shared/observe',
  ],
  // Parameters shown to approvers are masked as the columns they meet would be (shared/approvals/params.ts).
  'shared/approvals': [
    'shared/masking',
    'shared/sql',
    'shared/errors',
    'shared/ids',
    'shared/policy',
    'shared/identity',
    'shared/grants',
    'shared/query',
    'shared/audit',
    'shared/store',
    'shared/api',
  ],
  'shared/operators': [
    'shared/errors',
    'shared/ids',
    'shared/policy',
    'shared/postgres',
    'shared/identity',
    'shared/grants',
    'shared/approvals',
    'shared/audit',
    'shared/store',
    'shared/api',
  ],
  'shared/http': [
    'shared/errors',
    'shared/ids',
    'shared/policy',
    'shared/identity',
    'shared/grants',
    'shared/query',
    'shared/approvals',
    'shared/operators',
    'shared/audit',
    'shared/store',
    'shared/api',
    'shared/observe',
  ],
  'shared/mcp': [
    'shared/errors',
    'shared/policy',
    'shared/identity',
    'shared/grants',
    'shared/query',
    'shared/http',
    'shared/api',
    'shared/observe',
    'shared/masking',
  ],
  // The console renders the operator plane's answers; the API's front door never imports it.
  'shared/console': [
    'shared/errors',
    'shared/policy',
    'shared/identity',
    'shared/grants',
    'shared/operators',
    'shared/approvals',
    'shared/audit',
    'shared/http',
    'shared/observe',
    'shared/store',
  ],
  // The composition root builds everything.
  'shared/airlock': ['shared/*'],
  functions: ['shared/*'],
  local: ['shared/*'],
  proxy: ['shared/wsproxy'],
  stacks: ['shared/policy', 'shared/store', 'shared/observe'],
  // `policy check --connect` checks the policy against each database, as the local stack does at start.
  cli: [
    'shared/api',
    'shared/errors',
    'shared/policy',
    'shared/audit',
    'shared/identity',
    'shared/masking',
    'shared/secrets',
    'shared/wsproxy',
  ],
  // Measuring scripts start the local stack's embedded parts, as the benchmark does.
  scripts: ['shared/*', 'local'],
  // The benchmark builds the function bundles with the build script's own settings to time their cold start.
  bench: ['shared/*', 'local', 'scripts'],
};

function moduleOf(path: string): string {
  const parts = path.split('/');
  if (parts[0] === 'shared') return `shared/${parts[1]!.replace(/\.ts$/, '')}`;
  return parts[0]!;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir))) {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(path)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g;

interface ImportEdge {
  file: string;
  target: string;
}

/** Every relative import of a production file, resolved to a repository path. */
function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!;
    edges.push({ file, target: normalize(join(dirname(file), specifier)) });
  }
  return edges;
}

/** What is wrong with one import, or null when the rules allow it. */
function violation(edge: ImportEdge): string | null {
  const from = moduleOf(edge.file);
  const to = moduleOf(edge.target);
  if (from === to) return null;
  const allowed = MAY_IMPORT[from];
  if (!allowed) return `${edge.file}: module ${from} has no import rules (add it to the architecture table)`;
  const permitted = allowed.some((rule) => rule === to || (rule === 'shared/*' && to.startsWith('shared/')));
  if (!permitted) return `${edge.file} imports ${edge.target}: ${from} may not import ${to}`;
  const crossesIntoModule = edge.target.startsWith('shared/') && edge.target.split('/').length > 2;
  if (crossesIntoModule && !edge.target.endsWith('/index.ts')) {
    return `${edge.file} imports ${edge.target}: go through ${to}/index.ts`;
  }
  return null;
}

describe('module boundaries', () => {
  const files = PRODUCTION.flatMap(sourceFiles);

  it('every production import follows the architecture table and crosses modules through index.ts', () => {
    const problems = files.flatMap((file) => importsOf(file).map(violation)).filter((p): p is string => p !== null);
    expect(problems).toEqual([]);
  });

  it('every shared/ directory is a module with an index.ts', () => {
    const modules = readdirSync(join(ROOT, 'shared')).filter((name) =>
      statSync(join(ROOT, 'shared', name)).isDirectory(),
    );
    const missing = modules.filter((name) => !files.includes(`shared/${name}/index.ts`));
    expect(missing).toEqual([]);
  });

  it('the rules catch a crossing: a deep import and a forbidden direction are both reported', () => {
    expect(violation({ file: 'shared/query/execute.ts', target: 'shared/masking/plan.ts' })).toMatch(/index\.ts/);
    expect(violation({ file: 'shared/policy/decide.ts', target: 'shared/identity/index.ts' })).toMatch(
      /may not import/,
    );
    expect(violation({ file: 'cli/main.ts', target: 'shared/postgres/index.ts' })).toMatch(/may not import/);
    expect(violation({ file: 'shared/query/execute.ts', target: 'shared/masking/index.ts' })).toBeNull();
  });
});
