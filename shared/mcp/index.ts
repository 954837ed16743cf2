// The mcp module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export { mcpRoutes } from './server.ts';
