// The masking module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { CatalogCache, CatalogQuery } from './catalog.ts';
export { catalogConnectionKey, catalogFor, createCatalogCache, createCatalogLookup } from './catalog.ts';
export { checkPolicyConnections, createConnectionMasking } from './connections.ts';
export type { DescribedTable } from './describe.ts';
export { describeTables } from './describe.ts';
export { createDetectorScan } from './detectors.ts';
export type { MaskingEnforcement, MaskingEnforcer, MaskingEnforcerOptions } from './enforce.ts';
export { checkPolicyAgainstDatabase, createMaskingEnforcer } from './enforce.ts';
export { fixedDatabaseMessage, maskDatabaseMessage, touchesMaskedTable } from './message.ts';
export type { PolicyFinding } from './model.ts';
export { combineFindings, describeFindings } from './model.ts';
export type { MaskingNames } from './names.ts';
export { maskingNames } from './names.ts';
export type { MaskingPlan } from './plan.ts';
export { applyMaskingPlan, buildMaskingPlan } from './plan.ts';
export { cellText, maskEmail, maskLast4, REDACTED } from './strategies.ts';
