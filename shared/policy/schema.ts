// The policy file's shape: one zod schema used for validation, types and the editors' JSON Schema.
// Cross-references (a rule's connection and access) are checked here so a bad file never starts.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.ts';

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

/**
 * Statements and functions that reach session machinery other grants or Airlock itself rely on: each is
 * refused unless the grant's profile names its capability in `allow` (shared/sql/capabilities.ts).
 */
export const CAPABILITIES = [
  'advisory-locks',
  'lock',
  'prepared-statements',
  'cursors',
  'listen',
  'maintenance',
] as const;
export const Capability = z.enum(CAPABILITIES);
export type Capability = z.infer<typeof Capability>;

export const MASK_STRATEGIES = ['redact', 'email', 'last4', 'hash', 'null'] as const;
export const MaskStrategy = z.enum(MASK_STRATEGIES);
export type MaskStrategy = z.infer<typeof MaskStrategy>;

export const DETECTORS = ['email', 'credit_card', 'us_ssn', 'phone', 'iban', 'ipv4'] as const;
export const Detector = z.enum(DETECTORS);
export type Detector = z.infer<typeof Detector>;

/**
 * Seconds, written as `30m`, `1h`, `45s`, `1d` or a whole number of seconds. The string's pattern is
 * the one parseDuration accepts, so an editor refuses exactly what the loader refuses (`30 minutes`).
 */
export const Duration = z
  .union(
    [
      z.string().regex(new RegExp(DURATION_PATTERN), 'expected a duration like 30m'),
      z.number().int('expected a duration like 30m').min(1, 'expected a duration like 30m'),
    ],
    { error: 'expected a duration like 30m' },
  )
  .transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration like 30m' });
      return z.NEVER;
    }
    return seconds;
  });

const Identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'expected a plain SQL identifier');
const QualifiedColumn = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/, 'expected schema.table.column');
const QualifiedTable = z
  .string()
  .regex(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, 'expected table or schema.table');
/** http(s) only, and only the characters RFC 3986 allows, so the editor's `format: uri` and the loader agree. */
const HttpUrl = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/, 'expected an http(s) URL')
  .pipe(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }))
  .meta({ format: 'uri' });

export const Issuer = z.strictObject({
  issuer: z
    .string()
    .min(1)
    .meta({
      description: "The issuer exactly as its tokens' `iss` claim spells it, character for character.",
      examples: ['https://token.actions.githubusercontent.com'],
    }),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).meta({
    description: 'The `aud` a token must carry to be accepted: one value, or a list of which any one will do.',
    examples: ['airlock'],
  }),
  jwksUri: HttpUrl.optional().meta({
    description:
      "Where the issuer publishes its signing keys (a JWKS). Omitted: read from the issuer's OIDC discovery document.",
    examples: ['https://idp.example.com/.well-known/jwks.json'],
  }),
  groupsClaim: z
    .string()
    .min(1)
    .default('groups')
    .meta({
      description: "The claim that lists the caller's groups, matched by rules' `when.groups` and `auditors`.",
      examples: ['cognito:groups'],
    }),
  emailClaim: z
    .string()
    .min(1)
    .default('email')
    .meta({
      description: "The claim that holds the caller's email; it tells whether a requester is also an approver.",
      examples: ['upn'],
    }),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .optional()
    .meta({
      description: 'Signature algorithms accepted from this issuer. Omitted: every asymmetric one listed here.',
      examples: [['RS256']],
    }),
  maxTokenAge: Duration.prefault('24h').meta({
    description:
      'Longest identity-token lifetime (exp - iat) accepted from this issuer; tokens without iat are refused.',
    examples: ['1h'],
  }),
});
export type Issuer = z.infer<typeof Issuer>;

export const Profile = z.strictObject({
  memberOf: z
    .array(Identifier)
    .default([])
    .meta({
      description:
        "Roles the grant's temporary role is made a member of. With masked columns, pg_read_all_data and pg_write_all_data mean every table, masked columns readable only masked.",
      examples: [['pg_read_all_data']],
    }),
  readOnly: z
    .boolean()
    .default(false)
    .meta({
      description:
        'Only reads: every statement runs in a READ ONLY transaction, and writes are refused before they run.',
      examples: [true],
    }),
  noInherit: z
    .boolean()
    .default(false)
    .meta({
      description: "Create the role NOINHERIT: it does not use its memberships' privileges without SET ROLE.",
      examples: [true],
    }),
  connectionLimit: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(5)
    .meta({
      description: "Most database sessions one grant's role may hold at once (the role's CONNECTION LIMIT).",
      examples: [10],
    }),
  allow: z
    .array(Capability)
    .default([])
    .meta({
      description:
        'Capabilities refused by default that this profile’s grants may use: advisory-locks, lock, prepared-statements, cursors, listen, maintenance (docs/hostile-agents.md).',
      examples: [['lock']],
    }),
});
export type Profile = z.infer<typeof Profile>;

export const Connection = z.strictObject({
  adminSecret: z
    .string()
    .min(1)
    .meta({
      description:
        'Name of the secret (Secrets Manager in AWS, secrets.json locally) holding the admin credential as JSON {host, port, username, password, dbname}.',
      examples: ['airlock/shop/admin'],
    }),
  profiles: z.record(Identifier, Profile).meta({
    description: 'The kinds of access this connection offers, by name (the `access` a grant asks for).',
    examples: [{ read: { memberOf: ['pg_read_all_data'], readOnly: true } }],
  }),
});
export type Connection = z.infer<typeof Connection>;

/** Emails, or names of `approverGroups`. */
const Approvers = z.array(z.string().min(1)).min(1);
const Required = z.number().int().min(1).default(1);

export const Guardrail = z.strictObject({
  name: z
    .string()
    .min(1)
    .meta({
      description: 'Names the guardrail in refusals, holds and the audit trail.',
      examples: ['unbounded-change'],
    }),
  statements: z
    .array(StatementKind)
    .min(1)
    .meta({ description: 'Statement kinds it applies to (any of).', examples: [['update', 'delete']] }),
  tables: z
    .array(QualifiedTable)
    .optional()
    .meta({
      description:
        'Only statements on one of these tables (`table` in any schema, or `schema.table`). Omitted or empty: any table.',
      examples: [['public.orders']],
    }),
  when: z
    .enum(['no-where'])
    .optional()
    .meta({
      description: '`no-where`: only statements without a WHERE clause. Omitted: every statement of those kinds.',
      examples: ['no-where'],
    }),
  action: z.enum(['block', 'approve']).meta({
    description: '`block` refuses the statement; `approve` holds it until approvers allow it (it then runs once).',
    examples: ['approve'],
  }),
  approvers: Approvers.optional().meta({
    description: 'With `approve`: who may allow a held statement (emails or approverGroups names).',
    examples: [['oncall@example.com']],
  }),
  required: Required.meta({ description: 'With `approve`: how many distinct approvers must allow it.', examples: [2] }),
});
export type Guardrail = z.infer<typeof Guardrail>;

export const RuleMatch = z.strictObject({
  issuer: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        "The token's issuer, exactly as configured in identity.issuers; without it, any configured issuer matches.",
      examples: ['https://token.actions.githubusercontent.com'],
    }),
  subject: z
    .string()
    .min(1)
    .optional()
    .meta({
      description: "Glob on the token's `sub`: `*` matches any run of characters.",
      examples: ['agent:*'],
    }),
  groups: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .meta({ description: 'The caller must be in at least one of these groups.', examples: [['finance']] }),
  claims: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .meta({
      description: 'Claims the token must carry with exactly these values (compared as text).',
      examples: [{ repository: 'acme/shop' }],
    }),
});
export type RuleMatch = z.infer<typeof RuleMatch>;

export const Rule = z.strictObject({
  name: z
    .string()
    .min(1)
    .meta({ description: 'Names the rule in grants, audit events and `policy explain`.', examples: ['agents-read'] }),
  when: RuleMatch.prefault({}).meta({
    description: 'Who the rule is for; every condition given must hold. Omitted: everyone with a valid token.',
  }),
  connection: z
    .string()
    .min(1)
    .meta({ description: 'The connection it grants access to (a key of `connections`).', examples: ['shop'] }),
  access: z
    .string()
    .min(1)
    .meta({ description: 'The access it grants (a profile of that connection).', examples: ['read'] }),
  maxTtl: Duration.meta({
    description: 'Longest window this rule grants; a longer request is clamped to it.',
    examples: ['30m'],
  }),
  approval: z
    .strictObject({
      approvers: Approvers.meta({
        description: 'Who may approve (emails or approverGroups names); never the requester.',
        examples: [['oncall@example.com', 'dba@example.com']],
      }),
      required: Required.meta({
        description: 'How many distinct approvers must approve; one denial ends it.',
        examples: [2],
      }),
    })
    .optional()
    .meta({ description: 'Humans must approve before the window opens. Omitted: granted at once.' }),
});
export type Rule = z.infer<typeof Rule>;

const SinkName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a short name: a-z, 0-9, "_" and "-"')
  .meta({
    description: 'Names the sink in logs, metrics and its export cursor; default: its type and a hash of its target',
  });
const ExportFormat = z
  .enum(['airlock', 'ocsf'])
  .default('airlock')
  .meta({ description: 'airlock: audit events as stored; ocsf: OCSF 1.6.0 API Activity / Datastore Activity events' });
const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

export const WebhookSink = z.strictObject({
  type: z.literal('webhook'),
  name: SinkName.optional(),
  url: z
    .url({ protocol: /^https?$/ })
    .refine(
      (url) => {
        const parsed = new URL(url);
        return parsed.username === '' && parsed.password === '';
      },
      { message: 'no credentials in the URL: put them in the secret (its "headers")' },
    )
    .refine(
      (url) => {
        const parsed = new URL(url);
        return parsed.protocol === 'https:' || LOOPBACK_HOST.test(parsed.hostname);
      },
      { message: 'expected https:// (plain http only to localhost)' },
    ),
  /** Name of a secret `{ key, headers? }`: the HMAC key of x-airlock-signature, and headers to send. */
  secret: z.string().min(1),
  format: ExportFormat,
  batchSize: z.number().int().min(1).max(1000).default(100),
});
export type WebhookSink = z.infer<typeof WebhookSink>;

export const FileSink = z.strictObject({
  type: z.literal('file'),
  name: SinkName.optional(),
  /** JSON Lines, appended; a relative path is from the policy file's folder. Local stack only. */
  path: z.string().min(1),
  format: ExportFormat,
});
export type FileSink = z.infer<typeof FileSink>;

export const AuditSink = z.discriminatedUnion('type', [WebhookSink, FileSink]);
export type AuditSink = z.infer<typeof AuditSink>;

export const Policy = z
  .strictObject({
    version: z.literal(1).meta({ description: 'Version of this file format: 1.', examples: [1] }),
    publicUrl: HttpUrl.meta({
      description: 'Base URL at which approvers reach this Airlock: the links in approval emails start with it.',
      examples: ['https://airlock.example.com'],
    }),
    identity: z
      .strictObject({
        issuers: z.array(Issuer).default([]).meta({
          description: 'Token issuers (OIDC or any JWT issuer with a JWKS) whose identity tokens are accepted.',
        }),
      })
      .prefault({})
      .meta({ description: 'Who may call Airlock: the identity tokens it accepts.' }),
    auditors: z
      .strictObject({
        groups: z
          .array(z.string().min(1))
          .default([])
          .meta({ description: 'Members of any of these groups are auditors.', examples: [['security']] }),
      })
      .prefault({})
      .meta({ description: "Auditors may read every grant's audit trail." }),
    operators: z
      .strictObject({
        groups: z
          .array(z.string().min(1))
          .default([])
          .meta({ description: 'Members of any of these groups are operators.', examples: [['security']] }),
      })
      .prefault({})
      .meta({
        description:
          'Operators may do what auditors do, plus revoke any grant and lock subjects or connections (/v1/admin).',
      }),
    console: z
      .strictObject({
        issuer: z
          .string()
          .min(1)
          .meta({
            description:
              'The OIDC issuer people sign in with: one of identity.issuers (its keys, groups and email claims are used).',
            examples: ['https://idp.example.com'],
          }),
        clientId: z
          .string()
          .min(1)
          .max(256)
          .meta({
            description: "The console's OAuth client id at that issuer: the `aud` of the ID tokens it accepts.",
            examples: ['airlock-console'],
          }),
        scopes: z
          .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected an OAuth scope'))
          .default(['openid', 'email', 'profile'])
          .meta({
            description: 'Scopes asked for at sign-in; `openid` is always added.',
            examples: [['openid', 'email', 'groups']],
          }),
      })
      .optional()
      .meta({
        description:
          'The web console at /console for operators, auditors and approvers (OIDC code flow with PKCE). Omitted: no console.',
      }),
    approverGroups: z
      .record(z.string().min(1), z.array(z.email()).min(1))
      .default({})
      .meta({
        description: 'Named lists of approver emails, usable wherever approvers are listed.',
        examples: [{ dbas: ['dba@example.com', 'lead@example.com'] }],
      }),
    mail: z
      .strictObject({
        from: z
          .string()
          .min(3)
          .default('airlock@localhost')
          .meta({ description: 'Sender of approval emails.', examples: ['Airlock <airlock@example.com>'] }),
      })
      .prefault({})
      .meta({ description: 'Approval emails.' }),
    http: z
      .strictObject({
        allowedHosts: z
          .array(z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'expected host or host:port'))
          .default([])
          .meta({
            description:
              "Host header values answered beside publicUrl's (e.g. the API Gateway name behind a CDN); any other Host gets 421.",
            examples: [['abc123.execute-api.eu-west-1.amazonaws.com']],
          }),
        mcpOrigins: z
          .array(z.url().refine((value) => new URL(value).origin === value, 'expected an origin: scheme://host[:port]'))
          .default([])
          .meta({
            description:
              'Browser origins (scheme://host[:port]) allowed to call /mcp; a request with any other Origin gets 403.',
            examples: [['https://inspector.example.com']],
          }),
      })
      .prefault({})
      .meta({ description: 'The front door: which Host names are answered, which browser origins may call /mcp.' }),
    connections: z.record(Identifier, Connection).meta({
      description: 'The databases Airlock brokers, by the name agents ask for.',
      examples: [{ shop: { adminSecret: 'airlock/shop/admin', profiles: { read: { readOnly: true } } } }],
    }),
    limits: z
      .strictObject({
        maxRows: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(1000)
          .meta({
            description: 'Most rows one statement returns; a longer result is cut and marked `truncated`.',
            examples: [500],
          }),
        maxResultBytes: z
          .number()
          .int()
          .min(1024)
          .default(8 * 1024 * 1024)
          .meta({
            description: 'Most bytes of row data one statement returns; a larger result is cut and marked `truncated`.',
            examples: [1048576],
          }),
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(256 * 1024)
          .meta({
            description: 'Largest request body accepted; a larger one is refused with 413 `too_large`.',
            examples: [65536],
          }),
        statementTimeout: Duration.prefault('30s').meta({
          description: "Longest one statement may run; never past the end of the grant's window.",
          examples: ['2m'],
        }),
        approvalTimeout: Duration.prefault('1h').meta({
          description: 'How long a grant request or a held statement waits for its approvers before it expires.',
          examples: ['4h'],
        }),
        grantsPerSubject: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(10)
          .meta({
            description: 'Live or pending grants one subject (of one issuer) may hold at once.',
            examples: [20],
          }),
        sessionsPerSubject: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(20)
          .meta({
            description:
              "Database sessions one subject may hold across its grants; a grant's share is its role's CONNECTION LIMIT.",
            examples: [40],
          }),
        approvalEmailsPerHour: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(20)
          .meta({ description: 'Approval emails sent for one requester in an hour; beyond it, 429.', examples: [50] }),
        lockTimeout: Duration.prefault('5s').meta({
          description: "How long a grant's statement waits for a lock before it fails.",
          examples: ['2s'],
        }),
      })
      .prefault({})
      .meta({ description: 'Bounds on every statement, result and request.' }),
    masking: z
      .strictObject({
        columns: z
          .array(
            z.strictObject({
              column: QualifiedColumn.meta({
                description: 'The column, as schema.table.column.',
                examples: ['public.customers.email'],
              }),
              strategy: MaskStrategy.meta({
                description:
                  'redact → [REDACTED]; email → a***@example.com; last4 → ************4242; hash → a stable keyed hash; null → NULL.',
                examples: ['last4'],
              }),
            }),
          )
          .default([])
          .meta({ description: 'Columns whose values reach a grant only in masked form, by their strategy.' }),
        detectors: z
          .array(Detector)
          .default([])
          .meta({
            description: 'Content detectors: in every column not masked whole, text that looks like one is masked.',
            examples: [['email', 'credit_card', 'us_ssn']],
          }),
      })
      .prefault({})
      .meta({ description: 'Sensitive values: which columns are masked and how.' }),
    guardrails: z
      .array(Guardrail)
      .default([])
      .meta({ description: 'Checks on each parsed statement, in order; the first that matches blocks or holds it.' }),
    rules: z.array(Rule).prefault([]).meta({
      description: 'Who may have which access, in order; the first rule that matches decides. No match: denied.',
    }),
    auditExport: z
      .strictObject({
        sinks: z.array(AuditSink).default([]).meta({
          description: 'Where audit events are delivered, each in order and at least once (docs/audit-export.md).',
        }),
      })
      .prefault({})
      .meta({ description: 'Streaming the audit trail to a SIEM or a file.' }),
  })
  .meta({ title: 'Airlock policy', description: 'The policy file of an Airlock deployment (airlock.policy.yaml).' })
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
    if (policy.console && !policy.identity.issuers.some((issuer) => issuer.issuer === policy.console?.issuer)) {
      ctx.addIssue({
        code: 'custom',
        path: ['console', 'issuer'],
        message: `"${policy.console.issuer}" is not one of identity.issuers`,
      });
    }
    policy.guardrails.forEach((guardrail, index) => {
      if (guardrail.action === 'approve' && !guardrail.approvers) {
        ctx.addIssue({
          code: 'custom',
          path: ['guardrails', index, 'approvers'],
          message: 'an approve guardrail needs approvers',
        });
      }
    });
    const sinkNames = new Map<string, number>();
    policy.auditExport.sinks.forEach((sink, index) => {
      const name = sinkName(sink);
      if (sinkNames.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['auditExport', 'sinks', index, 'name'],
          message: `sink "${name}" is already sinks[${sinkNames.get(name)}]: give each sink its own name`,
        });
      else sinkNames.set(name, index);
      // The export function may read its sinks' secrets and no admin credential: one secret cannot be both.
      if (sink.type === 'webhook' && Object.values(policy.connections).some((c) => c.adminSecret === sink.secret))
        ctx.addIssue({
          code: 'custom',
          path: ['auditExport', 'sinks', index, 'secret'],
          message: `"${sink.secret}" is a connection's admin secret: give the webhook a secret of its own`,
        });
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

/** A sink's name: as written, else its type and a hash of its target (so a URL with a query never shows in logs). */
export function sinkName(sink: AuditSink): string {
  if (sink.name) return sink.name;
  const target = sink.type === 'webhook' ? sink.url : sink.path;
  return `${sink.type}-${createHash('sha256').update(target).digest('hex').slice(0, 8)}`;
}
