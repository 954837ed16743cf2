// The policy file's shape: one zod schema used for validation, types and the editors' JSON Schema.
// Cross-references (a rule's connection and access) are checked here so a bad file never starts.

import { z } from 'zod';
import { parseDuration } from './duration.ts';

export const STATEMENT_KINDS = [
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'truncate',
  'ddl',
  'copy',
  'privilege',
  'transaction',
  'set',
  'call',
  'do',
  'explain',
  'other',
] as const;
export const StatementKind = z.enum(STATEMENT_KINDS);
export type StatementKind = z.infer<typeof StatementKind>;

export const MASK_STRATEGIES = ['redact', 'email', 'last4', 'hash', 'null'] as const;
export const MaskStrategy = z.enum(MASK_STRATEGIES);
export type MaskStrategy = z.infer<typeof MaskStrategy>;

export const DETECTORS = ['email', 'credit_card', 'us_ssn', 'phone', 'iban', 'ipv4'] as const;
export const Detector = z.enum(DETECTORS);
export type Detector = z.infer<typeof Detector>;

/** Seconds; written as `30m`, `1h`, `45s`, `1d` or a whole number of seconds. */
export const Duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration like 30m' });
      return z.NEVER;
    }
    return seconds;
  })
  .meta({ description: 'A duration: seconds, or a number with s, m, h or d (e.g. 30m)', examples: ['30m', '1h'] });

const Identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'expected a plain SQL identifier');
const QualifiedColumn = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/, 'expected schema.table.column');
const QualifiedTable = z
  .string()
  .regex(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, 'expected table or schema.table');

export const Issuer = z.strictObject({
  issuer: z.string().min(1),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  jwksUri: z.url().optional(),
  groupsClaim: z.string().min(1).default('groups'),
  emailClaim: z.string().min(1).default('email'),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .optional(),
  /** Longest lifetime (`exp - iat`) an identity token of this issuer may have; tokens without `iat` are refused. */
  maxTokenAge: Duration.default(86_400).meta({
    description:
      'Longest identity-token lifetime (exp - iat) accepted from this issuer; tokens without iat are refused',
  }),
});
export type Issuer = z.infer<typeof Issuer>;

export const Profile = z.strictObject({
  memberOf: z.array(Identifier).default([]),
  readOnly: z.boolean().default(false),
  noInherit: z.boolean().default(false),
  connectionLimit: z.number().int().min(1).max(100).default(5),
});
export type Profile = z.infer<typeof Profile>;

export const Connection = z.strictObject({
  adminSecret: z.string().min(1),
  profiles: z.record(Identifier, Profile),
});
export type Connection = z.infer<typeof Connection>;

/** Emails, or names of `approverGroups`. */
const Approvers = z.array(z.string().min(1)).min(1);

export const Guardrail = z.strictObject({
  name: z.string().min(1),
  statements: z.array(StatementKind).min(1),
  tables: z.array(QualifiedTable).optional(),
  when: z.enum(['no-where']).optional(),
  action: z.enum(['block', 'approve']),
  approvers: Approvers.optional(),
  required: z.number().int().min(1).default(1),
});
export type Guardrail = z.infer<typeof Guardrail>;

export const RuleMatch = z.strictObject({
  /** The token's issuer, exactly as configured in identity.issuers; without it, any configured issuer matches. */
  issuer: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  groups: z.array(z.string().min(1)).min(1).optional(),
  claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type RuleMatch = z.infer<typeof RuleMatch>;

export const Rule = z.strictObject({
  name: z.string().min(1),
  when: RuleMatch.default({}),
  connection: z.string().min(1),
  access: z.string().min(1),
  maxTtl: Duration,
  approval: z.strictObject({ approvers: Approvers, required: z.number().int().min(1).default(1) }).optional(),
});
export type Rule = z.infer<typeof Rule>;

export const Policy = z
  .strictObject({
    version: z.literal(1),
    publicUrl: z.url(),
    identity: z.strictObject({ issuers: z.array(Issuer).default([]) }).default({ issuers: [] }),
    auditors: z.strictObject({ groups: z.array(z.string().min(1)).default([]) }).default({ groups: [] }),
    approverGroups: z.record(z.string().min(1), z.array(z.email()).min(1)).default({}),
    mail: z
      .strictObject({ from: z.string().min(3).default('airlock@localhost') })
      .default({ from: 'airlock@localhost' }),
    /** The front door: which Host names are answered, which browser origins may call /mcp. */
    http: z
      .strictObject({
        /** Host values answered beside publicUrl's, e.g. the API Gateway name behind a CDN. */
        allowedHosts: z
          .array(z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'expected host or host:port'))
          .default([]),
        /** Browser origins (scheme://host[:port]) allowed to call /mcp; other present Origins get 403. */
        mcpOrigins: z
          .array(z.url().refine((value) => new URL(value).origin === value, 'expected an origin: scheme://host[:port]'))
          .default([]),
      })
      .default({ allowedHosts: [], mcpOrigins: [] }),
    connections: z.record(Identifier, Connection),
    limits: z
      .strictObject({
        maxRows: z.number().int().min(1).max(100_000).default(1000),
        maxResultBytes: z
          .number()
          .int()
          .min(1024)
          .default(8 * 1024 * 1024),
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(256 * 1024),
        statementTimeout: Duration.default(30),
        approvalTimeout: Duration.default(3600),
        /** Approval emails one requester may cause per hour (sliding); beyond it a new hold is 429 rate_limited. */
        approvalEmailsPerHour: z.number().int().min(1).default(20),
      })
      .default({
        maxRows: 1000,
        maxResultBytes: 8 * 1024 * 1024,
        maxBodyBytes: 256 * 1024,
        statementTimeout: 30,
        approvalTimeout: 3600,
        approvalEmailsPerHour: 20,
      }),
    masking: z
      .strictObject({
        columns: z.array(z.strictObject({ column: QualifiedColumn, strategy: MaskStrategy })).default([]),
        detectors: z.array(Detector).default([]),
      })
      .default({ columns: [], detectors: [] }),
    guardrails: z.array(Guardrail).default([]),
    rules: z.array(Rule).default([]),
  })
  .superRefine((policy, ctx) => {
    policy.rules.forEach((rule, index) => {
      const connection = policy.connections[rule.connection];
      if (!connection) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'connection'],
          message: `unknown connection "${rule.connection}"`,
        });
      } else if (!connection.profiles[rule.access]) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'access'],
          message: `connection "${rule.connection}" has no profile "${rule.access}"`,
        });
      }
      const approvers = rule.approval?.approvers.length ?? 0;
      if (
        rule.approval &&
        rule.approval.required > expandApprovers(rule.approval.approvers, policy.approverGroups).length
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'approval', 'required'],
          message: `requires more approvals than the ${approvers} approver(s) listed`,
        });
      }
    });
    const issuers = new Set(policy.identity.issuers.map((issuer) => issuer.issuer));
    policy.rules.forEach((rule, index) => {
      if (rule.when.issuer !== undefined && !issuers.has(rule.when.issuer)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'when', 'issuer'],
          message: `"${rule.when.issuer}" is not one of identity.issuers`,
        });
      }
    });
    policy.guardrails.forEach((guardrail, index) => {
      if (guardrail.action === 'approve' && !guardrail.approvers) {
        ctx.addIssue({
          code: 'custom',
          path: ['guardrails', index, 'approvers'],
          message: 'an approve guardrail needs approvers',
        });
      }
    });
    for (const [list, path] of approverLists(policy)) {
      list.forEach((entry, index) => {
        if (!entry.includes('@') && !policy.approverGroups[entry]) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, index],
            message: `"${entry}" is neither an email nor an approverGroups name`,
          });
        }
      });
    }
  });
export type Policy = z.infer<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;

function approverLists(policy: Policy): Array<[string[], Array<string | number>]> {
  const lists: Array<[string[], Array<string | number>]> = [];
  for (const [i, rule] of policy.rules.entries()) {
    if (rule.approval) lists.push([rule.approval.approvers, ['rules', i, 'approval', 'approvers']]);
  }
  for (const [i, guardrail] of policy.guardrails.entries()) {
    if (guardrail.approvers) lists.push([guardrail.approvers, ['guardrails', i, 'approvers']]);
  }
  return lists;
}

/** Approver entries with group names replaced by their emails, lower-cased and de-duplicated. */
export function expandApprovers(entries: readonly string[], groups: Record<string, string[]>): string[] {
  const emails = entries.flatMap((entry) => groups[entry] ?? [entry]);
  return [...new Set(emails.map((email) => email.toLowerCase()))];
}
