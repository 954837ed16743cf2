// The wsproxy module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { WsProxyOptions } from './proxy.ts';
export { startWsProxy } from './proxy.ts';
