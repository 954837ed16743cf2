// What every MCP tool shares: the services it calls, the caller, and how results and failures become tool answers.
// A failure is a tool error carrying the API's error body; a database row is always marked as untrusted data.

import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Grant } from '../api/index.ts';
import type { GrantRecord, GrantService } from '../grants/index.ts';
import { presentError } from '../http/index.ts';
import type { IdentityVerifier, Principal } from '../identity/index.ts';
import type { Policy } from '../policy/index.ts';
import type { QueryService } from '../query/index.ts';
import { fenceUntrusted, UNTRUSTED_META } from './render.ts';

export interface McpOptions {
  policy: Policy;
  identity: IdentityVerifier;
  grants: GrantService;
  query: QueryService;
}

export interface ToolContext extends McpOptions {
  principal: Principal;
}

export const GrantId = z.string().min(1).max(64).describe('the grant id returned by request_access or list_grants');

/** The live grant of the caller, checked exactly as /v1/query checks a grant token (404 unless it is theirs). */
export async function liveGrant(context: ToolContext, id: string): Promise<GrantRecord> {
  const { grant } = await context.grants.get(context.principal, id);
  return context.query.admit(grant);
}

export function grantSummary(grant: Grant): string {
  switch (grant.status) {
    case 'active':
      return `Grant ${grant.id} is active: ${grant.access} on ${grant.connection} until ${grant.expiresAt} (rule ${grant.rule}). Use the query tool with grant_id "${grant.id}".`;
    case 'pending': {
      const who = grant.approval
        ? `${grant.approval.required} of ${grant.approval.approvers} human approver(s)`
        : 'a human approver';
      return `Grant ${grant.id} is pending: waiting for ${who} (rule ${grant.rule}); the request lapses at ${grant.approvalDeadline}. Approval is a human decision and may take a while: check grant_status later; do not request again in a loop.`;
    }
    default:
      return `Grant ${grant.id} is ${grant.status}. Request a new grant if you still need access.`;
  }
}

export function ok(text: string, structuredContent: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent };
}

/** Database content: structured, fenced and marked as untrusted in `_meta`. */
export function untrusted(text: string, structuredContent: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: fenceUntrusted(text), _meta: UNTRUSTED_META }],
    structuredContent,
    _meta: UNTRUSTED_META,
  };
}

/** A failure as a tool error: the API's code and message, and its error body as structured content. */
export function toolError(thrown: unknown): CallToolResult {
  const presented = presentError(thrown);
  if (presented.severity === 'error') {
    const cause = presented.cause ?? thrown;
    console.error(
      `[airlock] POST /mcp tool: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`,
    );
  }
  const { error } = presented;
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    structuredContent: presented.body,
  };
}

/** Every tool result or failure goes through here: an AirlockError becomes a tool error with the API's code. */
export const guarded =
  <A>(handler: (args: A) => Promise<CallToolResult>) =>
  async (args: A): Promise<CallToolResult> => {
    try {
      return await handler(args);
    } catch (error) {
      return toolError(error);
    }
  };
