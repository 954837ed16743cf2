// The masking module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { CatalogQuery } from './catalog.ts';
export { createCatalogLookup } from './catalog.ts';
export { maskDatabaseMessage } from './message.ts';
export type { MaskingPlan } from './plan.ts';
export { applyMaskingPlan, buildMaskingPlan } from './plan.ts';
