// The approvals module's public surface: requests (grant notifier, statement gate), decisions by link or
// signed in, the pages, and the mailers. Must never export a way to decide without a link and its code or
// an approver's verified identity.

export { distinctMailboxes, mailbox, sameMailbox } from './address.ts';
export type {
  ApprovalDecisions,
  ApprovalDecisionsOptions,
  ApprovalView,
  DecisionOutcome,
  SignedInApprover,
  SignedInDecision,
} from './decisions.ts';
export { createApprovalDecisions, DecisionForm } from './decisions.ts';
export { APPROVAL_LINK_AUDIENCE, APPROVAL_LINK_TYPE, signApprovalLink, verifyApprovalLink } from './link.ts';
export type { Mailer, MailMessage } from './mailer.ts';
export { missingMailer } from './mailer.ts';
export { parseMessage } from './mime.ts';
export { ApprovalRequest, approvalRef, approvalsGiven, parseApprovalRef } from './model.ts';
export type { OutboxEntry, OutboxMessage } from './outbox.ts';
export { createOutboxMailer, listOutbox, readOutboxMessage } from './outbox.ts';
export {
  confirmPage,
  escapeHtml,
  htmlPage,
  LOCAL_TIME_SCRIPT,
  PAGE_HEADERS,
  refusalPage,
  requestTitle,
  resultPage,
} from './page.ts';
export type { ApprovalRequests, ApprovalRequestsOptions } from './requests.ts';
export { createApprovalRequests } from './requests.ts';
export type { SesSender } from './ses.ts';
export { createSesMailer } from './ses.ts';
export type { ApprovalStore } from './store.ts';
export { createApprovalStore } from './store.ts';
