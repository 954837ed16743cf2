// The revoke_access tool: end one of the caller's grants now.
// Must never end another subject's grant.

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Grant } from '../../api/index.ts';
import { publicGrant } from '../../grants/index.ts';
import { GrantId, guarded, ok, type ToolContext } from '../context.ts';

const GrantOutput = { grant: Grant };

export function registerRevokeAccess(server: McpServer, context: ToolContext): void {
  const { grants, principal } = context;
  server.registerTool(
    'revoke_access',
    {
      title: 'Revoke a grant',
      description:
        'End one of your grants now: its window closes, its role is dropped, running statements are cut off. Do this when your task is done.',
      inputSchema: { grant_id: GrantId },
      outputSchema: GrantOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    guarded(async ({ grant_id }) => {
      const grant = publicGrant(await grants.revoke(principal, grant_id));
      return ok(`Grant ${grant.id} is ${grant.status}.`, { grant });
    }),
  );
}
