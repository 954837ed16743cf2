// The describe_schema tool: the tables and columns an active grant can see, with the masked ones named.
// It reads information_schema as the grant's role through the query path, so it is audited like any statement.

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { describeTables } from '../../masking/index.ts';
import { GrantId, guarded, liveGrant, type ToolContext, untrusted } from '../context.ts';

// The masking schema is read whatever schema is asked for: its views stand for the tables they mask.
const CATALOG_SQL = `SELECT table_schema, table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema <> 'information_schema' AND table_schema !~ '^pg_'
  AND ($1::text IS NULL OR table_schema = $1::text OR table_schema ~ '^airlock_([a-z0-9]{1,12}_)?mask$')
ORDER BY table_schema, table_name, ordinal_position`;

const Column = z.object({ name: z.string(), type: z.string(), sensitive: z.string().nullable() });
const Table = z.object({ schema: z.string(), table: z.string(), columns: z.array(Column) });

export function registerDescribeSchema(server: McpServer, context: ToolContext): void {
  server.registerTool(
    'describe_schema',
    {
      title: 'Describe the schema',
      description:
        "Tables and columns visible to an active grant (read from information_schema as the grant's role; audited like any statement). Columns marked sensitive come back masked by query, with the strategy named.",
      inputSchema: { grant_id: GrantId, schema: z.string().optional().describe('only this schema, e.g. "public"') },
      outputSchema: { tables: z.array(Table), truncated: z.boolean() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ grant_id, schema }) => {
      const grant = await liveGrant(context, grant_id);
      const outcome = await context.query.run(grant, { sql: CATALOG_SQL, params: [schema ?? null] });
      if (outcome.status !== 'executed' || 'results' in outcome.response) {
        throw new Error('the catalog read did not run as one statement');
      }
      const result = outcome.response;
      const rows = result.rows as Array<[string, string, string, string]>;
      const list = describeTables(rows, context.policy.masking).filter((entry) => !schema || entry.schema === schema);
      const text = list
        .map(
          (entry) =>
            `${entry.schema}.${entry.table}: ${entry.columns.map((c) => `${c.name} ${c.type}${c.sensitive ? ` [sensitive: masked ${c.sensitive}]` : ''}`).join(', ')}`,
        )
        .join('\n');
      return untrusted(`${text || '(no tables visible)'}${result.truncated ? '\n(truncated)' : ''}`, {
        tables: list,
        truncated: result.truncated,
      });
    }),
  );
}
