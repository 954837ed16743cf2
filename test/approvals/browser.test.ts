import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { launchChromium } from '../support/browser.ts';
import { grantOf, grantRef, linkFor, requestWrite } from './support.ts';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

let stack: TestAirlock;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestAirlock();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stack?.airlock.sweep();
  await stack?.close();
});

it('an approver opens the emailed link in a real browser, reads the details, types the code and approves: the grant becomes active', {
  timeout: 60_000,
}, async () => {
  const { grant, identity } = await requestWrite(stack, {
    email: 'agent-owner@example.com',
    reason: 'reconcile <totals> for March',
  });
  const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');

  const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  page.on('pageerror', (error) => problems.push(error.message));

  const response = await page.goto(link);
  expect(response?.status()).toBe(200);
  expect(await page.getAttribute('html', 'lang')).toBe('en');
  await expect.poll(() => page.title()).toContain('Approve write access to shop?');
  const details = await page.locator('dl').textContent();
  for (const text of [
    'agent-owner@example.com',
    'shop',
    'write',
    '10 minutes',
    'reconcile <totals> for March',
    'agents-write',
  ])
    expect(details).toContain(text);
  // The inline style is allowed by its CSP hash: the page is laid out, not raw.
  expect(await page.locator('main').evaluate((main) => getComputedStyle(main).maxWidth)).not.toBe('none');

  const code = ((await page.locator('.code').textContent()) ?? '').trim();
  expect(code).toMatch(/^[0-9A-Z]{6}$/);
  await page.getByLabel('Confirmation code').fill(code);
  await page.getByLabel('Reason (optional)').fill('looked fine');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}approval.png`, fullPage: true });

  const started = performance.now();
  await Promise.all([
    page.waitForURL(link, { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Approve' }).click(),
  ]);
  await expect.poll(() => page.locator('h1').textContent()).toBe('Approved');
  const clickToPageMs = performance.now() - started;
  await page.screenshot({ path: `${ARTIFACTS}approval-result.png`, fullPage: true });

  const after = await grantOf(stack, grant.id, identity);
  console.log(`[measure] browser: click Approve → result page ${clickToPageMs.toFixed(0)} ms`);
  expect(after.grant.status).toBe('active');
  expect(typeof after.token).toBe('string');
  expect(after.grant.decisions[0]).toMatchObject({
    by: 'oncall@example.com',
    decision: 'approved',
    reason: 'looked fine',
  });
  expect(problems).toEqual([]);
  await context.close();
});
