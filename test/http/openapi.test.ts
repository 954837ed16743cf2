// The published OpenAPI document: generated from the routes, every route and error described, and clean under
// Redocly's recommended rules (the linter the document is checked with in CI).

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../shared/errors.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';

const run = promisify(execFile);
let stack: TestAirlock;
let document: any;

beforeAll(async () => {
  stack = await startTestAirlock();
  document = (await stack.call('GET', '/openapi.json')).body;
});
afterAll(() => stack.close());

describe('the OpenAPI document', () => {
  it('passes redocly lint with no errors and no warnings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      await writeFile(file, JSON.stringify(document));
      const result = await run('npx', ['redocly', 'lint', file, '--format', 'json', '--config', 'redocly.yaml'], {
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
      const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as {
        totals: { errors: number; warnings: number };
        problems: Array<{ ruleId: string; message: string; location: Array<{ pointer: string }> }>;
      };
      const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
      expect(problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names every operation, marks public routes as public, and lists every route the app serves', () => {
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods as Record<string, any>).map(([method, op]) => ({ path, method, op })),
    );
    for (const { op } of operations) {
      expect(op.operationId).toMatch(/^[a-zA-Z]+$/);
      expect(Array.isArray(op.security)).toBe(true);
    }
    const routes = operations.map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /openapi.json',
        'GET /.well-known/jwks.json',
        'GET /.well-known/oauth-protected-resource',
        'POST /v1/grants',
        'GET /v1/grants',
        'GET /v1/grants/{id}',
        'DELETE /v1/grants/{id}',
        'GET /v1/grants/{id}/audit',
        'POST /v1/query',
        'GET /v1/approvals/{token}',
        'POST /v1/approvals/{token}',
        'POST /mcp',
        'POST /dev/token',
        'GET /dev/jwks.json',
        'GET /dev/outbox',
      ]),
    );
  });

  it('describes the error body once, with every error code', () => {
    expect(document.components.schemas.Error.properties.error.properties.code).toEqual({
      $ref: '#/components/schemas/ErrorCode',
    });
    expect(document.components.schemas.ErrorCode.enum).toEqual([...ERROR_CODES]);
    const query = document.paths['/v1/query'].post.responses;
    expect(Object.keys(query)).toEqual(
      expect.arrayContaining(['200', '202', '400', '401', '403', '404', '409', '500', '503']),
    );
    expect(query['202'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/HeldStatement' });
  });
});
