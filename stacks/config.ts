// Deploy-time settings of the stack, from the operator's environment and the policy file it ships.
// Plain data, no SST globals: the stack and the tests read it alike. A bad setting stops the deploy.

import { resolve } from 'node:path';
import { z } from 'zod';
import { LogLevel } from '../shared/observe/index.ts';
import { formatIssues, loadPolicyFile, type Policy, sinkName } from '../shared/policy/index.ts';

const DeployEnv = z.object({
  /** The policy file shipped with the functions (a policy change is a reviewed deploy). */
  AIRLOCK_POLICY_FILE: z.string().min(1).default('airlock.policy.yaml'),
  /** SES identity to verify: an address, or a domain; default the policy's `mail.from`. */
  AIRLOCK_MAIL_IDENTITY: z.string().min(3).optional(),
  /** `route53` (default): SST adds a domain identity's DNS records; `manual`: you add them. */
  AIRLOCK_MAIL_DNS: z.enum(['route53', 'manual']).default('route53'),
  /** `host[:port][/path]` of the deployed WebSocket proxy, for non-Neon Postgres. */
  AIRLOCK_WS_PROXY: z.string().min(1).optional(),
  /** Custom domain of the API (Route 53); else the API Gateway URL. */
  AIRLOCK_DOMAIN: z.string().min(1).optional(),
  /** `airlock_<tag>_` when several deployments share a database; default `airlock_`. */
  AIRLOCK_ROLE_PREFIX: z
    .string()
    .regex(/^airlock_(?:[a-z0-9]{1,12}_)?$/, 'expected airlock_ or airlock_<tag>_')
    .optional(),
  /** The functions' log level (default info). */
  AIRLOCK_LOG: LogLevel.optional(),
});

export interface StackConfig {
  /** Absolute path of the policy file. */
  policyFile: string;
  policy: Policy;
  /** Secrets Manager names of the connections' admin credentials, as the policy names them. */
  adminSecrets: string[];
  /** Secrets Manager names of the audit export's webhook secrets (only the export function reads them). */
  exportSecrets: string[];
  mail: { from: string; identity: string; dns: boolean };
  wsProxy?: string;
  domain?: string;
  rolePrefix?: string;
  logLevel?: LogLevel;
}

export async function loadStackConfig(env: Record<string, string | undefined>, root: string): Promise<StackConfig> {
  const result = DeployEnv.safeParse(env);
  if (!result.success)
    throw new Error(`invalid deploy environment:\n  ${formatIssues(result.error.issues).join('\n  ')}`);
  const parsed = result.data;
  const policyFile = resolve(root, parsed.AIRLOCK_POLICY_FILE);
  const policy = await loadPolicyFile(policyFile);
  const from = policy.mail.from;
  if (/@localhost$/i.test(from)) throw new Error(`set mail.from in ${policyFile}: SES cannot send as ${from}`);
  const identity = parsed.AIRLOCK_MAIL_IDENTITY ?? from;
  if (!(from === identity || from.toLowerCase().endsWith(`@${identity.toLowerCase()}`))) {
    throw new Error(`the policy's mail.from (${from}) is neither the SES identity ${identity} nor an address at it`);
  }
  const fileSink = policy.auditExport.sinks.find((sink) => sink.type === 'file');
  if (fileSink)
    throw new Error(
      `${policyFile}: auditExport sink ${sinkName(fileSink)} is a file sink, which runs on the local stack only: use a webhook`,
    );
  return {
    policyFile,
    policy,
    adminSecrets: [...new Set(Object.values(policy.connections).map((connection) => connection.adminSecret))].sort(),
    exportSecrets: [
      ...new Set(policy.auditExport.sinks.flatMap((sink) => (sink.type === 'webhook' ? [sink.secret] : []))),
    ].sort(),
    mail: { from, identity, dns: parsed.AIRLOCK_MAIL_DNS === 'route53' },
    ...(parsed.AIRLOCK_WS_PROXY ? { wsProxy: parsed.AIRLOCK_WS_PROXY } : {}),
    ...(parsed.AIRLOCK_DOMAIN ? { domain: parsed.AIRLOCK_DOMAIN } : {}),
    ...(parsed.AIRLOCK_ROLE_PREFIX ? { rolePrefix: parsed.AIRLOCK_ROLE_PREFIX } : {}),
    ...(parsed.AIRLOCK_LOG ? { logLevel: parsed.AIRLOCK_LOG } : {}),
  };
}

/** IAM resource of a secret named in the policy: Secrets Manager appends `-` and six random characters. */
export function secretArnPattern(prefix: string, nameOrArn: string): string {
  return nameOrArn.startsWith('arn:') ? nameOrArn : `${prefix}:secret:${nameOrArn}-??????`;
}

export interface EnvironmentValues<R> {
  stage: string;
  tables: { grants: R; audit: R; approvals: R; exports: R; locks: R };
  secrets: { signingKeys: R; grantJwks: R; queryKeys: R };
  /** Path of the shipped policy, relative to the function root. */
  policy: string;
  wsProxy?: string;
  rolePrefix?: string;
  logLevel?: LogLevel;
}

/** The functions' environment, in the names functions/config.ts parses (a test holds the two together). */
export function functionEnvironment<R>(values: EnvironmentValues<R>): Record<string, R | string> {
  return {
    AIRLOCK_STAGE: values.stage,
    AIRLOCK_GRANTS_TABLE: values.tables.grants,
    AIRLOCK_AUDIT_TABLE: values.tables.audit,
    AIRLOCK_APPROVALS_TABLE: values.tables.approvals,
    AIRLOCK_EXPORTS_TABLE: values.tables.exports,
    AIRLOCK_LOCKS_TABLE: values.tables.locks,
    AIRLOCK_POLICY: values.policy,
    AIRLOCK_SIGNING_KEYS_SECRET: values.secrets.signingKeys,
    AIRLOCK_GRANT_JWKS_SECRET: values.secrets.grantJwks,
    AIRLOCK_QUERY_KEYS_SECRET: values.secrets.queryKeys,
    ...(values.wsProxy ? { AIRLOCK_WS_PROXY: values.wsProxy } : {}),
    ...(values.rolePrefix ? { AIRLOCK_ROLE_PREFIX: values.rolePrefix } : {}),
    ...(values.logLevel ? { AIRLOCK_LOG: values.logLevel } : {}),
  };
}

/** Policy settings that work locally but not behind API Gateway and Lambda; the deploy prints them. */
export function deployWarnings(policy: Policy): string[] {
  const warnings: string[] = [];
  if (!policy.publicUrl.startsWith('https://'))
    warnings.push(
      `publicUrl is ${policy.publicUrl}: set it to this stage's https URL (the ApiUrl output, or your domain)`,
    );
  // API Gateway answers 503 after 30 s while the statement would still run and be audited.
  if (policy.limits.statementTimeout > 25)
    warnings.push(
      `limits.statementTimeout is ${policy.limits.statementTimeout}s: keep it at 25s or less (API Gateway gives up at 30s)`,
    );
  // A synchronous Lambda response is at most 6 MB, JSON and headers included.
  if (policy.limits.maxResultBytes > 5 * 1024 * 1024)
    warnings.push(
      `limits.maxResultBytes is ${policy.limits.maxResultBytes}: keep it at 5 MiB or less (Lambda responses stop at 6 MB)`,
    );
  if (policy.identity.issuers.some((issuer) => /^http:\/\/(127\.0\.0\.1|localhost)\b/.test(issuer.issuer)))
    warnings.push('identity.issuers names the local dev issuer, which does not exist in AWS');
  return warnings;
}
