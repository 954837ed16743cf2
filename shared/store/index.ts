// The store module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export { createDynamoClient, fromItem, isConditionFailure, storeCall, toItem } from './dynamo.ts';
export type { DynamoHotPath, DynamoHotPathOptions } from './hot-path.ts';
export { createDynamoHotPath, DynamoCallError, hotPathFor } from './hot-path.ts';
export { withHotPath } from './hot-path-routing.ts';
export type { TableDefinition, TableNames } from './tables.ts';
export { TABLES } from './tables.ts';
