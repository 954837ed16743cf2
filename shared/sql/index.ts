// The SQL module's public surface: parse with the real PostgreSQL parser, then judge each statement.
// It must never export a way to judge SQL from text; callers go through parseStatements/parseOne first.

export { parserHealthy } from './engine.ts';
export type { CheckOptions, Decided, EffectCheck, Verdict } from './guard.ts';
export { checkStatement, tableMatches } from './guard.ts';
export { textFingerprint } from './identifiers.ts';
export type { ParameterUse } from './params.ts';
export { parameterUses } from './params.ts';
export { parseOne, parseStatements } from './parse.ts';
export type { ParsedStatement, RelationRef } from './statement.ts';
