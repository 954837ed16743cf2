// POST /mcp: the MCP front door for agents over streamable HTTP, stateless and JSON-only, identity token required.
// GET and DELETE answer 405: there is no SSE stream and no session to end.

import { z } from '@hono/zod-openapi';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { documentedRoute, errorResponses, identityAuth, type Routes } from '../http/index.ts';
import type { McpOptions } from './context.ts';
import { createAirlockMcpServer } from './server.ts';

export function mcpRoutes(options: McpOptions): Routes {
  const auth = identityAuth(options.identity);
  return (app) => {
    documentedRoute(
      app,
      {
        method: 'post',
        path: '/mcp',
        operationId: 'mcp',
        summary: 'MCP over streamable HTTP (stateless, JSON answers): tools for agents',
        tags: ['mcp'],
        security: [{ identityToken: [] }],
        request: {
          body: { required: true, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
        },
        responses: {
          200: {
            description: 'A JSON-RPC response',
            content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
          },
          202: { description: 'A notification was accepted' },
          ...errorResponses(400, 401, 403, 413),
        },
      },
      auth,
      async (c) => {
        // Stateless: a transport refuses a second request, so each request gets its own server and transport.
        const server = createAirlockMcpServer(options, c.get('principal'));
        const transport = new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: undefined,
          enableJsonResponse: true,
        });
        await server.connect(transport);
        try {
          return await transport.handleRequest(c.req.raw);
        } finally {
          await server.close();
        }
      },
    );
    // No SSE stream and no sessions here; 405 tells MCP clients so (a 404 would read as an error).
    app.on(['GET', 'DELETE'], '/mcp', (c) =>
      c.json(
        {
          error: { code: 'invalid_request', message: 'this MCP endpoint is stateless: POST JSON-RPC messages to /mcp' },
        },
        405,
        { Allow: 'POST' },
      ),
    );
  };
}
