import { readFile } from 'node:fs/promises';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { policyReference, REFERENCE_END, REFERENCE_START, unpadTables } from '../../scripts/policy-reference.ts';
import { isAirlockError } from '../../shared/errors.ts';
import { policyJsonSchema } from '../../shared/policy/json-schema.ts';
import { parsePolicy } from '../../shared/policy/load.ts';

// The editors' JSON Schema as a standard validator reads it: ajv in strict mode, with formats. It must
// compile, accept the demo policy, describe every field, and refuse exactly what the loader refuses.

type Schema = { [keyword: string]: unknown };

const root = (path: string) => new URL(`../../${path}`, import.meta.url);
const committed = JSON.parse(await readFile(root('airlock.policy.schema.json'), 'utf8')) as Schema;

function strictAjv() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}
/** Compiled on first use, so a schema ajv refuses fails its test rather than the whole file. */
let compiled: ValidateFunction | undefined;
const validate = (document: unknown) => {
  compiled ??= strictAjv().compile(committed);
  return compiled(document);
};

/** Every `properties` entry anywhere in the schema, with its path in a policy file. */
function properties(schema: Schema, path = ''): Array<{ path: string; schema: Schema }> {
  const found: Array<{ path: string; schema: Schema }> = [];
  const visit = (node: unknown, at: string) => {
    if (typeof node !== 'object' || node === null) return;
    const current = node as Schema;
    for (const [name, child] of Object.entries((current.properties as Record<string, Schema> | undefined) ?? {})) {
      const childPath = at ? `${at}.${name}` : name;
      found.push({ path: childPath, schema: child });
      visit(child, childPath);
    }
    if (typeof current.items === 'object') visit(current.items, `${at}[]`);
    if (typeof current.additionalProperties === 'object') visit(current.additionalProperties, `${at}.<name>`);
    for (const branch of (current.anyOf as unknown[] | undefined) ?? []) visit(branch, at);
  };
  visit(schema, path);
  return found;
}

const minimal = () => ({
  version: 1,
  publicUrl: 'http://127.0.0.1:8787',
  identity: { issuers: [{ issuer: 'http://127.0.0.1:8787/dev', audience: 'airlock' }] },
  connections: { shop: { adminSecret: 'airlock/shop/admin', profiles: { read: { readOnly: true } } } },
  rules: [{ name: 'agents-read', when: { subject: 'agent:*' }, connection: 'shop', access: 'read', maxTtl: '30m' }],
});

function loaderAccepts(document: unknown): boolean {
  try {
    parsePolicy(document, 'test');
    return true;
  } catch (error) {
    if (isAirlockError(error, 'invalid_config')) return false;
    throw error;
  }
}

describe('the policy JSON Schema', () => {
  it('is the committed file, generated from the zod schema (npm run schema)', () => {
    expect(committed).toEqual(policyJsonSchema());
  });

  it('compiles in ajv strict mode and accepts the demo policy', async () => {
    const demo = parseYaml(await readFile(root('airlock.policy.yaml'), 'utf8'));
    expect(validate(demo), JSON.stringify(compiled?.errors)).toBe(true);
    expect(loaderAccepts(demo)).toBe(true);
  });

  it('describes every field, so editors and docs/policy.md can explain each one', () => {
    const fields = properties(committed);
    expect(fields.length).toBeGreaterThan(50);
    const undescribed = fields.filter(({ schema }) => !(typeof schema.description === 'string' && schema.description));
    expect(undescribed.map(({ path }) => path)).toEqual([]);
  });

  it("gives examples the field's own schema accepts", () => {
    const ajv = strictAjv();
    const checked = properties(committed).flatMap(({ path, schema }) =>
      ((schema.examples as unknown[] | undefined) ?? []).map((example) => {
        const { examples: _examples, default: _default, ...rules } = schema;
        return { path, example, valid: ajv.validate(rules, example) };
      }),
    );
    expect(checked.length).toBeGreaterThan(20);
    expect(checked.filter(({ valid }) => !valid)).toEqual([]);
  });

  const TTL = ['rules', 0, 'maxTtl'];
  const ISSUER = ['identity', 'issuers', 0];
  const PROFILE = ['connections', 'shop', 'profiles', 'read'];
  const guardrail = (fields: Record<string, unknown>) => [
    { name: 'g', statements: ['delete'], action: 'block', ...fields },
  ];
  // [what, where in the minimal policy, the value put there (undefined: removed), whether the policy is valid]
  const agreement: Array<[string, Array<string | number>, unknown, boolean]> = [
    ['maxTtl 30m', TTL, '30m', true],
    ['maxTtl 45s', TTL, '45s', true],
    ['maxTtl 1h', TTL, '1h', true],
    ['maxTtl 7d', TTL, '7d', true],
    ['maxTtl "90" (seconds as text)', TTL, '90', true],
    ['maxTtl 90 (seconds as a number)', TTL, 90, true],
    ['maxTtl 0030m', TTL, '0030m', true],
    ['maxTtl 9 digits', TTL, '123456789', true],
    ['maxTtl "30 minutes"', TTL, '30 minutes', false],
    ['maxTtl 30M', TTL, '30M', false],
    ['maxTtl 1h30m', TTL, '1h30m', false],
    ['maxTtl 1.5h', TTL, '1.5h', false],
    ['maxTtl -5m', TTL, '-5m', false],
    ['maxTtl 0m', TTL, '0m', false],
    ['maxTtl "0"', TTL, '0', false],
    ['maxTtl 0', TTL, 0, false],
    ['maxTtl 1.5', TTL, 1.5, false],
    ['maxTtl -60', TTL, -60, false],
    ['maxTtl 1e300', TTL, 1e300, false],
    ['maxTtl "30m " (a trailing space)', TTL, '30m ', false],
    ['maxTtl ""', TTL, '', false],
    ['maxTtl 10 digits', TTL, '1234567890', false],
    ['maxTtl 8 digits and a unit', TTL, '12345678s', false],
    ['maxTtl true', TTL, true, false],
    ['maxTtl missing', TTL, undefined, false],
    ['limits.statementTimeout 30s', ['limits', 'statementTimeout'], '30s', true],
    ['limits.statementTimeout 2 minutes', ['limits', 'statementTimeout'], '2 minutes', false],
    ['limits.approvalTimeout 1d', ['limits', 'approvalTimeout'], '1d', true],
    ['limits.approvalTimeout null', ['limits', 'approvalTimeout'], null, false],
    ['limits.maxRows 0', ['limits', 'maxRows'], 0, false],
    ['limits.maxRows 100000', ['limits', 'maxRows'], 100_000, true],
    ['limits.maxRows 2.5', ['limits', 'maxRows'], 2.5, false],
    ['publicUrl https with a path', ['publicUrl'], 'https://airlock.example.com/base', true],
    ['publicUrl http with a port', ['publicUrl'], 'http://127.0.0.1:8787', true],
    ['publicUrl an IPv6 host', ['publicUrl'], 'http://[::1]:8787', true],
    ['publicUrl without a scheme', ['publicUrl'], 'airlock.example.com', false],
    ['publicUrl ftp', ['publicUrl'], 'ftp://airlock.example.com', false],
    ['publicUrl mailto', ['publicUrl'], 'mailto:airlock@example.com', false],
    ['publicUrl with a space', ['publicUrl'], 'https://airlock.example.com/a b', false],
    ['publicUrl with a pipe', ['publicUrl'], 'https://airlock.example.com/a|b', false],
    ['publicUrl a broken IPv6 host', ['publicUrl'], 'http://[::1', false],
    ['publicUrl empty', ['publicUrl'], '', false],
    ['jwksUri https', [...ISSUER, 'jwksUri'], 'https://idp.example/jwks.json', true],
    ['jwksUri file:', [...ISSUER, 'jwksUri'], 'file:///etc/passwd', false],
    ['audience a list', [...ISSUER, 'audience'], ['a', 'b'], true],
    ['audience an empty list', [...ISSUER, 'audience'], [], false],
    ['audience empty', [...ISSUER, 'audience'], '', false],
    ['algorithms RS256', [...ISSUER, 'algorithms'], ['RS256'], true],
    ['algorithms HS256', [...ISSUER, 'algorithms'], ['HS256'], false],
    ['algorithms none', [...ISSUER, 'algorithms'], ['none'], false],
    ['version 2', ['version'], 2, false],
    ['version "1"', ['version'], '1', false],
    ['an unknown top-level field', ['rulez'], [], false],
    ['an unknown profile field', [...PROFILE, 'readonly'], true, false],
    ['a profile name with a dash', ['connections', 'shop', 'profiles', 're-ad'], {}, false],
    ['memberOf an identifier', [...PROFILE, 'memberOf'], ['pg_x$1'], true],
    ['memberOf a quoted name', [...PROFILE, 'memberOf'], ['"x"'], false],
    ['connectionLimit 100', [...PROFILE, 'connectionLimit'], 100, true],
    ['connectionLimit 101', [...PROFILE, 'connectionLimit'], 101, false],
    ['a connection name with a space', ['connections', 'my shop'], { adminSecret: 's', profiles: {} }, false],
    ['masked column schema.table.column', ['masking', 'columns'], [{ column: 'a.b.c', strategy: 'hash' }], true],
    ['masked column table.column', ['masking', 'columns'], [{ column: 'b.c', strategy: 'hash' }], false],
    ['mask strategy last5', ['masking', 'columns'], [{ column: 'a.b.c', strategy: 'last5' }], false],
    ['detector iban', ['masking', 'detectors'], ['iban'], true],
    ['detector passport', ['masking', 'detectors'], ['passport'], false],
    ['guardrail on schema.table', ['guardrails'], guardrail({ tables: ['public.orders'] }), true],
    ['guardrail on a.b.c', ['guardrails'], guardrail({ tables: ['a.b.c'] }), false],
    ['guardrail kind selekt', ['guardrails'], guardrail({ statements: ['selekt'] }), false],
    ['guardrail without statements', ['guardrails'], guardrail({ statements: [] }), false],
    ['guardrail when always', ['guardrails'], guardrail({ when: 'always' }), false],
    [
      'guardrail required 0',
      ['guardrails'],
      guardrail({ action: 'approve', approvers: ['a@b.co'], required: 0 }),
      false,
    ],
    ['approverGroups of emails', ['approverGroups'], { dbas: ['dba@example.com'] }, true],
    ['approverGroups with a non-email', ['approverGroups'], { dbas: ['dba'] }, false],
    ['approverGroups with an empty list', ['approverGroups'], { dbas: [] }, false],
    ['claims of text, number, boolean', ['rules', 0, 'when', 'claims'], { a: 'x', b: 1, c: true }, true],
    ['claims of null', ['rules', 0, 'when', 'claims'], { a: null }, false],
    ['claims of an object', ['rules', 0, 'when', 'claims'], { a: { b: 1 } }, false],
    ['when.groups empty', ['rules', 0, 'when', 'groups'], [], false],
    ['rule approval by 2 of 2', ['rules', 0, 'approval'], { approvers: ['a@b.co', 'c@d.co'], required: 2 }, true],
    ['mail.from of 2 characters', ['mail', 'from'], 'ab', false],
  ];

  it.each(agreement)('and the loader agree: %s', (_what, path, value, valid) => {
    const policy = withValue(minimal(), path, value);
    expect({ schema: validate(policy), loader: loaderAccepts(policy) }).toEqual({ schema: valid, loader: valid });
  });
});

/** A copy of `document` with `value` at `path` (created on the way), or without that key when undefined. */
function withValue(document: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(document) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe('docs/policy.md', () => {
  it('carries the reference generated from the schema (npm run schema)', async () => {
    const doc = await readFile(root('docs/policy.md'), 'utf8');
    const start = doc.indexOf(REFERENCE_START);
    const end = doc.indexOf(REFERENCE_END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(unpadTables(doc.slice(start, end + REFERENCE_END.length))).toBe(unpadTables(policyReference(committed)));
  });

  it('names every field of the schema', () => {
    const reference = policyReference(committed);
    for (const { path } of properties(committed)) expect(reference).toContain(`\`${path}\``);
  });
});
