// Reads and validates the policy file (YAML or JSON). Every problem is reported with its path in
// the file, e.g. `rules[1].maxTtl: expected a duration like 30m`; an invalid file never loads.

import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { Policy } from './schema.ts';

/** `rules[1].maxTtl` from zod's `['rules', 1, 'maxTtl']`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out || '(root)';
}

export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>): string[] {
  return issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

/** Validates an already-parsed document. */
export function parsePolicy(document: unknown, source = 'policy'): Policy {
  const result = Policy.safeParse(document);
  if (!result.success) {
    const lines = formatIssues(result.error.issues);
    throw new AirlockError('invalid_config', `${source} is invalid:\n  ${lines.join('\n  ')}`, { issues: lines });
  }
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML, so one parser reads both). */
export function parsePolicyText(text: string, source = 'policy'): Policy {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new AirlockError('invalid_config', `${source} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return parsePolicy(document, source);
}

export async function loadPolicyFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AirlockError(
      'invalid_config',
      `cannot read the policy file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  return parsePolicyText(text, path);
}
