// An operator's lock: what it covers (a subject, optionally of one issuer, and/or a connection), why, and
// until when. Must never cover anything once lifted or past its `expiresAt`, whatever the store still holds.

import { z } from 'zod';
import type { LockScope } from '../grants/index.ts';

/** The stored item. `liftedAt` and the rest of the lift exist only once an operator lifted it. */
export const Lock = z.object({
  id: z.string(),
  subject: z.string().optional(),
  issuer: z.string().optional(),
  connection: z.string().optional(),
  reason: z.string(),
  by: z.string(),
  byIssuer: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  liftedAt: z.string().optional(),
  liftedBy: z.string().optional(),
  liftReason: z.string().optional(),
  /** Epoch seconds after which DynamoDB may delete an ended lock; never read to decide anything. */
  ttl: z.number().int().optional(),
});
export type Lock = z.infer<typeof Lock>;

export function isActive(lock: Lock, now: Date): boolean {
  return lock.liftedAt === undefined && (lock.expiresAt === undefined || Date.parse(lock.expiresAt) > now.getTime());
}

/** Every part the lock names must match; a part it leaves out matches anything. */
export function covers(lock: Lock, scope: LockScope): boolean {
  return (
    (lock.subject === undefined || lock.subject === scope.subject) &&
    (lock.issuer === undefined || lock.issuer === scope.issuer) &&
    (lock.connection === undefined || lock.connection === scope.connection)
  );
}

/** API.md's Lock, plus when and by whom it was lifted once it has been. */
export function publicLock(lock: Lock) {
  return {
    id: lock.id,
    ...(lock.subject !== undefined ? { subject: lock.subject } : {}),
    ...(lock.issuer !== undefined ? { issuer: lock.issuer } : {}),
    ...(lock.connection !== undefined ? { connection: lock.connection } : {}),
    reason: lock.reason,
    by: lock.by,
    createdAt: lock.createdAt,
    ...(lock.expiresAt !== undefined ? { expiresAt: lock.expiresAt } : {}),
    ...(lock.liftedAt !== undefined
      ? { liftedAt: lock.liftedAt, liftedBy: lock.liftedBy, liftReason: lock.liftReason }
      : {}),
  };
}
export type PublicLock = ReturnType<typeof publicLock>;
