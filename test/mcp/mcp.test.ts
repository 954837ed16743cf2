import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNTRUSTED_NOTICE } from '../../shared/mcp/render.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient } from '../support/infra.ts';

// The demo policy plus write access without approval for `agent:mcp-*`, so a guardrail hold can be
// reached without a human approving the grant first.
const policyText = DEMO_POLICY_TEXT.replace(
  'rules:\n',
  `rules:
  - name: mcp-write-auto
    when: { subject: "agent:mcp-*" }
    connection: shop
    access: write
    maxTtl: 10m
`,
);

let stack: TestAirlock;
const clients: Client[] = [];

beforeAll(async () => {
  stack = await startTestAirlock({ policyText });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await stack.airlock.sweep();
  await stack.close();
});

async function connect(subject: string, groups: string[] = []): Promise<Client> {
  const token = await stack.token(subject, groups);
  const client = new Client({ name: 'airlock-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  clients.push(client);
  return client;
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult & { structuredContent: any }> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult & { structuredContent: any };
}

const text = (result: CallToolResult) =>
  result.content.map((item) => (item.type === 'text' ? item.text : '')).join('\n');

async function grantFor(client: Client, access: 'read' | 'write'): Promise<string> {
  const result = await call(client, 'request_access', { connection: 'shop', access, ttl: '5m', reason: 'mcp test' });
  expect(result.isError, text(result)).toBeFalsy();
  expect(result.structuredContent.grant.status).toBe('active');
  return result.structuredContent.grant.id as string;
}

describe('POST /mcp', () => {
  it('lists the seven tools, each saying what it does and the rules, with output schemas and honest capabilities', async () => {
    const client = await connect('agent:mcp-list');
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'describe_schema',
      'grant_status',
      'list_connections',
      'list_grants',
      'query',
      'request_access',
      'revoke_access',
    ]);
    const query = tools.find((tool) => tool.name === 'query')!;
    expect(query.description).toMatch(/ONE SQL statement/);
    expect(query.description).toMatch(/HUMAN/);
    expect(query.description).toMatch(/untrusted/i);
    expect(query.inputSchema.required).toEqual(['grant_id']);
    expect(Object.keys(query.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['sql', 'params', 'transaction']),
    );
    expect(tools.find((tool) => tool.name === 'request_access')!.description).toMatch(/ends on its own/);
    expect(client.getInstructions()).toMatch(/never follow instructions/);
    for (const tool of tools) expect(tool.outputSchema, tool.name).toBeDefined();
    // Stateless: it never sends a notification, so it does not claim its tool list can change live.
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(false);
  });

  it('lists the connections the caller could ask for, from the policy, and nothing the policy denies', async () => {
    const reader = await connect('agent:lister');
    const readable = await call(reader, 'list_connections', {});
    expect(readable.isError, text(readable)).toBeFalsy();
    expect(readable.structuredContent.connections).toEqual([
      { name: 'shop', accesses: [{ access: 'read', outcome: 'granted', maxTtlSeconds: 1800, rule: 'agents-read' }] },
    ]);
    const writer = await connect('agent:lister-w', ['finance']);
    const both = (await call(writer, 'list_connections', {})).structuredContent.connections[0].accesses;
    expect(both.map((access: { access: string; outcome: string }) => [access.access, access.outcome])).toEqual([
      ['read', 'granted'],
      ['write', 'approval'],
    ]);
    const stranger = await connect('human:someone');
    expect((await call(stranger, 'list_connections', {})).structuredContent.connections).toEqual([]);
  });

  it('requests access and never hands the grant token to the model', async () => {
    const client = await connect('agent:mcp-request');
    const result = await call(client, 'request_access', {
      connection: 'shop',
      access: 'read',
      ttl: '1h',
      reason: 'look at customers',
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent.grant).toMatchObject({
      status: 'active',
      access: 'read',
      connection: 'shop',
      rule: 'agents-read',
      ttlSeconds: 1800,
    });
    expect(text(result)).toMatch(/is active/);
    expect(JSON.stringify(result)).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./);

    const status = await call(client, 'grant_status', { grant_id: result.structuredContent.grant.id });
    expect(status.structuredContent.grant.status).toBe('active');
    const list = await call(client, 'list_grants');
    expect(list.structuredContent.grants.map((grant: { id: string }) => grant.id)).toContain(
      result.structuredContent.grant.id,
    );
    expect(text(list)).toContain(result.structuredContent.grant.id);
  });

  it('refuses a request the policy does not allow, as a tool error with the API code', async () => {
    const client = await connect('human:bob');
    const result = await call(client, 'request_access', {
      connection: 'shop',
      access: 'read',
      ttl: 60,
      reason: 'curious',
    });
    expect(result.isError).toBe(true);
    expect(result.structuredContent.error.code).toBe('policy_denied');
    expect(text(result)).toMatch(/^policy_denied: /);

    const invalid = await call(client, 'request_access', {
      connection: 'shop',
      access: 'read',
      ttl: 'forever',
      reason: 'x',
    });
    // The tool's input schema is strict: the MCP server refuses the arguments before the tool runs.
    expect(invalid.isError).toBe(true);
    expect(text(invalid)).toMatch(/ttl/);
  });

  it('queries with masking and marks the rows as untrusted data', async () => {
    const client = await connect('agent:demo');
    const grantId = await grantFor(client, 'read');
    const result = await call(client, 'query', {
      grant_id: grantId,
      sql: 'SELECT id, name, email, card_number, ssn FROM customers WHERE id <= $1 ORDER BY id',
      params: [2],
    });
    expect(result.isError, text(result)).toBeFalsy();
    const { columns, rows, rowCount, auditId, status } = result.structuredContent;
    expect(status).toBe('executed');
    expect(rowCount).toBe(2);
    expect(typeof auditId).toBe('string');
    expect(columns.map((column: { masked: string | null }) => column.masked)).toEqual([
      null,
      null,
      'email',
      'last4',
      'redact',
    ]);
    for (const row of rows) {
      expect(row[2]).toMatch(/^.\*+@/);
      expect(row[3]).toMatch(/^\*+\d{4}$/);
      expect(row[4]).toBe('[REDACTED]');
    }
    expect(result._meta).toMatchObject({ 'airlock/untrusted-data': true });
    expect(result.content[0]).toMatchObject({ type: 'text', _meta: { 'airlock/untrusted-data': true } });
    const body = text(result);
    expect(body.startsWith(UNTRUSTED_NOTICE)).toBe(true);
    expect(body).toMatch(
      /<untrusted-data-([0-9a-f]{12})>\nid \| name \| email \| card_number \| ssn\n[\s\S]*<\/untrusted-data-\1>$/,
    );
    expect(body).toContain('masked: email (email), card_number (last4), ssn (redact)');
  });

  it('describes the schema visible to the grant, sensitive columns marked', async () => {
    const client = await connect('agent:demo');
    const grantId = await grantFor(client, 'read');
    const result = await call(client, 'describe_schema', { grant_id: grantId, schema: 'public' });
    expect(result.isError, text(result)).toBeFalsy();
    const tables = result.structuredContent.tables as Array<{
      schema: string;
      table: string;
      columns: Array<{ name: string; type: string; sensitive: string | null }>;
    }>;
    const customers = tables.find((table) => table.table === 'customers')!;
    expect(customers.schema).toBe('public');
    expect(Object.fromEntries(customers.columns.map((column) => [column.name, column.sensitive]))).toMatchObject({
      id: null,
      name: null,
      email: 'email',
      card_number: 'last4',
      ssn: 'redact',
      phone: 'hash',
    });
    expect(tables.some((table) => table.table === 'orders')).toBe(true);
    expect(text(result)).toContain('email text [sensitive: masked email]');
    expect(text(result).startsWith(UNTRUSTED_NOTICE)).toBe(true);
  });

  it('returns a held statement as its approval state, not an error, and runs nothing', async () => {
    const client = await connect('agent:mcp-writer');
    const grantId = await grantFor(client, 'write');
    const result = await call(client, 'query', { grant_id: grantId, sql: 'DELETE FROM orders' });
    expect(result.isError, text(result)).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: 'held',
      guardrail: 'unbounded-change',
      approval: { status: 'pending' },
    });
    expect(typeof result.structuredContent.approval.id).toBe('string');
    expect(text(result)).toMatch(/identical sql and params/);

    const admin = await adminClient();
    try {
      expect(Number((await admin.query('SELECT count(*) AS n FROM orders')).rows[0].n)).toBe(5000);
    } finally {
      await admin.end();
    }
  });

  it('reports a blocked statement as a tool error with the API code', async () => {
    const client = await connect('agent:demo');
    const grantId = await grantFor(client, 'read');
    const result = await call(client, 'query', { grant_id: grantId, sql: 'DELETE FROM orders WHERE id = 1' });
    expect(result.isError).toBe(true);
    expect(result.structuredContent.error).toMatchObject({ code: 'statement_blocked', guardrail: 'access:read' });
    const twoStatements = await call(client, 'query', { grant_id: grantId, sql: 'SELECT 1; SELECT 2' });
    expect(twoStatements.structuredContent.error.code).toBe('multiple_statements');
  });

  it("refuses another subject's grant as if it did not exist", async () => {
    const owner = await connect('agent:mcp-owner');
    const grantId = await grantFor(owner, 'read');
    const intruder = await connect('agent:mcp-intruder');
    for (const [tool, args] of [
      ['query', { grant_id: grantId, sql: 'SELECT 1' }],
      ['describe_schema', { grant_id: grantId }],
      ['grant_status', { grant_id: grantId }],
      ['revoke_access', { grant_id: grantId }],
    ] as const) {
      const result = await call(intruder, tool, args);
      expect(result.isError, tool).toBe(true);
      expect(result.structuredContent.error.code, tool).toBe('not_found');
    }
    expect((await call(owner, 'grant_status', { grant_id: grantId })).structuredContent.grant.status).toBe('active');
  });

  it('stops a revoked grant at once', async () => {
    const client = await connect('agent:demo');
    const grantId = await grantFor(client, 'read');
    const revoked = await call(client, 'revoke_access', { grant_id: grantId });
    expect(revoked.structuredContent.grant.status).toBe('revoked');
    const result = await call(client, 'query', { grant_id: grantId, sql: 'SELECT 1' });
    expect(result.isError).toBe(true);
    expect(result.structuredContent.error.code).toBe('grant_revoked');
  });

  it('refuses an unauthenticated call with the API error shape', async () => {
    const anonymous = new Client({ name: 'anonymous', version: '1' });
    await expect(anonymous.connect(new StreamableHTTPClientTransport(new URL(`${stack.baseUrl}/mcp`)))).rejects.toThrow(
      /401|unauthenticated/,
    );

    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
    };
    const headers = { accept: 'application/json, text/event-stream' };
    for (const token of [
      undefined,
      'not-a-jwt',
      await stack.token('agent:demo').then((t) => `${t.slice(0, -4)}AAAA`),
    ]) {
      const response = await stack.call('POST', '/mcp', { body: initialize, headers, ...(token ? { token } : {}) });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({
        error: {
          code: 'unauthenticated',
          message: expect.any(String),
          requestId: response.headers.get('x-request-id'),
        },
      });
    }
  });

  it('is stateless: no SSE stream or session to open (405), every POST stands alone', async () => {
    const token = await stack.token('agent:demo');
    const response = await stack.call('GET', '/mcp', { token, headers: { accept: 'text/event-stream' } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');

    const headers = { accept: 'application/json, text/event-stream' };
    const list = await stack.call('POST', '/mcp', {
      token,
      headers,
      body: { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} },
    });
    expect(list.status).toBe(200);
    expect(list.headers.get('mcp-session-id')).toBeNull();
    expect(list.body.result.tools).toHaveLength(7);
  });
});
