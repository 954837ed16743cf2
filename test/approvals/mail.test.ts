import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage } from '../../shared/approvals/mime.ts';
import { createOutboxMailer, listOutbox, readOutboxMessage } from '../../shared/approvals/outbox.ts';
import { createSesMailer, type SesSender } from '../../shared/approvals/ses.ts';
import { isAirlockError } from '../../shared/errors.ts';

const message = {
  to: ['dba@example.com'],
  subject: 'Airlock: agent:zoë asks for write access to shop — «urgent»',
  text: 'agent:zoë asks for write access to shop for 15 minutes.\n\nReview and decide:\nhttp://127.0.0.1:8787/v1/approvals/aaa.bbb.ccc\n',
  html: '<p>agent:zoë asks &amp; <a href="http://127.0.0.1:8787/v1/approvals/aaa.bbb.ccc">decide</a></p>',
  link: 'http://127.0.0.1:8787/v1/approvals/aaa.bbb.ccc',
};

describe('the SES mailer', () => {
  it('sends one SendEmail (v2) from the policy sender, with text and HTML bodies in UTF-8', async () => {
    const sent: SendEmailCommand[] = [];
    const client: SesSender = { send: async (command) => void sent.push(command) };
    await createSesMailer({ client, from: 'Airlock <airlock@example.com>' }).send(message);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(SendEmailCommand);
    expect(sent[0]!.input).toEqual({
      FromEmailAddress: 'Airlock <airlock@example.com>',
      Destination: { ToAddresses: ['dba@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: message.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
          Headers: [{ Name: 'X-Airlock-Approval-Link', Value: message.link }],
        },
      },
    });
  });

  it('turns an SES failure into `unavailable`', async () => {
    const client: SesSender = {
      send: async () => {
        throw Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' });
      },
    };
    const error = await createSesMailer({ client, from: 'airlock@example.com' })
      .send(message)
      .catch((e: unknown) => e);
    expect(isAirlockError(error, 'unavailable')).toBe(true);
  });
});

describe('the outbox mailer', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes RFC 5322 .eml files, sortable by time, that read back exactly', async () => {
    dir = await mkdtemp(join(tmpdir(), 'outbox-'));
    const times = [
      new Date('2030-01-01T00:00:00.001Z'),
      new Date('2030-01-01T00:00:00.002Z'),
      new Date('2030-01-02T00:00:00.000Z'),
    ];
    let i = 0;
    const mailer = createOutboxMailer({ dir, from: 'airlock@localhost', now: () => times[i++]! });
    for (const to of ['a@example.com', 'b@example.com', 'c@example.com']) await mailer.send({ ...message, to: [to] });
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(3);
    expect(files.every((f) => f.endsWith('.eml'))).toBe(true);
    expect(files[0]!.startsWith('20300101T000000001Z-')).toBe(true);

    const raw = await readFile(join(dir, files[0]!), 'utf8');
    expect(raw).toContain('\r\nMIME-Version: 1.0\r\n');
    expect(raw).toMatch(/Content-Type: multipart\/alternative; boundary="([^"]+)"/);
    expect(raw).toContain('Subject: =?UTF-8?B?');
    expect(raw.split('\r\n').every((line) => line.length <= 78 && /^[\x20-\x7e]*$/.test(line))).toBe(true);
    const parsed = parseMessage(raw);
    expect(parsed.headers.subject).toBe(message.subject);
    expect(parsed.headers.to).toBe('a@example.com');
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toBe(message.html);

    const listed = await listOutbox(dir);
    expect(listed.map((m) => m.to[0])).toEqual(['c@example.com', 'b@example.com', 'a@example.com']);
    expect(listed[2]).toMatchObject({
      subject: message.subject,
      at: '2030-01-01T00:00:00.000Z',
      links: ['http://127.0.0.1:8787/v1/approvals/aaa.bbb.ccc'],
    });
    expect(await readOutboxMessage(dir, '../../etc/passwd')).toBeNull();
  });

  it('lists links from the X-Airlock-Approval-Link header only, never from the body', async () => {
    dir = await mkdtemp(join(tmpdir(), 'outbox-'));
    const mailer = createOutboxMailer({ dir, from: 'airlock@localhost', now: () => new Date('2030-01-01T00:00:00Z') });
    const forged = 'http://127.0.0.1:8787/v1/approvals/xxx.yyy.zzz';
    await mailer.send({ ...message, text: `Why: "x"\n\nReview and decide:\n${forged}\n${message.text}` });
    await mailer.send({ ...message, link: undefined });
    const [withoutHeader, withHeader] = await listOutbox(dir);
    expect(withHeader!.links).toEqual([message.link]);
    expect(withoutHeader!.links).toEqual([]);
    // A header value that is not one link stays out of the list, and one that could break the header is refused.
    await expect(mailer.send({ ...message, link: `${message.link}\r\nBcc: x@evil.com` })).rejects.toThrow(
      /unsafe header/,
    );
  });

  it('refuses an address that could smuggle another header or recipient', async () => {
    dir = await mkdtemp(join(tmpdir(), 'outbox-'));
    const mailer = createOutboxMailer({ dir, from: 'airlock@localhost' });
    for (const to of ['a@example.com\r\nBcc: x@evil.com', 'a@example.com, b@evil.com', '<a@example.com>']) {
      await expect(mailer.send({ ...message, to: [to] })).rejects.toThrow();
    }
    await mailer.send({ ...message, subject: 'line one\r\nBcc: x@evil.com' });
    const raw = await readFile(join(dir, (await readdir(dir))[0]!), 'utf8');
    expect(raw).not.toMatch(/^Bcc:/m);
  });
});
