// `auditExport` in the policy: validated like the rest of the file, each mistake named by its path.

import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { sinkName } from '../../shared/policy/schema.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';

const withSinks = (lines: string) => `${DEMO_POLICY_TEXT}\nauditExport:\n  sinks:\n${lines}`;

function refusal(text: string): string {
  try {
    parsePolicyText(text, 'policy.yaml');
  } catch (error) {
    expect(isAirlockError(error, 'invalid_config')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('the policy was accepted');
}

describe('auditExport in the policy', () => {
  it('defaults to no sinks, and reads webhook and file sinks with their defaults', () => {
    expect(parsePolicyText(DEMO_POLICY_TEXT, 'demo').auditExport).toEqual({ sinks: [] });
    const policy = parsePolicyText(
      withSinks(
        [
          '    - { type: webhook, url: "https://siem.example.com/in?channel=a", secret: airlock/export/siem }',
          '    - { type: webhook, name: lake, url: "https://lake.example.com/", secret: airlock/export/lake, format: ocsf, batchSize: 500 }',
          '    - { type: file, path: audit.jsonl }',
        ].join('\n'),
      ),
      'policy.yaml',
    );
    expect(policy.auditExport.sinks).toEqual([
      {
        type: 'webhook',
        url: 'https://siem.example.com/in?channel=a',
        secret: 'airlock/export/siem',
        format: 'airlock',
        batchSize: 100,
      },
      {
        type: 'webhook',
        name: 'lake',
        url: 'https://lake.example.com/',
        secret: 'airlock/export/lake',
        format: 'ocsf',
        batchSize: 500,
      },
      { type: 'file', path: 'audit.jsonl', format: 'airlock' },
    ]);
    // An unnamed sink is named by a hash of its target: its URL (and any key in it) never shows in a log.
    expect(sinkName(policy.auditExport.sinks[0]!)).toMatch(/^webhook-[0-9a-f]{8}$/);
    expect(sinkName(policy.auditExport.sinks[1]!)).toBe('lake');
  });

  it.each([
    [
      'plain http to another host',
      '{ type: webhook, url: "http://siem.example.com/in", secret: s }',
      /sinks\[0\]\.url: expected https/,
    ],
    [
      'credentials in the URL',
      '{ type: webhook, url: "https://user:pw@siem.example.com/", secret: s }',
      /no credentials in the URL/,
    ],
    ['no secret', '{ type: webhook, url: "https://siem.example.com/" }', /sinks\[0\]\.secret/],
    [
      'an unknown format',
      '{ type: webhook, url: "https://siem.example.com/", secret: s, format: cef }',
      /sinks\[0\]\.format/,
    ],
    ['an unknown type', '{ type: kafka, topic: audit }', /sinks\[0\]/],
    [
      'a connection admin secret as the webhook secret',
      '{ type: webhook, url: "https://siem.example.com/", secret: airlock/shop/admin }',
      /admin secret/,
    ],
    ['an unknown field', '{ type: file, path: a.jsonl, mode: 0644 }', /sinks\[0\]/],
  ])('refuses %s, naming the path', (_name, sink, message) => {
    expect(refusal(withSinks(`    - ${sink}`))).toMatch(message);
  });

  it('refuses two sinks with one name (their cursors would be one)', () => {
    expect(
      refusal(
        withSinks(
          '    - { type: file, name: audit, path: a.jsonl }\n    - { type: webhook, name: audit, url: "https://x.example.com/", secret: s }',
        ),
      ),
    ).toMatch(/auditExport\.sinks\[1\]\.name: sink "audit" is already sinks\[0\]/);
  });

  it('allows plain http to localhost, for a receiver on the same machine', () => {
    const policy = parsePolicyText(
      withSinks('    - { type: webhook, url: "http://127.0.0.1:9000/hook", secret: s }'),
      'policy.yaml',
    );
    expect(policy.auditExport.sinks).toHaveLength(1);
  });
});
