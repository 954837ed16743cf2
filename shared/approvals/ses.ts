// The AWS mailer: one SES v2 SendEmail call per message, from the policy's `mail.from`.
// Must never fall back to another sender or swallow a failure: a hold nobody hears of is retried.

import { SendEmailCommand } from '@aws-sdk/client-sesv2';
import { unavailable } from '../errors.ts';
import { APPROVAL_LINK_HEADER, type Mailer } from './mailer.ts';

/** The one call this adapter makes; `SESv2Client` satisfies it, and tests pass a recorder. */
export interface SesSender {
  send(command: SendEmailCommand): Promise<unknown>;
}

export function createSesMailer(options: { client: SesSender; from: string }): Mailer {
  return {
    async send(message) {
      const command = new SendEmailCommand({
        FromEmailAddress: options.from,
        Destination: { ToAddresses: message.to },
        Content: {
          Simple: {
            Subject: { Data: message.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
            ...(message.link ? { Headers: [{ Name: APPROVAL_LINK_HEADER, Value: message.link }] } : {}),
          },
        },
      });
      try {
        await options.client.send(command);
      } catch (error) {
        throw unavailable('the mail service (SES)', error);
      }
    },
  };
}
