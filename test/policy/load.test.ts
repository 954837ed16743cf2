import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { loadPolicyFile, parsePolicyText } from '../../shared/policy/load.ts';

const base = `version: 1
publicUrl: http://127.0.0.1:8787
connections: { shop: { adminSecret: airlock/shop/admin, profiles: { read: { readOnly: true } } } }
`;

function problem(text: string): string {
  try {
    parsePolicyText(text, 'test.yaml');
  } catch (error) {
    if (isAirlockError(error, 'invalid_config')) return error.message;
    throw error;
  }
  throw new Error('expected the policy to be refused');
}

describe('policy loader', () => {
  it('loads the committed demo policy', async () => {
    const policy = await loadPolicyFile(new URL('../../airlock.policy.yaml', import.meta.url).pathname);
    expect(policy.rules.map((rule) => [rule.name, rule.maxTtl])).toEqual([
      ['agents-read', 1800],
      ['agents-write', 900],
    ]);
    expect(policy.limits).toMatchObject({ maxRows: 1000, statementTimeout: 30, approvalTimeout: 3600 });
  });

  it('reads JSON as well as YAML', () => {
    const policy = parsePolicyText(JSON.stringify({ version: 1, publicUrl: 'http://x.test', connections: {} }));
    expect(policy.rules).toEqual([]);
  });

  it.each([
    [
      'a bad duration',
      `${base}rules:\n  - { name: a, connection: shop, access: read, maxTtl: 1m }\n  - { name: b, connection: shop, access: read, maxTtl: soon }\n`,
      'rules[1].maxTtl: expected a duration like 30m',
    ],
    [
      'an unknown connection',
      `${base}rules:\n  - { name: a, connection: nope, access: read, maxTtl: 1m }\n`,
      'rules[0].connection: unknown connection "nope"',
    ],
    [
      'an unknown profile',
      `${base}rules:\n  - { name: a, connection: shop, access: write, maxTtl: 1m }\n`,
      'rules[0].access: connection "shop" has no profile "write"',
    ],
    ['an unknown field', `${base}rulez: []\n`, 'rulez'],
    [
      'a bad statement kind',
      `${base}guardrails:\n  - { name: g, statements: [selekt], action: block }\n`,
      'guardrails[0].statements[0]',
    ],
    [
      'an approve guardrail without approvers',
      `${base}guardrails:\n  - { name: g, statements: [delete], action: approve }\n`,
      'guardrails[0].approvers: an approve guardrail needs approvers',
    ],
    [
      'a masking column that is not schema.table.column',
      `${base}masking: { columns: [{ column: email, strategy: redact }] }\n`,
      'masking.columns[0].column: expected schema.table.column',
    ],
    [
      'an unknown approver group',
      `${base}rules:\n  - { name: a, connection: shop, access: read, maxTtl: 1m, approval: { approvers: [dbas] } }\n`,
      'rules[0].approval.approvers[0]',
    ],
    ['the wrong version', base.replace('version: 1', 'version: 2'), 'version:'],
    ['YAML that does not parse', 'version: [1', 'not valid YAML'],
  ])('refuses %s, naming the path', (_name, text, expected) => {
    expect(problem(text)).toContain(expected);
  });

  it('names the file when it cannot be read', async () => {
    await expect(loadPolicyFile('/nonexistent/airlock.yaml')).rejects.toThrow(/\/nonexistent\/airlock.yaml/);
  });

  it('loads from a file path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    await writeFile(join(dir, 'p.json'), JSON.stringify({ version: 1, publicUrl: 'http://x.test', connections: {} }));
    expect((await loadPolicyFile(join(dir, 'p.json'))).version).toBe(1);
  });
});
