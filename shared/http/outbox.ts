// Local mode only: GET /dev/outbox lists the emails Airlock wrote (JSON, or HTML for a browser) and
// GET /dev/outbox/{id} shows one. Never mounted in AWS; it reads only the outbox folder.

import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  escapeHtml,
  htmlPage,
  listOutbox,
  type OutboxMessage,
  PAGE_HEADERS,
  readOutboxMessage,
} from '../approvals/index.ts';
import { AirlockError } from '../errors.ts';
import { documentedRoute, errorResponses, type Routes } from './app.ts';

const wantsHtml = (c: Context) => /\btext\/html\b/i.test(c.req.header('accept') ?? '');

function html(body: string): Response {
  return new Response(body, { status: 200, headers: PAGE_HEADERS });
}

function messagePage(message: OutboxMessage): string {
  const links = message.links
    .map((link) => `<li><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></li>`)
    .join('\n');
  return htmlPage(
    message.subject || '(no subject)',
    `<dl>
<dt>To</dt><dd>${escapeHtml(message.to.join(', '))}</dd>
<dt>Sent</dt><dd>${escapeHtml(message.at)}</dd>
</dl>
<pre>${escapeHtml(message.text)}</pre>
<h2>Links</h2>
<ul>
${links || '<li>(none)</li>'}
</ul>
<p><a href="/dev/outbox">All messages</a></p>`,
  );
}

const Listing = {
  description: 'JSON by default; an HTML page when the request accepts text/html',
  content: {
    'application/json': { schema: z.object({ messages: z.array(z.record(z.string(), z.unknown())) }) },
    'text/html': { schema: z.string() },
  },
};

export function outboxRoutes(options: { dir: string }): Routes {
  return (app) => {
    documentedRoute(
      app,
      {
        method: 'get',
        path: '/dev/outbox',
        operationId: 'devOutbox',
        summary: 'Local stack only: the emails Airlock wrote, newest first',
        tags: ['local'],
        security: [],
        responses: { 200: Listing },
      },
      async (c) => {
        const messages = await listOutbox(options.dir);
        if (!wantsHtml(c)) return c.json({ messages });
        const items = messages
          .map(
            (m) =>
              `<li><a href="/dev/outbox/${escapeHtml(m.id)}">${escapeHtml(m.subject || '(no subject)')}</a> — to ${escapeHtml(m.to.join(', '))}, ${escapeHtml(m.at)}</li>`,
          )
          .join('\n');
        return html(
          htmlPage(
            'Outbox',
            `<p>${messages.length} message${messages.length === 1 ? '' : 's'}, newest first.</p>\n<ul>\n${items}\n</ul>`,
          ),
        );
      },
    );

    documentedRoute(
      app,
      {
        method: 'get',
        path: '/dev/outbox/{id}',
        operationId: 'devOutboxMessage',
        summary: 'Local stack only: one email, with its links',
        tags: ['local'],
        security: [],
        request: { params: z.object({ id: z.string() }) },
        responses: { 200: Listing, ...errorResponses(404) },
      },
      async (c) => {
        const message = await readOutboxMessage(options.dir, c.req.param('id') ?? '');
        if (!message) throw new AirlockError('not_found', 'no such message in the outbox');
        return wantsHtml(c) ? html(messagePage(message)) : c.json({ message });
      },
    );
  };
}
