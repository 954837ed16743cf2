// The CLI's HTTP client of the Airlock API: base URL, identity token, JSON in and out, and the
// API's error body turned into a CliError with a hint. Must never log or echo a token.

import { execFile } from 'node:child_process';
import { CliError, EXIT, exitCodeFor, usageError } from './exit.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8787';
const TOKEN_COMMAND_TIMEOUT_MS = 30_000;

/** The API's error body, `{error: {code, message, ...}}`, plus fields beside it (e.g. `approval`). */
export interface ApiErrorBody {
  error: { code: string; message: string; [field: string]: unknown };
  [field: string]: unknown;
}

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    hint?: string,
  ) {
    super(body.error.message, exitCodeFor(body.error.code), hint);
  }
  get code(): string {
    return this.body.error.code;
  }
  /** The error's fields worth a line of their own: each issue, the guardrail, the lock's reason. */
  detailLines(): string[] {
    const { issues, guardrail, lock } = this.body.error as { issues?: unknown; guardrail?: unknown; lock?: unknown };
    const lines = Array.isArray(issues) ? issues.map((issue) => `  ${String(issue)}`) : [];
    if (typeof guardrail === 'string') lines.push(`  guardrail: ${guardrail}`);
    const reason = (lock as { reason?: unknown } | null | undefined)?.reason;
    if (typeof reason === 'string') lines.push(`  lock: ${reason}`);
    return lines;
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export interface ApiClient {
  baseUrl: string;
  /** Throws ApiError for a 4xx/5xx; returns 2xx (including 202) as they are. */
  call(
    method: string,
    path: string,
    options?: { bearer?: 'identity' | { token: string }; body?: unknown },
  ): Promise<ApiResponse>;
  identityToken(): Promise<string>;
  /** Whether an identity token is configured at all (flag, variable or command). */
  hasIdentity(): boolean;
}

export interface ApiClientOptions {
  url?: string;
  token?: string;
  env: Record<string, string | undefined>;
}

export function normalizeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`not a URL: ${raw}`, 'pass --url http://host:port or set AIRLOCK_URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`not an HTTP(S) URL: ${raw}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const baseUrl = normalizeBaseUrl(options.url ?? options.env.AIRLOCK_URL ?? DEFAULT_URL);
  let identity: Promise<string> | undefined;

  const identityToken = () => (identity ??= resolveIdentityToken(options.token, options.env));

  async function call(
    method: string,
    path: string,
    init: { bearer?: 'identity' | { token: string }; body?: unknown } = {},
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (init.bearer)
      headers.authorization = `Bearer ${init.bearer === 'identity' ? await identityToken() : init.bearer.token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new CliError(
        `cannot reach Airlock at ${baseUrl}${cause ? ` (${cause})` : ''}`,
        EXIT.error,
        'is it running? Locally: npm start. Elsewhere: --url or AIRLOCK_URL',
      );
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON: kept as text for the error below.
    }
    if (response.status >= 400) {
      const error = asErrorBody(response.status, body);
      throw new ApiError(response.status, error, hintFor(error.error.code, response.headers.get('retry-after')));
    }
    return { status: response.status, body };
  }

  const hasIdentity = () => Boolean(options.token || options.env.AIRLOCK_TOKEN || options.env.AIRLOCK_TOKEN_COMMAND);
  return { baseUrl, call, identityToken, hasIdentity };
}

function asErrorBody(status: number, body: unknown): ApiErrorBody {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') return body as ApiErrorBody;
  return {
    error: {
      code: `http_${status}`,
      message: `Airlock answered HTTP ${status}${typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : ''}`,
    },
  };
}

/** What to try next, by API error code; callers with more context may replace it. */
export function hintFor(code: string, retryAfter?: string | null): string | undefined {
  switch (code) {
    case 'unauthenticated':
      return 'check the identity token (--token, AIRLOCK_TOKEN or AIRLOCK_TOKEN_COMMAND); locally: export AIRLOCK_TOKEN=$(airlock dev token --sub agent:demo)';
    case 'policy_denied':
      return 'see which rule applies: airlock policy explain --sub <you> --connection <name> --access <access>';
    case 'not_found':
      return 'list your grants with: airlock grants';
    case 'grant_expired':
    case 'grant_revoked':
      return 'request a new grant: airlock request <connection> --reason "…"';
    case 'statement_blocked':
      return 'a guardrail refuses this statement; it cannot be approved — change the statement or the grant';
    case 'too_large':
      return 'the request body is over the server limit';
    case 'unavailable':
      return 'a backing service is down; nothing was run — try again shortly';
    case 'invalid_request':
      return 'run the command with --help for its options';
    case 'rate_limited':
      return `a quota is spent (the error names it); try again${retryAfter && /^\d+$/.test(retryAfter) ? ` in ${retryAfter} s` : ' later'}, or end a grant you no longer need: airlock revoke <id>`;
    case 'locked':
      return 'an operator has locked this subject or connection; nothing can be requested until the lock is lifted';
    case 'statement_too_complex':
      return 'the statement is over the parser limits; split it or simplify it';
    default:
      return undefined;
  }
}

/** --token, else AIRLOCK_TOKEN, else the stdout of AIRLOCK_TOKEN_COMMAND (e.g. a workload-identity helper). */
async function resolveIdentityToken(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): Promise<string> {
  if (flag) return flag.trim();
  if (env.AIRLOCK_TOKEN) return env.AIRLOCK_TOKEN.trim();
  const command = env.AIRLOCK_TOKEN_COMMAND;
  if (!command) {
    throw usageError(
      'no identity token',
      'pass --token, set AIRLOCK_TOKEN, or set AIRLOCK_TOKEN_COMMAND to a command that prints one; locally: export AIRLOCK_TOKEN=$(airlock dev token --sub agent:demo)',
    );
  }
  const token = await new Promise<string>((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { timeout: TOKEN_COMMAND_TIMEOUT_MS, env: { ...process.env, ...env }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = String(stderr).trim().split('\n').slice(-3).join(' / ');
          reject(
            new CliError(
              `AIRLOCK_TOKEN_COMMAND failed (${error.code ?? error.signal ?? 'error'})${detail ? `: ${detail}` : ''}`,
              EXIT.error,
              'run the command yourself to see why',
            ),
          );
        } else resolve(String(stdout).trim());
      },
    );
  });
  if (!token)
    throw new CliError(
      'AIRLOCK_TOKEN_COMMAND printed nothing',
      EXIT.error,
      'it must print the identity token on stdout',
    );
  return token;
}
