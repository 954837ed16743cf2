// /v1/approvals/{token}: the approver's confirmation page (GET, changes nothing) and decision (POST).
// Answers are HTML pages, errors included, always with the no-referrer / no-store / strict CSP headers.

import { z } from '@hono/zod-openapi';
import {
  type ApprovalDecisions,
  approvalsGiven,
  confirmPage,
  DecisionForm,
  type DecisionOutcome,
  PAGE_HEADERS,
  refusalPage,
  resultPage,
} from '../approvals/index.ts';
import { AirlockError } from '../errors.ts';
import { noteError } from '../observe/index.ts';
import { type AirlockApp, documentedRoute, type Routes } from './app.ts';
import { presentError } from './present.ts';

const REFUSAL_TITLES: Partial<Record<number, string>> = {
  400: 'This link or form is not valid',
  403: 'You cannot decide on this request',
  404: 'Not found',
  410: 'This link can no longer be used',
  413: 'The form is too large',
};

function page(status: number, html: string): Response {
  return new Response(html, { status, headers: PAGE_HEADERS });
}

function refusal(cause: unknown): Response {
  const presented = presentError(cause);
  noteError(presented.error.code, presented.severity === 'error' ? (presented.cause ?? cause) : undefined);
  if (presented.severity === 'error') {
    const message =
      presented.error.code === 'unavailable'
        ? presented.error.message
        : 'Something went wrong; nothing was decided. Try the link again later.';
    return page(presented.status, refusalPage('Airlock could not complete this', message));
  }
  return page(presented.status, refusalPage(REFUSAL_TITLES[presented.status] ?? 'Refused', presented.error.message));
}

function outcomePage(result: DecisionOutcome): Response {
  const { request } = result;
  switch (result.outcome) {
    case 'recorded':
      return page(
        200,
        resultPage(
          'Approval recorded',
          `Your approval is recorded: ${approvalsGiven(request)} of ${request.required} needed. The others have their own links.`,
          request,
        ),
      );
    case 'denied':
      return page(
        200,
        resultPage('Denied', `You denied this request; ${request.requester.subject} has been refused.`, request),
      );
    case 'approved':
      return page(
        200,
        resultPage(
          'Approved',
          result.grant
            ? `Approved: ${request.requester.subject} now has ${request.access} access to ${request.connection} until ${result.grant.expiresAt ?? ''}.`
            : `Approved: ${request.requester.subject} may now run this exact statement once, by sending it again.`,
          request,
        ),
      );
  }
}

async function readForm(request: Request): Promise<DecisionForm> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type.trim())) {
    throw new AirlockError('invalid_request', 'expected a form submission');
  }
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new AirlockError('invalid_request', 'the form could not be read');
  }
  const field = (name: string) => {
    const value = form.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const parsed = DecisionForm.safeParse({
    decision: field('decision'),
    reason: field('reason'),
    confirm: field('confirm'),
  });
  if (!parsed.success)
    throw new AirlockError(
      'invalid_request',
      'choose Approve or Deny, type the code shown on the page, and keep the reason under 500 characters; nothing was decided',
    );
  return parsed.data;
}

const Token = z.object({ token: z.string().meta({ description: 'The signed link token from the email.' }) });
const Html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
const PAGE_RESPONSES = {
  400: Html('The link or the form is not valid (a page)'),
  403: Html('Not an approver of this request, or the requester (a page)'),
  410: Html('Used, decided or expired (a page)'),
};

export function approvalRoutes(options: {
  decisions: ApprovalDecisions;
  /** The deployment serves /console: the page points signed-in approvers there. */
  console?: boolean;
}): Routes {
  const { decisions } = options;
  return (app: AirlockApp) => {
    documentedRoute(
      app,
      {
        method: 'get',
        path: '/v1/approvals/{token}',
        operationId: 'approvalPage',
        summary: 'The confirmation page of an emailed approval link; changes nothing',
        tags: ['approvals'],
        security: [],
        request: { params: Token },
        responses: { 200: Html('The confirmation page'), ...PAGE_RESPONSES },
      },
      async (c) => {
        try {
          const view = await decisions.view(c.req.param('token') ?? '');
          return page(200, confirmPage(view.request, view.approver, view.code, options.console ?? false));
        } catch (error) {
          return refusal(error);
        }
      },
    );

    documentedRoute(
      app,
      {
        method: 'post',
        path: '/v1/approvals/{token}',
        operationId: 'approvalDecide',
        summary: 'Decide: approve or deny, with the code shown on the page',
        tags: ['approvals'],
        security: [],
        request: {
          params: Token,
          body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: DecisionForm } } },
        },
        responses: { 200: Html('The result page'), ...PAGE_RESPONSES },
      },
      async (c) => {
        try {
          const form = await readForm(c.req.raw);
          return outcomePage(await decisions.decide(c.req.param('token') ?? '', form));
        } catch (error) {
          return refusal(error);
        }
      },
    );
  };
}
