// Opaque `next` cursors of the operator plane's lists: a position, base64url JSON, checked when it comes back.
// Must never trust a cursor's contents beyond its shape: it only says where a list resumes.

import { z } from 'zod';
import { AirlockError } from '../errors.ts';

const POSITIONS = {
  grants: z.strictObject({ requestedAt: z.string().max(40), id: z.string().max(64) }),
  audit: z.strictObject({ at: z.string().max(40), grantId: z.string().max(128), seq: z.number().int().min(0) }),
};
type Positions = typeof POSITIONS;
export type CursorKind = keyof Positions;

export function encodeCursor<K extends CursorKind>(kind: K, position: z.infer<Positions[K]>): string {
  return Buffer.from(JSON.stringify({ k: kind, p: position })).toString('base64url');
}

export function decodeCursor<K extends CursorKind>(cursor: string, kind: K): z.infer<Positions[K]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const envelope = z.strictObject({ k: z.literal(kind), p: z.unknown() }).safeParse(parsed);
  const position = envelope.success ? POSITIONS[kind].safeParse(envelope.data.p) : undefined;
  if (!position?.success)
    throw new AirlockError('invalid_request', 'the `next` cursor is not one this list gave out', {
      issues: ['next: not a cursor of this list'],
    });
  return position.data as z.infer<Positions[K]>;
}
