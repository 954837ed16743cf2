// The names of what Airlock keeps in a database for masking, derived from a deployment's role prefix.
// Must never derive a name that another deployment's prefix could also derive.

import { assertPrefix, ROLE_PREFIX } from '../postgres/index.ts';

export interface MaskingNames {
  /** The schema of masking views, first on a temporary role's search_path: `airlock_mask`. */
  schema: string;
  /** The schema only the view owner uses: the hash key and the upkeep lock (`airlock_mask_private`). */
  privateSchema: string;
  /** NOLOGIN owner of the views, the schemas and the key: `airlock_mask_owner`. */
  owner: string;
  /** NOLOGIN role with `pg_read_all_data`'s rights minus masked columns: `airlock_reader`. */
  reader: string;
  /** NOLOGIN role with `pg_write_all_data`'s rights minus masked columns: `airlock_writer`. */
  writer: string;
}

/**
 * `airlock_` → `airlock_mask`, `airlock_mask_private`, `airlock_mask_owner`, `airlock_reader`, `airlock_writer`;
 * `airlock_t1_` → `airlock_t1_mask`, …. Role names of grants always end in `_<12 hex>`, so none of these is one.
 */
export function maskingNames(prefix: string = ROLE_PREFIX): MaskingNames {
  assertPrefix(prefix);
  return {
    schema: `${prefix}mask`,
    privateSchema: `${prefix}mask_private`,
    owner: `${prefix}mask_owner`,
    reader: `${prefix}reader`,
    writer: `${prefix}writer`,
  };
}

/** Schemas of any Airlock deployment's masking (its views and its private schema), as a Postgres regex. */
export const AIRLOCK_MASKING_SCHEMAS = '^airlock_([a-z0-9]{1,12}_)?mask(_private)?$';
/** Schemas of any Airlock deployment's masking views, as a Postgres regex. */
export const AIRLOCK_MASKING_VIEW_SCHEMAS = '^airlock_([a-z0-9]{1,12}_)?mask$';
