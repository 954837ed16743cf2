// Configuration of the Lambda functions, parsed once per cold start from the environment the stack sets.
// The only file under functions/ that reads process.env; a bad environment stops the cold start loudly.

import { resolve } from 'node:path';
import { z } from 'zod';
import { AirlockError } from '../shared/errors.ts';
import { LogLevel } from '../shared/observe/index.ts';
import { formatIssues } from '../shared/policy/index.ts';
import type { WireOptions } from '../shared/postgres/index.ts';
import { SECRET_NAMES, type SecretSource } from '../shared/secrets/index.ts';
import type { TableNames } from '../shared/store/index.ts';

const Name = z.string().min(1);

/** Variable names, shared with the stack (stacks/airlock.ts) that sets them. */
export const FunctionEnv = z.object({
  AIRLOCK_STAGE: Name,
  AIRLOCK_GRANTS_TABLE: Name,
  AIRLOCK_AUDIT_TABLE: Name,
  AIRLOCK_APPROVALS_TABLE: Name,
  AIRLOCK_EXPORTS_TABLE: Name,
  AIRLOCK_LOCKS_TABLE: Name,
  /** The policy file shipped in the bundle; relative paths are from the function's root (its cwd). */
  AIRLOCK_POLICY: Name.default('airlock.policy.yaml'),
  /** Physical names (or ARNs) of Airlock's own secrets; the stack names them per stage. */
  AIRLOCK_SIGNING_KEYS_SECRET: Name.default(SECRET_NAMES.signingKeys),
  AIRLOCK_GRANT_JWKS_SECRET: Name.default(SECRET_NAMES.grantJwks),
  AIRLOCK_QUERY_KEYS_SECRET: Name.default(SECRET_NAMES.queryKeys),
  /** `host[:port][/path]` of a WebSocket→TCP proxy for non-Neon Postgres; unset for Neon. */
  AIRLOCK_WS_PROXY: Name.optional(),
  /** `airlock_<tag>_` when several deployments share a database. */
  AIRLOCK_ROLE_PREFIX: Name.optional(),
  /** Log level of the function's JSON lines: trace, debug, info (default), warn, error, fatal, silent. */
  AIRLOCK_LOG: LogLevel.default('info'),
  AWS_REGION: Name,
  /** Set by Lambda; its presence makes the test switches below refuse to work. */
  AWS_LAMBDA_FUNCTION_NAME: Name.optional(),
  /** Test switch (bundle test only): read secrets from this JSON file instead of Secrets Manager. */
  AIRLOCK_TEST_SECRETS_FILE: Name.optional(),
  /** Test switch (bundle test only): DynamoDB endpoint (dynalite) with dummy credentials. */
  AIRLOCK_TEST_DYNAMO_ENDPOINT: z.url().optional(),
});

export interface FunctionConfig {
  stage: string;
  region: string;
  tables: TableNames;
  policyPath: string;
  /** Logical secret name (SECRET_NAMES) → name or ARN in Secrets Manager. */
  secretNames: Record<string, string>;
  wire: WireOptions;
  rolePrefix?: string;
  logLevel: LogLevel;
  /** Set inside Lambda: names the function on its log lines and metrics. */
  functionName?: string;
  /** Only outside Lambda: the bundle test's file secrets and DynamoDB endpoint. */
  test?: { secretsFile?: string; dynamoEndpoint?: string };
}

export function parseFunctionConfig(env: Record<string, string | undefined>, cwd = process.cwd()): FunctionConfig {
  const result = FunctionEnv.safeParse(env);
  if (!result.success) {
    throw new AirlockError(
      'invalid_config',
      `invalid function environment:\n  ${formatIssues(result.error.issues).join('\n  ')}`,
    );
  }
  const parsed = result.data;
  const testSwitches =
    parsed.AIRLOCK_TEST_SECRETS_FILE !== undefined || parsed.AIRLOCK_TEST_DYNAMO_ENDPOINT !== undefined;
  if (testSwitches && parsed.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    throw new AirlockError('invalid_config', 'AIRLOCK_TEST_* switches are refused inside Lambda');
  }
  return {
    stage: parsed.AIRLOCK_STAGE,
    region: parsed.AWS_REGION,
    tables: {
      grants: parsed.AIRLOCK_GRANTS_TABLE,
      audit: parsed.AIRLOCK_AUDIT_TABLE,
      approvals: parsed.AIRLOCK_APPROVALS_TABLE,
      exports: parsed.AIRLOCK_EXPORTS_TABLE,
      locks: parsed.AIRLOCK_LOCKS_TABLE,
    },
    policyPath: resolve(cwd, parsed.AIRLOCK_POLICY),
    secretNames: {
      [SECRET_NAMES.signingKeys]: parsed.AIRLOCK_SIGNING_KEYS_SECRET,
      [SECRET_NAMES.grantJwks]: parsed.AIRLOCK_GRANT_JWKS_SECRET,
      [SECRET_NAMES.queryKeys]: parsed.AIRLOCK_QUERY_KEYS_SECRET,
    },
    wire: parsed.AIRLOCK_WS_PROXY ? { wsProxy: parsed.AIRLOCK_WS_PROXY, secureWebSocket: true } : {},
    ...(parsed.AIRLOCK_ROLE_PREFIX ? { rolePrefix: parsed.AIRLOCK_ROLE_PREFIX } : {}),
    logLevel: parsed.AIRLOCK_LOG,
    ...(parsed.AWS_LAMBDA_FUNCTION_NAME ? { functionName: parsed.AWS_LAMBDA_FUNCTION_NAME } : {}),
    ...(testSwitches
      ? { test: { secretsFile: parsed.AIRLOCK_TEST_SECRETS_FILE, dynamoEndpoint: parsed.AIRLOCK_TEST_DYNAMO_ENDPOINT } }
      : {}),
  };
}

/** Reads Airlock's own secrets under their per-stage names; every other name (admin secrets) is used as written. */
export function renamedSecrets(source: SecretSource, names: Record<string, string>): SecretSource {
  return { getJson: (name) => source.getJson(names[name] ?? name) };
}
