// Names and lock keys of temporary roles, derived from the role key: a name says nothing about its grant to
// anyone who can read pg_roles, and no session without the key can compute the lock Airlock takes on a role.

import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { ID_PATTERN } from '../ids.ts';

/** The key that names a deployment's roles, and its prefix (`airlock_`, or `airlock_<tag>_`). */
export interface RoleNaming {
  roleKey: string;
  prefix: string;
}

const BASE36 = 36n;
/** 36^20 < 2^104: a grant id fits in 13 bytes; the other 3 of the AES block are zero, a check on decryption. */
const ID_BYTES = 13;
const BLOCK_BYTES = 16;

/**
 * `<prefix><32 hex>`: the grant id encrypted as one AES-256 block under a key derived from the role key.
 * The same grant always maps to the same role, two grants never share one, and only the key turns it back.
 */
export function roleNameFor(grantId: string, naming: RoleNaming): string {
  if (!ID_PATTERN.test(grantId)) throw new AirlockError('invalid_request', 'a role name needs a grant id');
  const block = Buffer.alloc(BLOCK_BYTES);
  let value = 0n;
  for (const char of grantId) value = value * BASE36 + BigInt(Number.parseInt(char, 36));
  for (let i = BLOCK_BYTES - 1; i >= BLOCK_BYTES - ID_BYTES; i--) {
    block[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  const cipher = createCipheriv('aes-256-ecb', nameKey(naming.roleKey), null).setAutoPadding(false);
  return `${naming.prefix}${Buffer.concat([cipher.update(block), cipher.final()]).toString('hex')}`;
}

/** The grant a role was minted for, or null when the name is not one this deployment's key makes. */
export function grantIdOfRole(role: string, naming: RoleNaming): string | null {
  if (!role.startsWith(naming.prefix)) return null;
  const rest = role.slice(naming.prefix.length);
  if (/^[0-9a-f]{32}$/.test(rest)) {
    const decipher = createDecipheriv('aes-256-ecb', nameKey(naming.roleKey), null).setAutoPadding(false);
    const block = Buffer.concat([decipher.update(Buffer.from(rest, 'hex')), decipher.final()]);
    if (block.subarray(0, BLOCK_BYTES - ID_BYTES).some((byte) => byte !== 0)) return null;
    let value = 0n;
    for (const byte of block.subarray(BLOCK_BYTES - ID_BYTES)) value = (value << 8n) | BigInt(byte);
    const id = value.toString(36).padStart(20, '0');
    return ID_PATTERN.test(id) ? id : null;
  }
  return legacyGrantIdOfRole(rest);
}

/**
 * Roles minted before names were keyed (`<prefix><id>_<sha256(id)[:12]>`): their grants still name them, and the
 * sweeper must still recognise them as orphans when no grant accounts for them.
 */
function legacyGrantIdOfRole(rest: string): string | null {
  const match = /^([0-9a-z]{20})_([0-9a-f]{12})$/.exec(rest);
  if (!match) return null;
  const [, id, digest] = match;
  return createHash('sha256').update(id!).digest('hex').slice(0, 12) === digest ? id! : null;
}

/** The advisory lock key (a signed bigint, as text) that serialises Airlock's own changes to one role. */
export function roleLockKey(roleKey: string, role: string): string {
  return createHmac('sha256', roleKey).update(`airlock role lock\0${role}`).digest().readBigInt64BE(0).toString();
}

function nameKey(roleKey: string): Buffer {
  if (roleKey.length === 0) throw new AirlockError('invalid_config', 'role names need a role key');
  return createHmac('sha256', roleKey).update('airlock role names').digest();
}
