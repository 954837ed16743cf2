// What Airlock needs from an email service: send one short message, text and HTML, to some people.
// Must never be given a secret to put in a message beyond the approver's own link.

import { AirlockError } from '../errors.ts';

export interface MailMessage {
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** The approver's own decision link, also sent as the `X-Airlock-Approval-Link` header (tools read it there, never from the body). */
  link?: string;
}

export const APPROVAL_LINK_HEADER = 'X-Airlock-Approval-Link';

export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

/** For a deployment that was given no mailer: opening an approval request fails closed, loudly. */
export const missingMailer: Mailer = {
  async send() {
    throw new AirlockError(
      'unavailable',
      'no mailer is configured, so approval emails cannot be sent; nothing was run',
    );
  },
};
