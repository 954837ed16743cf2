import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFunctionConfig } from '../../functions/config.ts';
import { deployWarnings, functionEnvironment, loadStackConfig, secretArnPattern } from '../../stacks/config.ts';
import {
  AUDIT_HEAD_ATTRIBUTES,
  AUDIT_TAMPERING,
  functionPermissions,
  type Statement,
} from '../../stacks/permissions.ts';
import { allowed, applies, conditionHolds, iamMatches as matches, type RequestContext } from '../support/iam.ts';

// Made-up but well-formed ARNs for every target, and concrete resources to ask about.
const account = 'arn:aws:secretsmanager:eu-west-1:123456789012';
const table = (name: string) => `arn:aws:dynamodb:eu-west-1:123456789012:table/airlock-prod-${name}`;
const ARN = {
  grants: table('GrantsTable'),
  audit: table('AuditTable'),
  approvals: table('ApprovalsTable'),
  exports: table('ExportsTable'),
  auditStream: `${table('AuditTable')}/stream/2026-01-01T00:00:00.000`,
  locks: table('LocksTable'),
  signingKeys: `${account}:secret:airlock/prod/signing-keys-Ab12Cd`,
  grantJwks: `${account}:secret:airlock/prod/grant-jwks-Ef34Gh`,
  queryKeys: `${account}:secret:airlock/prod/query-keys-Ij56Kl`,
  shopAdmin: `${account}:secret:airlock/shop/admin-Mn78Op`,
  crmAdmin: `${account}:secret:airlock/crm/admin-Qr90St`,
  otherSecret: `${account}:secret:payments/stripe-Uv12Wx`,
  siemSecret: `${account}:secret:airlock/export/siem-Yz34Ab`,
  sesIdentity: 'arn:aws:ses:eu-west-1:123456789012:identity/airlock@example.com',
  sesConfigSet: 'arn:aws:ses:eu-west-1:123456789012:configuration-set/airlock-prod-MailConfig',
};
const FROM = 'airlock@example.com';

const permissions = functionPermissions({
  tables: {
    grants: ARN.grants,
    grantsIndexes: `${ARN.grants}/index/*`,
    audit: ARN.audit,
    auditStream: `${ARN.audit}/stream/*`,
    auditIndexes: `${ARN.audit}/index/*`,
    approvals: ARN.approvals,
    approvalsIndexes: `${ARN.approvals}/index/*`,
    exports: ARN.exports,
    locks: ARN.locks,
  },
  secrets: {
    signingKeys: ARN.signingKeys,
    grantJwks: ARN.grantJwks,
    queryKeys: ARN.queryKeys,
    admin: ['airlock/shop/admin', 'airlock/crm/admin'].map((name) => secretArnPattern(account, name)),
    export: [secretArnPattern(account, 'airlock/export/siem')],
  },
  email: {
    identities: 'arn:aws:ses:eu-west-1:123456789012:identity/*',
    configurationSet: ARN.sesConfigSet,
    from: FROM,
  },
});

const SECRET_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:DescribeSecret',
  'secretsmanager:PutSecretValue',
  'secretsmanager:ListSecretVersionIds',
];

/** What the audit log's anchor sends: UpdateItem naming the key and `auditHead`, returning nothing. */
const HEAD_UPDATE: RequestContext = { 'dynamodb:Attributes': ['id', 'auditHead'], 'dynamodb:ReturnValues': 'NONE' };

/** Grant updates the query function must never be allowed, each with the context keys IAM would see. */
const GRANT_UPDATES_REFUSED: Record<string, RequestContext> = {
  'setting status': { 'dynamodb:Attributes': ['id', 'status'], 'dynamodb:ReturnValues': 'NONE' },
  'setting expiresAt beside the head': { 'dynamodb:Attributes': ['id', 'auditHead', 'expiresAt'] },
  'moving the head and reading it all back': {
    'dynamodb:Attributes': ['id', 'auditHead'],
    'dynamodb:ReturnValues': 'ALL_NEW',
  },
  'reading the old item back': { 'dynamodb:Attributes': ['id', 'auditHead'], 'dynamodb:ReturnValues': 'ALL_OLD' },
  'naming no attributes': { 'dynamodb:ReturnValues': 'NONE' },
};

/** Everything the design forbids the query function, as violations (an empty list is a pass). */
function queryViolations(statements: Statement[]): string[] {
  const violations: string[] = [];
  for (const resource of [ARN.signingKeys, ARN.shopAdmin, ARN.crmAdmin, ARN.otherSecret]) {
    for (const action of SECRET_ACTIONS)
      if (allowed(statements, action, resource)) violations.push(`${action} on ${resource}`);
  }
  for (const action of AUDIT_TAMPERING) {
    if (allowed(statements, action, ARN.audit)) violations.push(`${action} on audit`);
  }
  for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
    if (allowed(statements, action, ARN.grants)) violations.push(`${action} on grants`);
    if (allowed(statements, action, ARN.locks)) violations.push(`${action} on locks`);
  }
  // The audit head is the one grant write: any other attribute, or reading the grant back, is a violation.
  for (const [what, context] of Object.entries(GRANT_UPDATES_REFUSED)) {
    if (allowed(statements, 'dynamodb:UpdateItem', ARN.grants, context))
      violations.push(`UpdateItem on grants ${what}`);
  }
  if (allowed(statements, 'ses:SendEmail', ARN.sesIdentity)) violations.push('ses:SendEmail');
  // Declared, not only effective: no allow may even name an admin secret or the signing key.
  for (const s of statements.filter((s) => (s.effect ?? 'allow') === 'allow')) {
    for (const resource of s.resources) {
      if ([ARN.signingKeys, ARN.shopAdmin].some((arn) => matches(resource, arn)))
        violations.push(`an allow names ${resource}`);
    }
  }
  return violations;
}

describe('least privilege: the query function', () => {
  const query = permissions.query;

  it('reads only the public grant keys and the query keys', () => {
    expect(allowed(query, 'secretsmanager:GetSecretValue', ARN.grantJwks)).toBe(true);
    expect(allowed(query, 'secretsmanager:GetSecretValue', ARN.queryKeys)).toBe(true);
    expect(queryViolations(query)).toEqual([]);
  });

  it('reads grants and appends to the audit log, and nothing more', () => {
    expect(allowed(query, 'dynamodb:GetItem', ARN.grants)).toBe(true);
    expect(allowed(query, 'dynamodb:PutItem', ARN.audit)).toBe(true);
    expect(allowed(query, 'dynamodb:Query', ARN.audit)).toBe(true);
    expect(allowed(query, 'dynamodb:Query', `${ARN.grants}/index/bySubject`)).toBe(false);
    expect(allowed(query, 'dynamodb:Query', `${ARN.audit}/index/byTime`)).toBe(false);
    expect(allowed(query, 'dynamodb:Scan', ARN.grants)).toBe(false);
  });

  it('reads locks (one consistent Query, or one lock) and never places, lifts or deletes one', () => {
    expect(allowed(query, 'dynamodb:Query', ARN.locks)).toBe(true);
    expect(allowed(query, 'dynamodb:GetItem', ARN.locks)).toBe(true);
    for (const action of [
      'PutItem',
      'UpdateItem',
      'DeleteItem',
      'BatchWriteItem',
      'PartiQLInsert',
      'PartiQLUpdate',
      'PartiQLDelete',
    ])
      expect(allowed(query, `dynamodb:${action}`, ARN.locks), action).toBe(false);
  });

  it('moves the audit head on a grant record, naming only id and auditHead and returning nothing', () => {
    expect(AUDIT_HEAD_ATTRIBUTES).toEqual(['id', 'auditHead']);
    expect(allowed(query, 'dynamodb:UpdateItem', ARN.grants, HEAD_UPDATE)).toBe(true);
    // ReturnValues left out is NONE.
    expect(allowed(query, 'dynamodb:UpdateItem', ARN.grants, { 'dynamodb:Attributes': ['id', 'auditHead'] })).toBe(
      true,
    );
    for (const [what, context] of Object.entries(GRANT_UPDATES_REFUSED))
      expect(allowed(query, 'dynamodb:UpdateItem', ARN.grants, context), what).toBe(false);
    expect(allowed(query, 'dynamodb:UpdateItem', ARN.audit, HEAD_UPDATE)).toBe(false);
    expect(allowed(query, 'dynamodb:UpdateItem', ARN.approvals, HEAD_UPDATE)).toBe(false);
  });

  it('the denies hold even if an allow is widened to any grant update', () => {
    const widened = [...query, { actions: ['dynamodb:UpdateItem'], resources: [ARN.grants] }];
    expect(allowed(widened, 'dynamodb:UpdateItem', ARN.grants, HEAD_UPDATE)).toBe(true);
    expect(allowed(widened, 'dynamodb:UpdateItem', ARN.grants, GRANT_UPDATES_REFUSED['setting status'])).toBe(false);
    expect(
      allowed(
        widened,
        'dynamodb:UpdateItem',
        ARN.grants,
        GRANT_UPDATES_REFUSED['moving the head and reading it all back'],
      ),
    ).toBe(false);
  });

  it('its audit PutItem may not return what it would replace', () => {
    const put = query.find((s) => (s.effect ?? 'allow') === 'allow' && applies(s, 'dynamodb:PutItem', ARN.audit));
    expect(put?.conditions).toEqual([
      { test: 'StringEqualsIfExists', variable: 'dynamodb:ReturnValues', values: ['NONE'] },
    ]);
  });

  it('the check catches a query function given an admin secret, the signing key, or audit update/delete', () => {
    const give = (extra: Statement[], drop: (s: Statement) => boolean = () => false) =>
      queryViolations([...query.filter((s) => !drop(s)), ...extra]);
    const isDeny = (s: Statement) => s.effect === 'deny';
    expect(
      give([
        { actions: ['secretsmanager:GetSecretValue'], resources: [secretArnPattern(account, 'airlock/shop/admin')] },
      ]),
    ).toContain(`an allow names ${secretArnPattern(account, 'airlock/shop/admin')}`);
    expect(give([{ actions: ['secretsmanager:GetSecretValue'], resources: ['*'] }], isDeny)).toContain(
      `secretsmanager:GetSecretValue on ${ARN.shopAdmin}`,
    );
    expect(give([{ actions: ['secretsmanager:GetSecretValue'], resources: [ARN.signingKeys] }], isDeny)).toContain(
      `secretsmanager:GetSecretValue on ${ARN.signingKeys}`,
    );
    expect(give([{ actions: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'], resources: [ARN.audit] }], isDeny)).toEqual(
      ['dynamodb:UpdateItem on audit', 'dynamodb:DeleteItem on audit'],
    );
    expect(give([{ actions: ['dynamodb:*'], resources: [ARN.audit] }], isDeny)).toContain(
      'dynamodb:BatchWriteItem on audit',
    );
    expect(give([{ actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [ARN.locks] }], isDeny)).toEqual([
      'dynamodb:PutItem on locks',
      'dynamodb:UpdateItem on locks',
    ]);
    // The explicit deny holds even against a broad allow.
    expect(give([{ actions: ['dynamodb:*'], resources: [ARN.locks] }])).toEqual([]);
    expect(give([{ actions: ['dynamodb:UpdateItem'], resources: [ARN.grants] }], isDeny)).toEqual([
      'dynamodb:UpdateItem on grants',
      ...Object.keys(GRANT_UPDATES_REFUSED).map((what) => `UpdateItem on grants ${what}`),
    ]);
  });
});

describe('the IAM evaluator the checks rely on', () => {
  const condition = (test: string, values: string[], variable = 'k') => ({ test, variable, values });

  it('evaluates absent keys as AWS does, ForAllValues trap included', () => {
    expect(conditionHolds(condition('ForAllValues:StringEquals', ['a']), {})).toBe(true);
    expect(conditionHolds(condition('ForAllValues:StringEquals', ['a']), { k: ['a', 'b'] })).toBe(false);
    expect(conditionHolds(condition('ForAnyValue:StringNotEquals', ['a']), {})).toBe(false);
    expect(conditionHolds(condition('ForAnyValue:StringNotEquals', ['a']), { k: ['a', 'b'] })).toBe(true);
    expect(conditionHolds(condition('StringEquals', ['a']), {})).toBe(false);
    expect(conditionHolds(condition('StringNotEquals', ['a']), {})).toBe(false);
    expect(conditionHolds(condition('StringEqualsIfExists', ['a']), {})).toBe(true);
    expect(conditionHolds(condition('StringEqualsIfExists', ['a']), { k: 'b' })).toBe(false);
    expect(conditionHolds(condition('Null', ['false']), {})).toBe(false);
    expect(conditionHolds(condition('Null', ['false']), { k: ['a'] })).toBe(true);
    expect(() => conditionHolds(condition('NumericLessThan', ['1']), { k: '0' })).toThrow(/does not know/);
  });
});

describe('least privilege: the API function and the sweeper', () => {
  it.each(['api', 'sweeper'] as const)('%s reads the admin secrets the policy names and the signing key', (name) => {
    const statements = permissions[name];
    for (const arn of [ARN.shopAdmin, ARN.crmAdmin, ARN.signingKeys, ARN.grantJwks, ARN.queryKeys]) {
      expect(allowed(statements, 'secretsmanager:GetSecretValue', arn), arn).toBe(true);
    }
    expect(allowed(statements, 'secretsmanager:GetSecretValue', ARN.otherSecret)).toBe(false);
    // The six-character suffix is exact: another secret that starts with the same name is not included.
    expect(
      allowed(statements, 'secretsmanager:GetSecretValue', `${account}:secret:airlock/shop/admin-old-Mn78Op`),
    ).toBe(false);
    expect(allowed(statements, 'secretsmanager:PutSecretValue', ARN.signingKeys)).toBe(false);
  });

  it.each(['api', 'sweeper'] as const)(
    '%s reads and writes grants and approvals, and only appends to audit',
    (name) => {
      const statements = permissions[name];
      for (const action of ['GetItem', 'PutItem', 'UpdateItem', 'Query'])
        expect(allowed(statements, `dynamodb:${action}`, ARN.grants), action).toBe(true);
      for (const index of ['bySubject', 'byDue', 'byStatus', 'byConnection'])
        expect(allowed(statements, 'dynamodb:Query', `${ARN.grants}/index/${index}`)).toBe(true);
      for (const action of ['GetItem', 'PutItem'])
        expect(allowed(statements, `dynamodb:${action}`, ARN.approvals), action).toBe(true);
      for (const index of ['byUnnotified', 'byAwaiting'])
        expect(allowed(statements, 'dynamodb:Query', `${ARN.approvals}/index/${index}`)).toBe(true);
      for (const action of ['GetItem', 'PutItem', 'UpdateItem', 'Query'])
        expect(allowed(statements, `dynamodb:${action}`, ARN.locks), action).toBe(true);
      // A lock is lifted, never deleted: its record stays for the audit trail.
      expect(allowed(statements, 'dynamodb:DeleteItem', ARN.locks)).toBe(false);
      expect(allowed(statements, 'dynamodb:PutItem', ARN.audit)).toBe(true);
      expect(allowed(statements, 'dynamodb:Query', ARN.audit)).toBe(true);
      expect(allowed(statements, 'dynamodb:Query', `${ARN.audit}/index/byTime`)).toBe(true);
      expect(allowed(statements, 'dynamodb:UpdateItem', ARN.grants, HEAD_UPDATE)).toBe(true);
      for (const action of AUDIT_TAMPERING) expect(allowed(statements, action, ARN.audit), action).toBe(false);
      expect(allowed(statements, 'dynamodb:DeleteItem', ARN.grants)).toBe(false);
    },
  );

  it.each(['api', 'sweeper'] as const)('%s sends approval mail, only as the policy sender', (name) => {
    const asSender = { 'ses:FromAddress': FROM };
    expect(allowed(permissions[name], 'ses:SendEmail', ARN.sesIdentity, asSender)).toBe(true);
    expect(allowed(permissions[name], 'ses:SendEmail', ARN.sesConfigSet, asSender)).toBe(true);
    expect(allowed(permissions[name], 'ses:SendEmail', ARN.sesIdentity, { 'ses:FromAddress': 'ceo@example.com' })).toBe(
      false,
    );
    const send = permissions[name].find((s) => s.actions.includes('ses:SendEmail'));
    expect(send?.conditions).toEqual([{ test: 'StringEquals', variable: 'ses:FromAddress', values: [FROM] }]);
  });

  it('no function is allowed a whole service or every resource', () => {
    for (const [name, statements] of Object.entries(permissions)) {
      for (const s of statements.filter((s) => (s.effect ?? 'allow') === 'allow')) {
        expect(
          s.actions.filter((action) => action.includes('*')),
          name,
        ).toEqual([]);
        expect(
          s.resources.filter((resource) => resource === '*'),
          name,
        ).toEqual([]);
      }
    }
  });
});

/** Everything the design forbids the export function, as violations (an empty list is a pass). */
function exportViolations(statements: Statement[]): string[] {
  const violations: string[] = [];
  for (const resource of [
    ARN.signingKeys,
    ARN.grantJwks,
    ARN.queryKeys,
    ARN.shopAdmin,
    ARN.crmAdmin,
    ARN.otherSecret,
  ]) {
    for (const action of SECRET_ACTIONS)
      if (allowed(statements, action, resource)) violations.push(`${action} on ${resource}`);
  }
  for (const action of ['dynamodb:PutItem', ...AUDIT_TAMPERING]) {
    if (allowed(statements, action, ARN.audit)) violations.push(`${action} on audit`);
  }
  for (const table of [ARN.grants, `${ARN.grants}/index/bySubject`, ARN.approvals]) {
    for (const action of [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
      'dynamodb:Scan',
    ])
      if (allowed(statements, action, table)) violations.push(`${action} on ${table}`);
  }
  if (allowed(statements, 'dynamodb:DeleteItem', ARN.exports)) violations.push('dynamodb:DeleteItem on exports');
  if (allowed(statements, 'ses:SendEmail', ARN.sesIdentity)) violations.push('ses:SendEmail');
  return violations;
}

describe('least privilege: the export function', () => {
  const exporter = permissions.export;

  it("reads the audit stream and the audit log, keeps its cursors and reads only its sinks' secrets", () => {
    for (const action of ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams'])
      expect(allowed(exporter, `dynamodb:${action}`, ARN.auditStream), action).toBe(true);
    expect(allowed(exporter, 'dynamodb:Query', ARN.audit)).toBe(true);
    expect(allowed(exporter, 'dynamodb:BatchGetItem', ARN.exports)).toBe(true);
    expect(allowed(exporter, 'dynamodb:PutItem', ARN.exports)).toBe(true);
    expect(allowed(exporter, 'secretsmanager:GetSecretValue', ARN.siemSecret)).toBe(true);
    expect(exportViolations(exporter)).toEqual([]);
  });

  it('no other function reads a sink secret, the stream or the cursors', () => {
    for (const name of ['api', 'query', 'sweeper'] as const) {
      expect(allowed(permissions[name], 'secretsmanager:GetSecretValue', ARN.siemSecret), name).toBe(false);
      expect(allowed(permissions[name], 'dynamodb:GetRecords', ARN.auditStream), name).toBe(false);
      expect(allowed(permissions[name], 'dynamodb:PutItem', ARN.exports), name).toBe(false);
    }
  });

  it('the check catches an export function given a key, an admin secret or an audit write', () => {
    const isDeny = (s: Statement) => s.effect === 'deny';
    const give = (extra: Statement[]) => exportViolations([...exporter.filter((s) => !isDeny(s)), ...extra]);
    expect(give([{ actions: ['secretsmanager:GetSecretValue'], resources: ['*'] }])).toContain(
      `secretsmanager:GetSecretValue on ${ARN.signingKeys}`,
    );
    expect(give([{ actions: ['dynamodb:PutItem'], resources: [ARN.audit] }])).toContain('dynamodb:PutItem on audit');
    expect(give([{ actions: ['dynamodb:GetItem'], resources: [ARN.grants] }])).toContain(
      `dynamodb:GetItem on ${ARN.grants}`,
    );
    // With its denies in place, even a broad allow cannot reach the keys or write the audit log.
    expect(
      exportViolations([...exporter, { actions: ['secretsmanager:GetSecretValue'], resources: [ARN.queryKeys] }]),
    ).toEqual([]);
    expect(exportViolations([...exporter, { actions: ['dynamodb:PutItem'], resources: [ARN.audit] }])).toEqual([]);
  });
});

describe('the stack applies these permissions', () => {
  it('gives every function its statements from stacks/permissions.ts and never uses `link` or managed policies', async () => {
    const stack = await readFile(new URL('../../stacks/airlock.ts', import.meta.url), 'utf8');
    expect(stack).toMatch(/permissions: permissions\[name\]/);
    expect(stack).not.toMatch(/\blink:|\bpolicies:|\brole:/);
    expect(stack.match(/new sst\.aws\.Function\(/g)).toHaveLength(1);
    expect([...stack.matchAll(/fn\('(\w+)', '(\w+)'/g)].map((m) => m[2])).toEqual([
      'api',
      'query',
      'sweeper',
      'export',
    ]);
    expect(stack).toMatch(/http\.route\('POST \/v1\/query', query\.arn\)/);
    // The export reads the audit stream as the function above (its own role), never as an SST-made one.
    expect(stack).toMatch(/audit\.subscribe\('ExportSubscription', exporter\.arn,/);
    expect(stack).toMatch(/maximumRetryAttempts = -1/);
    expect(stack).toMatch(/functionResponseTypes = \['ReportBatchItemFailures'\]/);
  });

  it('sets exactly the environment the functions parse', () => {
    const env = functionEnvironment({
      stage: 'prod',
      tables: {
        grants: 'airlock-prod-GrantsTable',
        audit: 'airlock-prod-AuditTable',
        approvals: 'airlock-prod-ApprovalsTable',
        exports: 'airlock-prod-ExportsTable',
        locks: 'airlock-prod-LocksTable',
      },
      secrets: {
        signingKeys: 'airlock/prod/signing-keys',
        grantJwks: 'airlock/prod/grant-jwks',
        queryKeys: 'airlock/prod/query-keys',
      },
      policy: 'airlock.policy.yaml',
      wsProxy: 'wsproxy.example.com',
      rolePrefix: 'airlock_prod_',
      logLevel: 'debug',
    });
    const config = parseFunctionConfig(
      { ...env, AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: 'airlock-prod-Query' },
      '/var/task',
    );
    expect(config).toMatchObject({
      stage: 'prod',
      policyPath: '/var/task/airlock.policy.yaml',
      tables: {
        grants: 'airlock-prod-GrantsTable',
        audit: 'airlock-prod-AuditTable',
        approvals: 'airlock-prod-ApprovalsTable',
        exports: 'airlock-prod-ExportsTable',
        locks: 'airlock-prod-LocksTable',
      },
      secretNames: {
        'airlock/signing-keys': 'airlock/prod/signing-keys',
        'airlock/grant-jwks': 'airlock/prod/grant-jwks',
        'airlock/query-keys': 'airlock/prod/query-keys',
      },
      wire: { wsProxy: 'wsproxy.example.com', secureWebSocket: true },
      rolePrefix: 'airlock_prod_',
      logLevel: 'debug',
      functionName: 'airlock-prod-Query',
    });
    expect(config.test).toBeUndefined();
  });

  it('lists the admin secrets from the policy file it ships, and refuses a sender SES cannot use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-stack-'));
    try {
      const demo = await readFile(new URL('../../airlock.policy.yaml', import.meta.url), 'utf8');
      await writeFile(join(dir, 'demo.yaml'), demo);
      await expect(loadStackConfig({ AIRLOCK_POLICY_FILE: 'demo.yaml' }, dir)).rejects.toThrow(/set mail.from/);
      const policy = demo
        .replace('version: 1', 'version: 1\nmail: { from: airlock@example.com }')
        .replace(
          'connections:',
          'connections:\n  crm: { adminSecret: airlock/crm/admin, profiles: { read: { readOnly: true } } }',
        );
      await writeFile(join(dir, 'prod.yaml'), policy);
      const config = await loadStackConfig(
        { AIRLOCK_POLICY_FILE: 'prod.yaml', AIRLOCK_MAIL_IDENTITY: 'example.com' },
        dir,
      );
      expect(config.adminSecrets).toEqual(['airlock/crm/admin', 'airlock/shop/admin']);
      expect(config.mail).toEqual({ from: 'airlock@example.com', identity: 'example.com', dns: true });
      // The demo policy is local: every setting that breaks behind API Gateway and Lambda is named.
      expect(deployWarnings(config.policy).map((warning) => warning.split(' ')[0])).toEqual([
        'publicUrl',
        'limits.statementTimeout',
        'limits.maxResultBytes',
        'identity.issuers',
      ]);
      await expect(
        loadStackConfig({ AIRLOCK_POLICY_FILE: 'prod.yaml', AIRLOCK_MAIL_IDENTITY: 'other.org' }, dir),
      ).rejects.toThrow(/neither the SES identity/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists the webhook secrets for the export function and refuses a file sink, which only runs locally', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-stack-'));
    try {
      const demo = (await readFile(new URL('../../airlock.policy.yaml', import.meta.url), 'utf8')).replace(
        'version: 1',
        'version: 1\nmail: { from: airlock@example.com }',
      );
      const sinks = (lines: string) => `${demo}\nauditExport:\n  sinks:\n${lines}`;
      await writeFile(
        join(dir, 'webhooks.yaml'),
        sinks(
          [
            '    - { type: webhook, name: siem, url: "https://siem.example.com/in", secret: airlock/export/siem }',
            '    - { type: webhook, url: "https://logs.example.com/v2?key=abc", secret: airlock/export/logs, format: ocsf }',
          ].join('\n'),
        ),
      );
      const config = await loadStackConfig({ AIRLOCK_POLICY_FILE: 'webhooks.yaml' }, dir);
      expect(config.exportSecrets).toEqual(['airlock/export/logs', 'airlock/export/siem']);
      await writeFile(join(dir, 'file.yaml'), sinks('    - { type: file, name: local, path: audit.jsonl }'));
      await expect(loadStackConfig({ AIRLOCK_POLICY_FILE: 'file.yaml' }, dir)).rejects.toThrow(
        /sink local is a file sink, which runs on the local stack only/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
