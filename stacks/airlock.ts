// The AWS stack: DynamoDB tables, Airlock's secrets, the API, query and sweeper functions behind one
// HTTP API, the sweeper's schedule, the audit export on the audit table's stream and the SES identity.
// Permissions come only from stacks/permissions.ts.

import { execFileSync } from 'node:child_process';
import { relative } from 'node:path';
import { TABLES, type TableDefinition } from '../shared/store/index.ts';
import { deployWarnings, functionEnvironment, loadStackConfig, secretArnPattern } from './config.ts';
import { type FunctionName, functionPermissions } from './permissions.ts';

/** Where the functions find the shipped policy (relative to the function root, its cwd). */
const SHIPPED_POLICY = 'airlock.policy.yaml';

export async function airlockStack() {
  const root = $cli.paths.root;
  const config = await loadStackConfig(process.env, root);
  for (const warning of deployWarnings(config.policy)) console.warn(`warning: ${config.policyFile}: ${warning}`);
  // The deployed code is exactly what `npm run build` produced and test/deploy/bundles.test.ts started.
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

  const prod = $app.stage === 'prod';
  const grants = table('Grants', TABLES.grants);
  const audit = table('Audit', TABLES.audit);
  const approvals = table('Approvals', TABLES.approvals);
  const exports = table('Exports', TABLES.exports);
  const locks = table('Locks', TABLES.locks);

  // Values are put by the operator (`npm run keys`), never by the stack: keys stay out of deploy state.
  const secret = (id: string, name: string, description: string) =>
    new aws.secretsmanager.Secret(id, {
      name: `airlock/${$app.stage}/${name}`,
      description,
      recoveryWindowInDays: prod ? 30 : 0,
    });
  const signingKeys = secret(
    'SigningKeys',
    'signing-keys',
    'Airlock: private ES256 keys of grant tokens and approval links (first signs)',
  );
  const grantJwks = secret(
    'GrantJwks',
    'grant-jwks',
    'Airlock: public keys the query function verifies grant tokens with',
  );
  const queryKeys = secret(
    'QueryKeys',
    'query-keys',
    'Airlock: roleKey (role passwords), maskingKey (hash masking) and auditKey (keyed audit chain)',
  );

  const email = new sst.aws.Email('Mail', {
    sender: config.mail.identity,
    ...(config.mail.dns ? {} : { dns: false as const }),
  });

  const identity = aws.getCallerIdentityOutput({});
  const region = aws.getRegionOutput({});
  const partition = aws.getPartitionOutput({});
  const arnPrefix = (service: string) =>
    $interpolate`arn:${partition.partition}:${service}:${region.region}:${identity.accountId}`;
  const secretsPrefix = arnPrefix('secretsmanager');

  const permissions = functionPermissions({
    tables: {
      grants: grants.arn,
      grantsIndexes: $interpolate`${grants.arn}/index/*`,
      audit: audit.arn,
      auditStream: $interpolate`${audit.arn}/stream/*`,
      auditIndexes: $interpolate`${audit.arn}/index/*`,
      approvals: approvals.arn,
      approvalsIndexes: $interpolate`${approvals.arn}/index/*`,
      exports: exports.arn,
      locks: locks.arn,
    },
    secrets: {
      signingKeys: signingKeys.arn,
      grantJwks: grantJwks.arn,
      queryKeys: queryKeys.arn,
      admin: config.adminSecrets.map((name) => secretsPrefix.apply((prefix) => secretArnPattern(prefix, name))),
      export: config.exportSecrets.map((name) => secretsPrefix.apply((prefix) => secretArnPattern(prefix, name))),
    },
    email: {
      identities: $interpolate`${arnPrefix('ses')}:identity/*`,
      configurationSet: $interpolate`${arnPrefix('ses')}:configuration-set/${email.configSet}`,
      from: config.mail.from,
    },
  });

  const environment = functionEnvironment<$util.Input<string>>({
    stage: $app.stage,
    tables: {
      grants: grants.name,
      audit: audit.name,
      approvals: approvals.name,
      exports: exports.name,
      locks: locks.name,
    },
    secrets: { signingKeys: signingKeys.name, grantJwks: grantJwks.name, queryKeys: queryKeys.name },
    policy: SHIPPED_POLICY,
    ...(config.wsProxy ? { wsProxy: config.wsProxy } : {}),
    ...(config.rolePrefix ? { rolePrefix: config.rolePrefix } : {}),
    ...(config.logLevel ? { logLevel: config.logLevel } : {}),
  });
  const fn = (
    id: string,
    name: FunctionName,
    extra: { timeout: `${number} seconds`; memory: `${number} MB`; description: string },
  ) =>
    new sst.aws.Function(id, {
      ...extra,
      runtime: 'nodejs22.x',
      architecture: 'arm64',
      bundle: `dist/functions/${name}`,
      handler: 'index.handler',
      // SST joins `from` onto the app root, so it must be relative.
      copyFiles: [{ from: relative(root, config.policyFile), to: SHIPPED_POLICY }],
      environment,
      permissions: permissions[name],
    });

  // API Gateway's integration limit is 30 s: statements are cut by statement_timeout before that.
  const api = fn('Api', 'api', {
    timeout: '30 seconds',
    memory: '1024 MB',
    description: 'Airlock API: grants, approvals, JWKS, OpenAPI, MCP',
  });
  const query = fn('Query', 'query', {
    timeout: '30 seconds',
    memory: '1024 MB',
    description: 'Airlock query path: POST /v1/query',
  });
  const sweeper = fn('Sweeper', 'sweeper', {
    timeout: '55 seconds',
    memory: '512 MB',
    description: 'Airlock sweeper: expires grants, drops roles',
  });

  const http = new sst.aws.ApiGatewayV2('Http', { cors: false, ...(config.domain ? { domain: config.domain } : {}) });
  http.route('POST /v1/query', query.arn);
  http.route('$default', api.arn);

  // No retries: the next minute's run is the retry, and a sweep is safe to repeat.
  new sst.aws.CronV2('Sweep', { schedule: 'rate(1 minute)', function: sweeper.arn, retries: 0 });

  const exporter = fn('Export', 'export', {
    timeout: '60 seconds',
    memory: '512 MB',
    description: 'Airlock audit export: the audit stream to the policy sinks',
  });
  // In order per shard, retried until every sink took a batch (the stream keeps records 24 hours);
  // ReportBatchItemFailures makes a retry start at the batch the handler names, never after it.
  audit.subscribe('ExportSubscription', exporter.arn, {
    transform: {
      eventSourceMapping: (args) => {
        args.startingPosition = 'TRIM_HORIZON';
        args.batchSize = 100;
        args.maximumBatchingWindowInSeconds = 1;
        args.parallelizationFactor = 1;
        args.maximumRetryAttempts = -1;
        args.maximumRecordAgeInSeconds = -1;
        args.bisectBatchOnFunctionError = false;
        args.functionResponseTypes = ['ReportBatchItemFailures'];
      },
    },
  });

  return {
    ApiUrl: http.url,
    JwksUrl: $interpolate`${http.url}/.well-known/jwks.json`,
    SigningKeysSecret: signingKeys.name,
    GrantJwksSecret: grantJwks.name,
    QueryKeysSecret: queryKeys.name,
    AdminSecrets: config.adminSecrets.join(', '),
    MailIdentity: config.mail.identity,
    GrantsTable: grants.name,
    AuditTable: audit.name,
    LocksTable: locks.name,
    // Key rotation recycles these (README, "Rotating the signing key"): keys are read once per cold start.
    ApiFunction: api.name,
    QueryFunction: query.name,
    SweeperFunction: sweeper.name,
    ExportFunction: exporter.name,
  };
}

/** A table exactly as shared/store/tables.ts defines it: on-demand, point-in-time recovery on (SST's default). */
function table(id: string, definition: TableDefinition) {
  const type = (attribute: 'S' | 'N') => (attribute === 'S' ? ('string' as const) : ('number' as const));
  return new sst.aws.Dynamo(id, {
    fields: Object.fromEntries(
      Object.entries(definition.attributes).map(([name, attribute]) => [name, type(attribute)]),
    ),
    primaryIndex: { hashKey: definition.hashKey, ...(definition.rangeKey ? { rangeKey: definition.rangeKey } : {}) },
    globalIndexes: Object.fromEntries(
      definition.indexes.map((index) => [
        index.name,
        { hashKey: index.hashKey, ...(index.rangeKey ? { rangeKey: index.rangeKey } : {}) },
      ]),
    ),
    ...(definition.ttl ? { ttl: definition.ttl } : {}),
    ...(definition.stream ? { stream: definition.stream } : {}),
    deletionProtection: $app.stage === 'prod',
  });
}
