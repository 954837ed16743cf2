// The list_connections tool: the connections and accesses the caller could ask for, so a model never guesses names.
// The same `decide` dry run as GET /v1/connections and `airlock policy explain`; it grants nothing.

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ConnectionList } from '../../api/index.ts';
import { requestableConnections } from '../../policy/index.ts';
import { guarded, ok, type ToolContext } from '../context.ts';
import { compactTable } from '../render.ts';

export function registerListConnections(server: McpServer, context: ToolContext): void {
  server.registerTool(
    'list_connections',
    {
      title: 'List what I can ask for',
      description:
        'The database connections and access profiles you could request with request_access, what the policy would do (granted at once, or sent to human approvers) and the longest window it gives. Ask for the least access you need.',
      outputSchema: ConnectionList.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async () => {
      const connections = requestableConnections(context.policy, context.principal);
      const rows = connections.flatMap((connection) =>
        connection.accesses.map((access) => [
          connection.name,
          access.access,
          access.outcome === 'granted' ? 'granted at once' : 'needs a human approval',
          `${access.maxTtlSeconds}s`,
        ]),
      );
      return ok(
        rows.length
          ? compactTable(['connection', 'access', 'policy', 'max window'], rows)
          : 'The policy lets you request nothing here.',
        { connections },
      );
    }),
  );
}
