// The list_grants tool: the caller's grants, newest first.
// Must never list another subject's grants.

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { Grant } from '../../api/index.ts';
import { publicGrant } from '../../grants/index.ts';
import { guarded, ok, type ToolContext } from '../context.ts';
import { compactTable } from '../render.ts';

export function registerListGrants(server: McpServer, context: ToolContext): void {
  const { grants, principal } = context;
  server.registerTool(
    'list_grants',
    {
      title: 'List my grants',
      description: "Your grants, newest first, with their status and window end. Use an active one's id with query.",
      outputSchema: { grants: z.array(Grant) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async () => {
      const list = (await grants.list(principal)).map(publicGrant);
      const rows = list.map((grant) => [
        grant.id,
        grant.status,
        `${grant.access}@${grant.connection}`,
        grant.expiresAt ?? grant.approvalDeadline ?? '',
        grant.reason,
      ]);
      return ok(
        list.length
          ? compactTable(['id', 'status', 'access', 'until', 'reason'], rows)
          : 'No grants yet: use request_access.',
        { grants: list },
      );
    }),
  );
}
