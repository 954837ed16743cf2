// The console's public surface: its routes, mounted by the composition root when the policy configures `console`.
// Must never export a way to reach the operator plane that skips the session, the CSRF check or the plane's roles.

export { CONSOLE_CSP } from './layout.tsx';
export type { ConsoleRoutesOptions } from './routes.tsx';
export { consoleRoutes } from './routes.tsx';
