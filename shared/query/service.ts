// The query path: grant token → live grant → parse → guard → (hold) → run as the grant's role →
// mask → audit before COMMIT. Nothing runs unaudited, unmasked rows never leave, and it fails closed.

import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { GrantStore } from '../grants/index.ts';
import { type GrantRecord, isLive } from '../grants/index.ts';
import { type GrantTokenVerifierKeys, verifyGrantToken } from '../identity/index.ts';
import {
  applyMaskingPlan,
  buildMaskingPlan,
  type CatalogQuery,
  createCatalogLookup,
  type MaskingPlan,
  maskDatabaseMessage,
} from '../masking/index.ts';
import { expandApprovers, type Policy } from '../policy/index.ts';
import type { PgClient, SessionPool } from '../postgres/index.ts';
import { derivePassword, quoteLiteral } from '../postgres/index.ts';
import { checkStatement, type ParsedStatement, parseOne } from '../sql/index.ts';
import type { StatementGate } from './gate.ts';
import { typeName } from './types.ts';

/** Deeper JSON is refused before z.json(), whose recursion would overflow the stack (a 500, not a 400). */
const MAX_PARAM_DEPTH = 32;
const Param = z
  .unknown()
  .refine((value) => nestedWithin(value, MAX_PARAM_DEPTH), {
    message: `a parameter may nest at most ${MAX_PARAM_DEPTH} levels`,
    abort: true,
  })
  .pipe(z.json());
const Statement = z.strictObject({ sql: z.string().min(1).max(100_000), params: z.array(Param).max(1000).optional() });
export const QueryBody = z.union([Statement, z.strictObject({ transaction: z.array(Statement).min(1).max(50) })]);
export type QueryBody = z.infer<typeof QueryBody>;

export interface QueryColumn {
  name: string;
  type: string;
  masked: string | null;
}
export interface QueryResult {
  columns: QueryColumn[];
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  auditId: string;
}
export type QueryResponse = QueryResult | { results: QueryResult[] };

export interface QueryServiceOptions {
  policy: Policy;
  store: Pick<GrantStore, 'get'>;
  audit: AuditLog;
  verifierKeys: GrantTokenVerifierKeys;
  /** Airlock's issuer (publicUrl): grant tokens must carry it. */
  issuer: string;
  roleKey: string;
  maskingKey: string;
  sessions: SessionPool;
  gate: StatementGate;
  /** Receives the CPU (µs) and wall time (ms) of each phase of a request: for benchmarks and tracing. */
  profile?: QueryProfile;
  now?: () => Date;
}

export type QueryPhase = 'auth' | 'grant' | 'parse' | 'execute' | 'mask' | 'audit';
export interface QueryProfile {
  record(phase: QueryPhase, cpuMicros: number, wallMs: number): void;
}

interface Planned {
  sql: string;
  params: z.infer<typeof Param>[];
  statement: ParsedStatement;
  paramsHash: string;
}

interface Executed {
  fields: Array<{ name: string; tableID: number; columnID: number; dataTypeID: number }>;
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  durationMs: number;
}

const CURSOR_CHUNK = 500;
/** Raised by Postgres itself when a statement would start after the window (see windowCheck). */
const WINDOW_ENDED = 'airlock: the grant window has ended';
/** Verified grant tokens remembered per warm process (each until its own `exp`). */
const VERIFIED_TOKENS = 10_000;

export type QueryService = ReturnType<typeof createQueryService>;

export function createQueryService(options: QueryServiceOptions) {
  const { policy, audit } = options;
  const now = options.now ?? (() => new Date());
  const catalogRunner = new AsyncLocalStorage<CatalogQuery>();
  const catalog = createCatalogLookup((sql, params) => {
    const run = catalogRunner.getStore();
    if (!run) throw new Error('catalog lookup outside a session');
    return run(sql, params);
  });
  // Binds the exact text too: fingerprints ignore literals, so `id = 1` and `id = 2` share one.
  const bindingHash = (sql: string, params: unknown[]) =>
    createHmac('sha256', options.maskingKey)
      .update(JSON.stringify([sql, params]))
      .digest('hex');

  const profile = options.profile;
  async function phase<T>(name: QueryPhase, work: () => T | Promise<T>): Promise<T> {
    if (!profile) return work();
    const cpu = process.cpuUsage();
    const started = performance.now();
    try {
      return await work();
    } finally {
      const used = process.cpuUsage(cpu);
      profile.record(name, used.user + used.system, performance.now() - started);
    }
  }

  // A token's signature and claims do not change: once verified, it is good until its `exp` (then it is
  // verified again, and refused). Whether its grant is still live is read from the store on every request.
  const verified = new Map<string, { subject: string; grantId: string; expiresAtMs: number }>();
  const verifyToken = async (token: string) => {
    const hit = verified.get(token);
    if (hit && hit.expiresAtMs > now().getTime()) return hit;
    const claims = await verifyGrantToken(options.verifierKeys, token, { now, issuer: options.issuer });
    if (verified.size >= VERIFIED_TOKENS) verified.clear();
    const entry = { subject: claims.subject, grantId: claims.grantId, expiresAtMs: claims.expiresAt.getTime() };
    verified.set(token, entry);
    return entry;
  };

  /** The live grant behind a grant token; revocation and expiry take effect on the next request. */
  async function authenticate(token: string): Promise<GrantRecord> {
    let claims: { subject: string; grantId: string };
    try {
      claims = await phase('auth', () => verifyToken(token));
    } catch (error) {
      // A genuine token whose window has passed: the attempt goes on that grant's record.
      const ended = isAirlockError(error, 'grant_expired')
        ? (error.cause as { grantId?: string; subject?: string } | undefined)
        : undefined;
      if (ended?.grantId) {
        const grant = await options.store.get(ended.grantId).catch(() => null);
        if (grant && grant.subject === ended.subject) await recordAttempt(grant, error as AirlockError);
      }
      throw error;
    }
    const grant = await phase('grant', () => options.store.get(claims.grantId));
    if (!grant || grant.subject !== claims.subject)
      throw new AirlockError('unauthenticated', 'the grant token does not match a grant');
    const ended =
      grant.status === 'revoked'
        ? new AirlockError('grant_revoked', 'the grant was revoked')
        : !isLive(grant, now())
          ? new AirlockError('grant_expired', 'the grant window has ended')
          : undefined;
    if (ended) {
      await options.sessions.close(grant.id);
      await recordAttempt(grant, ended);
      throw ended;
    }
    return grant;
  }

  /** A statement sent after the window: nothing runs; the attempt is recorded (best effort — refusing needs no record). */
  async function recordAttempt(grant: GrantRecord, error: AirlockError): Promise<void> {
    await statementEvent(grant, {}, { decision: 'blocked', error: { code: error.code, message: error.message } }).catch(
      () => {},
    );
  }

  function statementEvent(
    grant: GrantRecord,
    planned: Partial<Planned> & { statement?: ParsedStatement },
    details: Record<string, unknown>,
  ) {
    return audit.append({
      grantId: grant.id,
      type: 'statement',
      subject: grant.subject,
      details: {
        fingerprint: planned.statement?.fingerprint ?? null,
        normalizedSql: planned.statement?.normalizedSql ?? null,
        kind: planned.statement?.kind ?? null,
        tables: planned.statement?.relations.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name)) ?? [],
        rowCount: null,
        durationMs: null,
        maskedColumns: [],
        ...details,
      },
    });
  }

  /** Refuses the request: one audit event per statement, the culprit named, nothing run. */
  async function refuse(
    grant: GrantRecord,
    plans: Array<Partial<Planned>>,
    culprit: number,
    error: AirlockError,
    decision: 'blocked' | 'held',
    extra: Record<string, unknown> = {},
  ): Promise<never> {
    for (const [index, planned] of plans.entries()) {
      const own = index === culprit;
      await statementEvent(grant, planned, {
        decision,
        error: own
          ? auditedError(error)
          : { code: error.code, message: 'another statement of the transaction was refused' },
        ...(own ? extra : {}),
      });
    }
    throw error;
  }

  async function run(grant: GrantRecord, body: QueryBody): Promise<QueryResponse> {
    const items = 'transaction' in body ? body.transaction : [body];
    const plans: Array<Partial<Planned>> = items.map((item) => ({ sql: item.sql, params: item.params ?? [] }));
    for (const [index, item] of items.entries()) {
      try {
        const statement = await phase('parse', () => parseOne(item.sql));
        plans[index] = { ...plans[index], statement, paramsHash: bindingHash(statement.sql, item.params ?? []) };
      } catch (error) {
        if (!isAirlockError(error) || error.code === 'unavailable') throw error;
        return refuse(grant, plans, index, error, 'blocked');
      }
    }
    const planned = plans as Planned[];

    const grantProfile = policy.connections[grant.connection]?.profiles[grant.access];
    if (!grantProfile || !grant.target)
      throw new AirlockError('unavailable', 'the grant’s connection is not configured here');
    const approvals: string[] = [];
    for (const [index, plan] of planned.entries()) {
      const verdict = await phase('parse', () =>
        checkStatement(plan.statement, { readOnly: grantProfile.readOnly, guardrails: policy.guardrails }),
      );
      if (verdict.action === 'block') {
        const error = new AirlockError('statement_blocked', verdict.reason, { guardrail: verdict.guardrail });
        return refuse(grant, planned, index, error, 'blocked', { guardrail: verdict.guardrail });
      }
      if (verdict.action === 'approve') {
        const admitted = await options.gate.admit({
          grant,
          statement: plan.statement,
          paramsHash: plan.paramsHash,
          guardrail: verdict.guardrail,
          reason: verdict.reason,
          approvers: expandApprovers(verdict.approvers, policy.approverGroups),
          required: verdict.required,
        });
        if (!admitted.run) {
          const held = new AirlockError(
            admitted.approval.status === 'pending' ? 'approval_required' : 'statement_blocked',
            admitted.approval.status === 'pending'
              ? `held for approval by guardrail "${verdict.guardrail}": a human must approve this exact statement; send it again once approved`
              : `the approval for this statement was ${admitted.approval.status}`,
            admitted.approval.status === 'pending'
              ? { approval: admitted.approval, guardrail: verdict.guardrail }
              : { guardrail: verdict.guardrail },
          );
          return refuse(grant, planned, index, held, admitted.approval.status === 'pending' ? 'held' : 'blocked', {
            guardrail: verdict.guardrail,
            approvalId: admitted.approval.id,
          });
        }
        approvals[index] = admitted.approvalId;
      }
    }
    return execute(grant, planned, grantProfile.readOnly, approvals, 'transaction' in body);
  }

  async function execute(
    grant: GrantRecord,
    planned: Planned[],
    readOnly: boolean,
    approvals: string[],
    asTransaction: boolean,
  ): Promise<QueryResponse> {
    let windowBound = false;
    /** The timeout of what runs next: the time left in the window measured now, not before a session was had (it would run past the end). */
    const nextTimeout = (): number => {
      const windowLeftMs = Date.parse(grant.expiresAt!) - now().getTime();
      if (windowLeftMs <= 0) throw new AirlockError('grant_expired', 'the grant window has ended');
      const timeoutMs = Math.min(policy.limits.statementTimeout * 1000, windowLeftMs);
      windowBound = timeoutMs === windowLeftMs;
      return Math.max(1, Math.floor(timeoutMs));
    };
    try {
      nextTimeout();
    } catch (error) {
      // The window ended while the statement was parsed and checked: refused, and recorded like any other.
      throw await failure(grant, planned, 0, error, windowBound);
    }
    // The window, measured on Postgres's own clock before each statement: refused if it has ended; the
    // statement's timeout is what is left of it (never more than the policy's); and on Postgres 17+ the
    // whole transaction is cut off at the window's end (transaction_timeout), however late a message of
    // a busy process arrives.
    const windowCheck = [
      `DO $airlock$ DECLARE left_ms bigint := floor(extract(epoch FROM (${quoteLiteral(grant.expiresAt!)}::timestamptz - clock_timestamp())) * 1000);`,
      `BEGIN IF left_ms <= 0 THEN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = ${quoteLiteral(WINDOW_ENDED)}; END IF;`,
      `PERFORM pg_catalog.set_config('statement_timeout', least(left_ms, ${policy.limits.statementTimeout * 1000})::text, true);`,
      `IF current_setting('server_version_num')::int >= 170000 THEN PERFORM pg_catalog.set_config('transaction_timeout', left_ms::text, true); END IF;`,
      `END $airlock$`,
    ].join(' ');
    const target = {
      grantId: grant.id,
      host: grant.target!.host,
      port: grant.target!.port,
      database: grant.target!.database,
      user: grant.role,
      password: derivePassword(options.roleKey, grant.id),
      expiresAt: new Date(grant.expiresAt!),
      maxSessions: policy.connections[grant.connection]!.profiles[grant.access]!.connectionLimit,
    };

    let began = false;
    try {
      return await options.sessions.withSession(target, async (client) => {
        began = true;
        return runInTransaction(client);
      });
    } catch (error) {
      if (began) throw error;
      // No session could be had: a window that ended since the token check (role locked, dropped, sessions cut) is no outage.
      const fresh = await options.store.get(grant.id).catch(() => null);
      const ended =
        fresh?.status === 'revoked'
          ? new AirlockError('grant_revoked', 'the grant was revoked before the statement could run')
          : fresh && !isLive(fresh, now())
            ? new AirlockError('grant_expired', 'the grant window ended before the statement could run')
            : undefined;
      throw await failure(grant, planned, 0, ended ?? error, windowBound);
    }

    async function runInTransaction(client: PgClient): Promise<QueryResponse> {
      let current = 0;
      try {
        const outputs: Array<{ executed: Executed; plan: MaskingPlan; rows: unknown[][] }> = [];
        for (const [index, plan] of planned.entries()) {
          current = index;
          // Each statement gets its own statement_timeout: the next one is bounded by what is left of the window.
          // The first goes out with the transaction's opening in one round trip where it can.
          // standard_conforming_strings pinned on: how Postgres reads string literals must match the parser.
          const bound = `SET LOCAL standard_conforming_strings = on; SET LOCAL statement_timeout = ${nextTimeout()}; ${windowCheck}`;
          const opening = index === 0 ? `${readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; ${bound}` : bound;
          const executed = await phase('execute', () => runOne(client, plan, index, opening));
          const { masking, rows } = await phase('mask', async () => {
            const masking = await catalogRunner.run(runnerFor(client), () =>
              buildMaskingPlan({
                fields: executed.fields,
                statement: plan.statement,
                masking: policy.masking,
                catalog,
              }),
            );
            return {
              masking,
              rows: applyMaskingPlan(masking, executed.rows, {
                hashKey: options.maskingKey,
                detectors: policy.masking.detectors,
              }),
            };
          });
          outputs.push({ executed, plan: masking, rows });
        }
        const results: QueryResult[] = [];
        for (const [index, output] of outputs.entries()) {
          const event = await phase('audit', () =>
            statementEvent(grant, planned[index]!, {
              decision: 'executed',
              rowCount: output.executed.rowCount,
              durationMs: output.executed.durationMs,
              truncated: output.executed.truncated,
              maskedColumns: output.plan.columns.filter((c) => c.strategy).map((c) => c.name),
              ...(approvals[index] ? { approvalId: approvals[index] } : {}),
            }),
          );
          results.push({
            columns: await Promise.all(
              output.executed.fields.map(async (field, i) => ({
                name: field.name,
                type: await typeName(field.dataTypeID, runnerFor(client)),
                masked: output.plan.columns[i]?.strategy ?? null,
              })),
            ),
            rows: output.rows,
            rowCount: output.executed.rowCount,
            truncated: output.executed.truncated,
            auditId: event.id,
          });
        }
        if (readOnly) {
          // A READ ONLY transaction has nothing to commit: the answer need not wait for it. The session's
          // next statement queues behind this COMMIT on the same connection.
          client.query('COMMIT').catch(() => {});
        } else {
          await phase('execute', () => client.query('COMMIT'));
        }
        return asTransaction ? { results } : results[0]!;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw await failure(grant, planned, current, error, windowBound);
      }
    }
  }

  /** Audits a failed run (every statement of it) and turns the cause into the API's error. */
  async function failure(
    grant: GrantRecord,
    planned: Planned[],
    culprit: number,
    error: unknown,
    windowBound: boolean,
  ): Promise<AirlockError> {
    const sqlstate = (error as { code?: unknown }).code;
    let result: AirlockError;
    if (isAirlockError(error)) result = error;
    // 08P01 is the server refusing what was sent (e.g. more params than placeholders), not a lost connection.
    else if (
      typeof sqlstate === 'string' &&
      /^[0-9A-Z]{5}$/.test(sqlstate) &&
      (!sqlstate.startsWith('08') || sqlstate === '08P01') &&
      sqlstate !== '57P01'
    ) {
      if (sqlstate === '57014' && windowBound)
        result = new AirlockError('grant_expired', 'the grant window ended while the statement ran; it was cancelled', {
          sqlstate,
        });
      else if (sqlstate === 'P0001' && (error as Error).message === WINDOW_ENDED)
        result = new AirlockError('grant_expired', 'the grant window ended before the statement could start');
      else if (sqlstate === '25P04')
        result = new AirlockError('grant_expired', 'the grant window ended while the transaction ran; it was cut off', {
          sqlstate,
        });
      else result = new AirlockError('db_error', databaseMessage(error as Error, planned), { sqlstate });
    } else {
      const fresh = await options.store.get(grant.id).catch(() => null);
      if (fresh?.status === 'revoked')
        result = new AirlockError('grant_revoked', 'the grant was revoked while the statement ran');
      else if (fresh && !isLive(fresh, now()))
        result = new AirlockError('grant_expired', 'the grant window ended while the statement ran');
      else
        result = new AirlockError(
          'unavailable',
          'Postgres is unavailable; nothing was committed',
          {},
          { cause: error },
        );
    }
    if (result.code === 'unavailable' && isAuditFailure(error)) throw result;
    for (const [index, plan] of planned.entries()) {
      await statementEvent(grant, plan, {
        decision: 'failed',
        error: {
          code: result.code,
          ...(index === culprit && typeof sqlstate === 'string' ? { sqlstate } : {}),
          ...(index !== culprit ? { message: 'the transaction was rolled back' } : {}),
        },
      });
    }
    return result;
  }

  /** Postgres's message, unless it may quote a value from a row: masking must hold for errors too. */
  function databaseMessage(error: Error, planned: Planned[]): string {
    return maskDatabaseMessage(error.message, {
      positioned: typeof (error as { position?: unknown }).position === 'string',
      sql: planned.map((plan) => plan.sql),
      params: planned.flatMap((plan) => plan.params),
      detectors: policy.masking.detectors,
    });
  }

  async function runOne(client: PgClient, plan: Planned, index: number, opening: string): Promise<Executed> {
    const started = performance.now();
    const maxRows = policy.limits.maxRows;
    const maxBytes = policy.limits.maxResultBytes;
    const useCursor = plan.statement.command === 'SelectStmt' && !plan.statement.writes;
    const cursor = `airlock_result_${index}`;
    const declare = `DECLARE ${cursor} NO SCROLL CURSOR FOR ${plan.statement.sql}\n`;
    const fetchNext = (have: number) => `FETCH FORWARD ${Math.min(CURSOR_CHUNK, maxRows + 1 - have)} FROM ${cursor}`;
    // Only Airlock's own text goes out as a simple query. The statement itself always travels in the extended
    // protocol, even without parameters: a simple-query message is split by the server's lexer, which
    // session settings (standard_conforming_strings) could make disagree with the parser's.
    await client.query(opening);
    if (!useCursor) {
      const result = await extended(client, plan.statement.sql, plan.params);
      const all = (result.rows ?? []) as unknown[][];
      const { rows, truncated } = capRows(all, maxRows, maxBytes);
      return {
        fields: result.fields ?? [],
        rows,
        rowCount: result.rowCount ?? all.length,
        truncated,
        durationMs: elapsed(started),
      };
    }
    // A cursor reads at most maxRows + 1 rows, so a huge result never reaches this process whole.
    // One cursor per statement of the transaction; COMMIT or ROLLBACK closes them all.
    await extended(client, declare, plan.params);
    let fields: Executed['fields'] = [];
    const rows: unknown[][] = [];
    let bytes = 0;
    let truncated = false;
    for (;;) {
      const chunk = await client.query({ text: fetchNext(rows.length), rowMode: 'array' });
      fields = chunk.fields;
      for (const row of chunk.rows as unknown[][]) {
        bytes += rowBytes(row);
        if (rows.length >= maxRows || bytes > maxBytes) {
          truncated = true;
          break;
        }
        rows.push(row);
      }
      if (truncated || chunk.rows.length === 0 || rows.length > maxRows) break;
      if (chunk.rows.length < Math.min(CURSOR_CHUNK, maxRows + 1)) break;
    }
    return { fields, rows, rowCount: rows.length, truncated, durationMs: elapsed(started) };
  }

  return { authenticate, run };
}

/** A parser message quotes the SQL near the error, which may be a literal: the audit log keeps only where. */
function auditedError(error: AirlockError): Record<string, unknown> {
  if (error.code === 'sql_syntax') return { code: error.code, position: error.details.position ?? null };
  return { code: error.code, message: error.message };
}

/** Whether no array or object in `value` sits deeper than `max` levels; iterative, so any depth is safe to check. */
function nestedWithin(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [item, depth] = entry;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) return false;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return true;
}

/**
 * Sends a statement's own text in the extended protocol, with or without parameters: a named statement
 * (named by its text's hash, so a session parses each text once) always goes out as Parse/Bind/Execute/Sync.
 */
function extended(client: PgClient, text: string, values: unknown[]) {
  const name = `airlock_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
  return client.query({ name, text, values, rowMode: 'array' as const });
}

function runnerFor(client: PgClient): CatalogQuery {
  return async (sql, params) =>
    (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];
}

function capRows(all: unknown[][], maxRows: number, maxBytes: number): { rows: unknown[][]; truncated: boolean } {
  const rows: unknown[][] = [];
  let bytes = 0;
  for (const row of all) {
    bytes += rowBytes(row);
    if (rows.length >= maxRows || bytes > maxBytes) return { rows, truncated: true };
    rows.push(row);
  }
  return { rows, truncated: false };
}

function rowBytes(row: unknown[]): number {
  let bytes = 8;
  for (const value of row) {
    if (value === null || value === undefined) bytes += 4;
    else if (typeof value === 'string') bytes += value.length;
    else if (typeof value === 'object') bytes += value instanceof Date ? 24 : (JSON.stringify(value)?.length ?? 8);
    else bytes += 8;
  }
  return bytes;
}

function isAuditFailure(error: unknown): boolean {
  return isAirlockError(error, 'unavailable') && /audit/i.test(error.message);
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 100) / 100;
