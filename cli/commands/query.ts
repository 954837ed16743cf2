// `airlock query`: one statement through /v1/query with a kept grant token; a table for people,
// JSON or CSV for machines; a held statement says who must approve and exits 3.

import { type ApiClient, ApiError } from '../api.ts';
import { type CliContext, type Command, flag } from '../args.ts';
import { CliError, EXIT, usageError } from '../exit.ts';
import { isOpen, readGrant, readGrants } from '../grant-view.ts';
import { maskedFooter, type ResultColumn, renderCsv, renderResultTable } from '../render.ts';

interface QueryResult {
  columns: ResultColumn[];
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  auditId: string;
}

export const query: Command = {
  name: 'query',
  summary: "run one SQL statement as your grant's temporary role",
  usage: '["<sql>"] [--param v]… [--table|--json|--csv] [--grant <id>]',
  details: [
    'One statement per call. Reads the SQL from stdin when no argument is given. Sensitive columns come',
    'back masked (marked * in the table). Uses the kept token of --grant, or else the newest open grant',
    'for this Airlock URL (asking the API for it when an identity token is configured).',
    'A statement held by a guardrail exits 3 and says who must approve; send it again once approved.',
  ].join('\n'),
  options: {
    param: {
      type: 'string',
      short: 'p',
      multiple: true,
      value: '<value>',
      description: 'a $n parameter, as text (Postgres casts it)',
    },
    params: {
      type: 'string',
      value: '<json-array>',
      description: 'all parameters as a JSON array, e.g. \'[42, null, "x"]\'',
    },
    grant: {
      type: 'string',
      short: 'g',
      value: '<id>',
      description: 'the grant to use (default: the newest open one)',
    },
    table: { type: 'boolean', description: 'a readable table (default)' },
    json: { type: 'boolean', description: "the API's JSON result" },
    csv: { type: 'boolean', description: 'CSV with a header row' },
  },
  positionals: { min: 0, max: 1, name: 'sql' },
  examples: [
    'airlock query "SELECT id, name, email FROM customers ORDER BY id LIMIT 5"',
    'airlock query "SELECT * FROM orders WHERE customer_id = $1" --param 42 --json',
    'echo "SELECT count(*) FROM orders" | airlock query --csv',
  ],
  async run({ flags, positionals, ctx }) {
    const formats = (['table', 'json', 'csv'] as const).filter((name) => flag.bool(flags, name));
    if (formats.length > 1) throw usageError(`choose one of --${formats.join(', --')}`);
    const format = formats[0] ?? 'table';
    const sql = positionals[0] ?? (ctx.stdinIsTTY ? undefined : (await ctx.readStdin()).trim());
    if (!sql) throw usageError('no SQL given', 'pass the statement as an argument or on stdin');
    const params = readParams(flag.list(flags, 'param'), flag.string(flags, 'params'));

    const api = ctx.api();
    const grant = await grantToken(ctx, api, flag.string(flags, 'grant'));
    let response: Awaited<ReturnType<typeof api.call>>;
    try {
      response = await api.call('POST', '/v1/query', {
        bearer: { token: grant.token },
        body: { sql, ...(params.length ? { params } : {}) },
      });
    } catch (error) {
      throw await explain(ctx, api, grant.id, sql, error);
    }
    if (response.status === 202) return held(ctx, response.body, format === 'json');

    const result = response.body as QueryResult;
    if (format === 'json') ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (format === 'csv') ctx.stdout.write(renderCsv(result.columns, result.rows));
    else {
      if (result.columns.length) ctx.stdout.write(renderResultTable(result.columns, result.rows, ctx.out));
      const summary = [
        result.columns.length
          ? `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}`
          : `ok, ${result.rowCount} row${result.rowCount === 1 ? '' : 's'} affected`,
        ...(result.truncated ? ['truncated at the row or size limit'] : []),
        ...(maskedFooter(result.columns) ? [maskedFooter(result.columns)!] : []),
      ];
      ctx.stdout.write(`(${summary.join('; ')})\n`);
    }
    return EXIT.ok;
  },
};

function readParams(each: string[], json: string | undefined): unknown[] {
  if (json === undefined) return each;
  if (each.length) throw usageError('use either --param or --params, not both');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw usageError('--params is not valid JSON');
  }
  if (!Array.isArray(value)) throw usageError('--params must be a JSON array');
  return value;
}

/** The kept token of the grant, else (with an identity token) the API's token for it. */
async function grantToken(
  ctx: CliContext,
  api: ApiClient,
  id: string | undefined,
): Promise<{ id: string; token: string }> {
  const tokens = ctx.tokens();
  const stored = await tokens.pick(api.baseUrl, id);
  if (stored) return stored;
  const noGrant = new CliError(
    id ? `no kept token for grant ${id} at ${api.baseUrl}` : `no open grant kept for ${api.baseUrl}`,
    EXIT.error,
    'request one first: airlock request <connection> --reason "…"',
  );
  if (!api.hasIdentity()) throw noGrant;
  let grantId = id;
  if (!grantId) {
    const open = readGrants((await api.call('GET', '/v1/grants', { bearer: 'identity' })).body).find((grant) =>
      isOpen(grant, ctx.now()),
    );
    if (!open) throw noGrant;
    grantId = open.id;
  }
  const { grant, token } = readGrant(
    (await api.call('GET', `/v1/grants/${encodeURIComponent(grantId)}`, { bearer: 'identity' })).body,
  );
  if (!token || !grant.expiresAt) {
    const refused = grant.status === 'pending' ? EXIT.pending : EXIT.refused;
    throw new CliError(
      `grant ${grant.id} is ${grant.status}${grant.status === 'active' ? ' but its window has ended' : ''}`,
      refused,
      grant.status === 'pending'
        ? `wait for approval: airlock status ${grant.id}`
        : 'request a new grant: airlock request <connection> --reason "…"',
    );
  }
  await tokens.put(api.baseUrl, {
    id: grant.id,
    token,
    connection: grant.connection,
    access: grant.access,
    expiresAt: grant.expiresAt,
  });
  return { id: grant.id, token };
}

/** The 202 body of a held statement: `{"error": {code, message, guardrail}, "approval": {"id", "status"}}`. */
function held(ctx: CliContext, body: unknown, json: boolean): number {
  const { error, approval } = body as {
    error?: { message?: string; guardrail?: string };
    approval?: { id?: string; status?: string };
  };
  if (json) ctx.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  const guardrail = error?.guardrail;
  const lines = [
    `${ctx.err.yellow('held for approval')}: ${error?.message ?? 'a guardrail holds this statement'}`,
    `  guardrail: ${guardrail ?? '-'}; approval ${approval?.id ?? '-'} is ${approval?.status ?? 'pending'}`,
    `  who must approve: the approvers the policy names for ${guardrail ? `guardrail ${guardrail}` : 'this guardrail'} (notified by email)`,
    'send the same statement with the same parameters again once approved: it then runs once.',
  ];
  ctx.stderr.write(`${lines.join('\n')}\n`);
  return EXIT.pending;
}

/** Adds what the CLI knows to the API's error: the caret under a syntax error, the dead token dropped. */
async function explain(
  ctx: CliContext,
  api: ApiClient,
  grantId: string,
  sql: string,
  error: unknown,
): Promise<unknown> {
  if (!(error instanceof ApiError)) return error;
  const { code, position, sqlstate } = error.body.error as { code: string; position?: unknown; sqlstate?: unknown };
  if (code === 'grant_expired' || code === 'grant_revoked' || code === 'unauthenticated') {
    await ctx.tokens().remove(api.baseUrl, grantId);
    return new ApiError(
      error.status,
      error.body,
      `the kept token for grant ${grantId} is no longer good; request a new grant: airlock request <connection> --reason "…"`,
    );
  }
  if (code === 'sql_syntax' && typeof position === 'number' && position > 0)
    return new ApiError(error.status, error.body, caret(sql, position));
  if (code === 'db_error' && typeof sqlstate === 'string')
    return new ApiError(error.status, error.body, `Postgres SQLSTATE ${sqlstate}`);
  return error;
}

/** The line of SQL at a 1-based character position with a caret under it. */
function caret(sql: string, position: number): string {
  const before = sql.slice(0, position - 1);
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = sql.indexOf('\n', lineStart);
  const line = sql.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  return `near here:\n    ${line}\n    ${' '.repeat(position - 1 - lineStart)}^`;
}
