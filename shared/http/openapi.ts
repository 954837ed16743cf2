// The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with.
// Describes the contract only; it never reflects configuration or secrets.

import { z } from 'zod';
import { DecisionForm } from '../approvals/index.ts';
import { GRANT_STATUSES } from '../grants/index.ts';
import { QueryBody } from '../query/index.ts';
import type { Routes } from './app.ts';
import { GrantRequestBody } from './grants.ts';

const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string() }).catchall(z.unknown()),
});
const Grant = z.object({
  id: z.string(),
  status: z.enum(GRANT_STATUSES),
  subject: z.string(),
  connection: z.string(),
  access: z.string(),
  reason: z.string(),
  rule: z.string(),
  ttlSeconds: z.number().int(),
  requestedAt: z.iso.datetime(),
  activatedAt: z.iso.datetime().nullable(),
  expiresAt: z.iso.datetime().nullable(),
  decisions: z.array(
    z.object({ by: z.string(), decision: z.string(), at: z.iso.datetime(), reason: z.string().optional() }),
  ),
});
const QueryResult = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string(), masked: z.string().nullable() })),
  rows: z.array(z.array(z.unknown())),
  rowCount: z.number().int(),
  truncated: z.boolean(),
  auditId: z.string(),
});
const AuditEvents = z.object({
  events: z.array(
    z
      .object({
        id: z.string(),
        grantId: z.string(),
        seq: z.number().int(),
        at: z.string(),
        type: z.string(),
        subject: z.string(),
        prevHash: z.string(),
        hash: z.string(),
      })
      .catchall(z.unknown()),
  ),
  verified: z.boolean(),
});

type Schema = z.ZodType;
interface Operation {
  summary: string;
  security?: 'identity' | 'grant';
  body?: Schema;
  /** The body's media type; JSON unless the route takes a form. */
  bodyType?: string;
  /** The success answer is an HTML page (approval links). */
  html?: boolean;
  responses: Record<number, { description: string; schema?: Schema }>;
}

const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((code) => [code, { description: 'error', schema: ErrorBody }]));

const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/healthz': {
    get: { summary: 'Liveness', responses: { 200: { description: 'ok', schema: z.object({ ok: z.literal(true) }) } } },
  },
  '/.well-known/jwks.json': {
    get: { summary: 'Public keys of grant tokens', responses: { 200: { description: 'JWKS' } } },
  },
  '/v1/grants': {
    post: {
      summary: 'Request access',
      security: 'identity',
      body: GrantRequestBody,
      responses: {
        201: { description: 'active', schema: z.object({ grant: Grant, token: z.string() }) },
        202: { description: 'pending approval', schema: z.object({ grant: Grant }) },
        ...errors(400, 401, 403, 413, 503),
      },
    },
    get: {
      summary: "The caller's grants, newest first",
      security: 'identity',
      responses: { 200: { description: 'grants', schema: z.object({ grants: z.array(Grant) }) }, ...errors(401, 503) },
    },
  },
  '/v1/grants/{id}': {
    get: {
      summary: 'One grant (token while active)',
      security: 'identity',
      responses: {
        200: { description: 'grant', schema: z.object({ grant: Grant, token: z.string().optional() }) },
        ...errors(401, 404),
      },
    },
    delete: {
      summary: 'Revoke: end the window now',
      security: 'identity',
      responses: { 200: { description: 'revoked', schema: z.object({ grant: Grant }) }, ...errors(401, 404, 503) },
    },
  },
  '/v1/grants/{id}/audit': {
    get: {
      summary: "A grant's audit trail",
      security: 'identity',
      responses: { 200: { description: 'events', schema: AuditEvents }, ...errors(401, 404) },
    },
  },
  '/v1/approvals/{token}': {
    get: {
      summary: 'The confirmation page of an emailed approval link; changes nothing',
      html: true,
      responses: {
        200: { description: 'page' },
        400: { description: 'invalid link (page)' },
        403: { description: 'not this approver (page)' },
        410: { description: 'used or expired (page)' },
      },
    },
    post: {
      summary: 'Decide: approve or deny, with the code shown on the page',
      html: true,
      body: DecisionForm,
      bodyType: 'application/x-www-form-urlencoded',
      responses: {
        200: { description: 'result page' },
        400: { description: 'missing code or invalid link (page)' },
        403: { description: 'not this approver (page)' },
        410: { description: 'used or expired (page)' },
      },
    },
  },
  '/mcp': {
    post: {
      summary: 'MCP over streamable HTTP (stateless, JSON answers): tools for agents',
      security: 'identity',
      responses: { 200: { description: 'JSON-RPC response' }, ...errors(401) },
    },
  },
  '/v1/query': {
    post: {
      summary: 'Run one statement, or a transaction, as the grant’s role',
      security: 'grant',
      body: QueryBody,
      responses: {
        200: { description: 'result', schema: z.union([QueryResult, z.object({ results: z.array(QueryResult) })]) },
        202: { description: 'held for approval', schema: ErrorBody },
        ...errors(400, 401, 403, 413, 503),
      },
    },
  },
};

export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const schema = (s: Schema) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  const paths: Record<string, unknown> = {};
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    paths[path] = Object.fromEntries(
      Object.entries(methods).map(([method, op]) => [
        method,
        {
          summary: op.summary,
          ...(op.security ? { security: [{ [op.security === 'identity' ? 'identityToken' : 'grantToken']: [] }] } : {}),
          ...(/\{(\w+)\}/.test(path)
            ? {
                parameters: [
                  { name: /\{(\w+)\}/.exec(path)![1], in: 'path', required: true, schema: { type: 'string' } },
                ],
              }
            : {}),
          ...(op.body
            ? {
                requestBody: {
                  required: true,
                  content: { [op.bodyType ?? 'application/json']: { schema: schema(op.body) } },
                },
              }
            : {}),
          responses: Object.fromEntries(
            Object.entries(op.responses).map(([status, response]) => [
              status,
              {
                description: response.description,
                ...(response.schema
                  ? { content: { 'application/json': { schema: schema(response.schema) } } }
                  : op.html
                    ? { content: { 'text/html': { schema: { type: 'string' } } } }
                    : {}),
              },
            ]),
          ),
        },
      ]),
    );
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Airlock',
      version: '1',
      description: 'Just-in-time, least-privilege access to PostgreSQL for AI agents.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        identityToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'an identity token from a configured issuer',
        },
        grantToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'a grant token from POST /v1/grants',
        },
      },
    },
    paths,
  };
}

export function openApiRoutes(serverUrl: string): Routes {
  const document = openApiDocument(serverUrl);
  return (app) => app.get('/openapi.json', (c) => c.json(document));
}
