// The composition root's public surface: one assembled Airlock from configuration.
// Lambda entry points and the local stack build through this; nothing here reads the environment.

export type { Airlock, AirlockConfig } from './assemble.ts';
export { assembleAirlock } from './assemble.ts';
export { assembleQueryAirlock } from './query.ts';
