// Who may do what: each function's IAM statements as plain data, applied by stacks/airlock.ts and
// checked by test/deploy/permissions.test.ts. Never grants the query function an admin secret, the
// signing key, a lock write, any audit write but a conditional PutItem, or any grant write but the audit head;
// never lets the export function write the audit log or read any secret but its sinks'; never uses SST `link`
// (it grants dynamodb:*).

export type FunctionName = 'api' | 'query' | 'sweeper' | 'export';

/** One IAM statement in SST's `permissions` shape; `R` is a string here and a Pulumi Output in the stack. */
export interface Statement<R = string> {
  effect?: 'allow' | 'deny';
  actions: string[];
  resources: R[];
  conditions?: Array<{ test: string; variable: string; values: string[] }>;
}

export interface PermissionTargets<R = string> {
  tables: {
    grants: R;
    grantsIndexes: R;
    audit: R;
    /** The audit table's indexes: `<audit arn>/index/*` (the time index the operator audit search reads). */
    auditIndexes: R;
    /** The audit table's stream(s): `<audit arn>/stream/*`. */
    auditStream: R;
    approvals: R;
    approvalsIndexes: R;
    exports: R;
    locks: R;
  };
  secrets: {
    signingKeys: R;
    grantJwks: R;
    queryKeys: R;
    /** ARN patterns of the policy's admin secrets. */
    admin: R[];
    /** ARN patterns of the audit export's webhook secrets. */
    export: R[];
  };
  email: {
    /** SES identities of the account (sandbox checks recipients too). */ identities: R;
    configurationSet: R;
    from: string;
  };
}

/**
 * What no function may do to the audit table. IAM cannot require `attribute_not_exists` on PutItem
 * (condition expressions are not IAM context), so every other way to change an item is denied outright;
 * BatchWriteItem goes too because its puts cannot carry a condition at all.
 */
export const AUDIT_TAMPERING = [
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLInsert',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
  'dynamodb:UpdateTimeToLive',
  'dynamodb:UpdateTable',
  'dynamodb:DeleteTable',
];

/** Writes the query function must never make to grants: it reads a grant, and only moves its audit head. */
const GRANT_WRITES = [
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLInsert',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
];

/** Writes the query function must never make to locks: only operators (through the API function) place and lift them. */
const LOCK_WRITES = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLInsert',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
];
/** The only attributes the query function's UpdateItem on a grant may name: the key and the audit head. */
export const AUDIT_HEAD_ATTRIBUTES = ['id', 'auditHead'];

export function functionPermissions<R>(t: PermissionTargets<R>): Record<FunctionName, Statement<R>[]> {
  const auditAppend: Statement<R>[] = [
    // ReturnValues NONE: a put may not read back what it would replace.
    {
      actions: ['dynamodb:PutItem'],
      resources: [t.tables.audit],
      conditions: [{ test: 'StringEqualsIfExists', variable: 'dynamodb:ReturnValues', values: ['NONE'] }],
    },
    { actions: ['dynamodb:Query'], resources: [t.tables.audit] },
    { effect: 'deny', actions: AUDIT_TAMPERING, resources: [t.tables.audit] },
  ];
  // Appending moves the chain's head on the grant record: one UpdateItem naming `id` and `auditHead` only,
  // returning nothing (ALL_OLD/ALL_NEW would read the whole grant back). The denies hold even if an allow widens.
  const auditHead: Statement<R>[] = [
    {
      actions: ['dynamodb:UpdateItem'],
      resources: [t.tables.grants],
      conditions: [
        { test: 'ForAllValues:StringEquals', variable: 'dynamodb:Attributes', values: AUDIT_HEAD_ATTRIBUTES },
        // ForAllValues holds for a request naming no attributes at all: require the list to be there.
        { test: 'Null', variable: 'dynamodb:Attributes', values: ['false'] },
        { test: 'StringEqualsIfExists', variable: 'dynamodb:ReturnValues', values: ['NONE'] },
      ],
    },
    {
      effect: 'deny',
      actions: ['dynamodb:UpdateItem'],
      resources: [t.tables.grants, t.tables.grantsIndexes],
      conditions: [
        { test: 'ForAnyValue:StringNotEquals', variable: 'dynamodb:Attributes', values: AUDIT_HEAD_ATTRIBUTES },
      ],
    },
    {
      effect: 'deny',
      actions: ['dynamodb:UpdateItem'],
      resources: [t.tables.grants, t.tables.grantsIndexes],
      conditions: [{ test: 'StringNotEquals', variable: 'dynamodb:ReturnValues', values: ['NONE'] }],
    },
  ];
  const broker: Statement<R>[] = [
    {
      actions: ['secretsmanager:GetSecretValue'],
      resources: [t.secrets.signingKeys, t.secrets.grantJwks, t.secrets.queryKeys, ...t.secrets.admin],
    },
    {
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [t.tables.grants, t.tables.grantsIndexes],
    },
    { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [t.tables.approvals] },
    // The sweeper mails approvals the query side recorded (byUnnotified); operators list pending ones (byAwaiting).
    { actions: ['dynamodb:Query'], resources: [t.tables.approvalsIndexes] },
    // Locks: read on every grant request (one consistent Query), placed and lifted by operators; never deleted.
    {
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [t.tables.locks],
    },
    ...auditAppend,
    // Every grant's events in time order (listByTime), for auditors and the audit export.
    { actions: ['dynamodb:Query'], resources: [t.tables.auditIndexes] },
    {
      actions: ['ses:SendEmail'],
      resources: [t.email.identities, t.email.configurationSet],
      conditions: [{ test: 'StringEquals', variable: 'ses:FromAddress', values: [t.email.from] }],
    },
  ];
  const exporter: Statement<R>[] = [
    {
      actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
      resources: [t.tables.auditStream],
    },
    // Gaps and a grant's connection (for OCSF) are read from the chain; it never writes the audit log.
    { actions: ['dynamodb:Query'], resources: [t.tables.audit] },
    { effect: 'deny', actions: ['dynamodb:PutItem', ...AUDIT_TAMPERING], resources: [t.tables.audit] },
    { actions: ['dynamodb:BatchGetItem', 'dynamodb:PutItem'], resources: [t.tables.exports] },
    ...(t.secrets.export.length > 0
      ? [{ actions: ['secretsmanager:GetSecretValue'], resources: t.secrets.export }]
      : []),
    {
      effect: 'deny',
      actions: ['secretsmanager:*'],
      resources: [t.secrets.signingKeys, t.secrets.queryKeys, ...t.secrets.admin],
    },
  ];
  return {
    api: broker,
    sweeper: broker,
    export: exporter,
    query: [
      { actions: ['secretsmanager:GetSecretValue'], resources: [t.secrets.grantJwks, t.secrets.queryKeys] },
      { effect: 'deny', actions: ['secretsmanager:*'], resources: [t.secrets.signingKeys, ...t.secrets.admin] },
      { actions: ['dynamodb:GetItem'], resources: [t.tables.grants] },
      { effect: 'deny', actions: GRANT_WRITES, resources: [t.tables.grants, t.tables.grantsIndexes] },
      ...auditHead,
      // Statement approvals: hold a statement, see it approved, consume the approval once.
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [t.tables.approvals] },
      { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [t.tables.locks] },
      { effect: 'deny', actions: LOCK_WRITES, resources: [t.tables.locks] },
      ...auditAppend,
    ],
  };
}
