// The request_access tool: ask for a time-limited grant; policy grants it, asks humans, or denies it.
// Must never return a grant token: the query tool uses the grant by id, in-process.

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { Grant, GrantRequestBody } from '../../api/index.ts';
import { publicGrant } from '../../grants/index.ts';
import { parseBody } from '../../http/index.ts';
import { grantSummary, guarded, ok, type ToolContext } from '../context.ts';

const GrantOutput = { grant: Grant };

export function registerRequestAccess(server: McpServer, context: ToolContext): void {
  const { grants, principal } = context;
  server.registerTool(
    'request_access',
    {
      title: 'Request database access',
      description:
        "Ask for a time-limited grant on a database connection (list_connections says which you may ask for). Policy decides: the grant is active now, pending until a HUMAN approves it (minutes, or never), or denied. The window starts when the grant becomes active and ends on its own; a ttl above the rule's maximum is shortened. Give a truthful reason: approvers and the audit trail read it.",
      inputSchema: {
        connection: z.string().min(1).max(128).describe('the connection name, from list_connections'),
        access: z
          .string()
          .min(1)
          .max(128)
          .describe('the access profile, e.g. "read" or "write"; ask for the least you need'),
        ttl: z
          .union([z.number().int().positive(), z.string().regex(/^\d+(?:\.\d+)?[smhd]$/)])
          .describe('window length: seconds (a positive whole number), or "90s", "15m", "1h"'),
        reason: z.string().min(1).max(1000).describe('why you need access, in one sentence'),
      },
      outputSchema: GrantOutput,
      annotations: {
        title: 'Request database access',
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    guarded(async (args) => {
      const body = parseBody(GrantRequestBody, args);
      const result = await grants.request(principal, {
        connection: body.connection,
        access: body.access,
        ttlSeconds: body.ttl,
        reason: body.reason,
      });
      const grant = publicGrant(result.grant);
      return ok(grantSummary(grant), { grant });
    }),
  );
}
