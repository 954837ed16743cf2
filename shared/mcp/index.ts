// The MCP module's public surface: the route that serves the agents' MCP server.
// Must never export a tool for operators: agents get agent tools only.

export type { McpOptions } from './context.ts';
export { mcpRoutes } from './routes.ts';
