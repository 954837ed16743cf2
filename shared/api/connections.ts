// What a caller may ask for: the connections and accesses policy would grant or put to approvers, for this caller.
// Must never list a connection or access the policy would deny the caller.

import { z } from 'zod';

export const RequestableAccess = z.object({
  access: z.string(),
  outcome: z.enum(['granted', 'approval']).meta({
    description: '`granted`: active at once; `approval`: once the rule’s approvers agree.',
  }),
  maxTtlSeconds: z.number().int().meta({ description: 'The longest window the deciding rule gives.' }),
  rule: z.string(),
});

export const ConnectionList = z
  .object({ connections: z.array(z.object({ name: z.string(), accesses: z.array(RequestableAccess) })) })
  .meta({ id: 'ConnectionList' });
export type ConnectionList = z.infer<typeof ConnectionList>;
