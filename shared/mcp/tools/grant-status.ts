// The grant_status tool: one of the caller's grants and where it stands.
// Must never show another subject's grant (it is a 404, like the API).

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Grant } from '../../api/index.ts';
import { publicGrant } from '../../grants/index.ts';
import { GrantId, grantSummary, guarded, ok, type ToolContext } from '../context.ts';

const GrantOutput = { grant: Grant };

export function registerGrantStatus(server: McpServer, context: ToolContext): void {
  const { grants, principal } = context;
  server.registerTool(
    'grant_status',
    {
      title: 'Grant status',
      description:
        'The current state of one of your grants: pending (waiting for a human), active (until expiresAt), denied, expired or revoked, with its decisions.',
      inputSchema: { grant_id: GrantId },
      outputSchema: GrantOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ grant_id }) => {
      const grant = publicGrant((await grants.get(principal, grant_id)).grant);
      return ok(grantSummary(grant), { grant });
    }),
  );
}
