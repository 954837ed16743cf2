import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { grantOf, grantRef, linkFor, requestWrite } from '../approvals/support.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { openGrant, query } from '../support/stack.ts';
import { APPROVER, CONSOLE_POLICY, OPERATOR, type Person } from './support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/console/', import.meta.url));

let stack: TestAirlock;
let browser: Browser;
let operatorToken: string;

beforeAll(async () => {
  // Fail, never skip: CI installs it with `apt-get install -y chromium`.
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get update && apt-get install -y chromium) to run the browser test`,
    );
  await mkdir(ARTIFACTS, { recursive: true });
  stack = await startTestAirlock({ policyText: CONSOLE_POLICY });
  operatorToken = await stack.token(OPERATOR.sub, OPERATOR.groups, { email: OPERATOR.email! });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await stack?.airlock.sweep();
  await stack?.close();
});

/** Every console page, at a phone's width and a desktop's. */
async function shoot(page: Page, name: string): Promise<void> {
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    await page.screenshot({ path: `${ARTIFACTS}${name}-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** A browser of its own for one person; script errors and CSP violations are collected. */
async function personBrowser(problems: string[]) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  page.on('pageerror', (error) => problems.push(error.message));
  return { context, page };
}

async function signInAs(page: Page, person: Person, shots = false): Promise<void> {
  await page.goto(`${stack.baseUrl}/console`);
  if (shots) await shoot(page, 'sign-in');
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.waitForURL(/\/dev\/authorize/);
  await page.getByLabel('Subject').fill(person.sub);
  await page.getByLabel('Groups (comma-separated)').fill((person.groups ?? []).join(','));
  await page.getByLabel('Email').fill(person.email ?? '');
  if (shots) await shoot(page, 'dev-authorize');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/(grants|approvals)/);
  await expect.poll(() => page.locator('header .who').textContent()).toContain(person.sub);
}

async function adminGrant(id: string) {
  const response = await stack.call('GET', '/v1/admin/grants?limit=500', { token: operatorToken });
  return (response.body.grants as Array<{ id: string; status: string; decisions: Array<{ by: string }> }>).find(
    (grant) => grant.id === id,
  );
}

it('an operator signs in, reads a grant story with its chain verified, revokes a grant, locks and lifts; an approver approves a pending write grant', {
  timeout: 90_000,
}, async () => {
  const started = performance.now();
  const told = await openGrant(stack, { access: 'read', reason: 'count the orders of March' });
  expect(
    (await query(stack, told.token, { sql: 'SELECT count(*) FROM orders WHERE total > $1', params: [10] })).status,
  ).toBe(200);
  const doomed = await openGrant(stack, { access: 'read', reason: 'look around' });
  const pending = await requestWrite(stack, { email: 'agent-owner@example.com', reason: 'fix the totals of order 42' });

  const problems: string[] = [];
  const operator = await personBrowser(problems);
  const page = operator.page;
  await signInAs(page, OPERATOR, true);

  // The grants list: every subject's grants, with the filter form.
  await expect.poll(() => page.locator('h1').textContent()).toBe('Grants');
  const rows = page.locator('tbody tr');
  await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(3);
  expect(await page.locator('table').textContent()).toContain('count the orders of March');
  // Times are shown in local time once the page's hashed script ran, with the UTC value on hover.
  const time = page.locator('time').first();
  expect(await time.getAttribute('title')).toMatch(/^UTC: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  expect(await time.textContent()).not.toContain('UTC');
  await shoot(page, 'grants');

  // A grant's story: its timeline and the chain verdict.
  await page.locator(`a[href="/console/grants/${told.id}"]`).click();
  await page.waitForURL(`**/console/grants/${told.id}`);
  await expect.poll(() => page.locator('.verdict').textContent()).toContain('Chain verified');
  const timeline = (await page.locator('ol.timeline').textContent()) ?? '';
  for (const text of ['Requested', 'Activated', 'executed', 'SELECT count(*) FROM orders WHERE total > $1', '1 row'])
    expect(timeline).toContain(text);
  await shoot(page, 'grant-story');
  const download = await page.request.get(`${stack.baseUrl}/console/grants/${told.id}/events.json`);
  expect(download.status()).toBe(200);
  expect(download.headers()['content-disposition']).toMatch(/^attachment;/);
  expect((await download.json()).verified).toBe(true);

  // Revoke another grant with a reason; the API shows it revoked, by the operator.
  await page.goto(`${stack.baseUrl}/console/grants/${doomed.id}`);
  await page.getByLabel('Reason (required)').fill('incident 7: rotating everything');
  await page.getByRole('button', { name: 'Revoke this grant' }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toContain('The grant is revoked');
  const revoked = await adminGrant(doomed.id);
  expect(revoked?.status).toBe('revoked');
  expect(revoked?.decisions.at(-1)?.by).toBe(OPERATOR.sub);

  // Lock a subject, then lift it; the API sees both.
  await page.getByRole('link', { name: 'Locks' }).click();
  await page.getByLabel('Subject').fill('agent:suspicious');
  await page.getByLabel('Ends after (optional, e.g. 30m, 2h)').fill('2h');
  await page.getByLabel('Reason (required)').fill('odd queries at 3am');
  await page.getByRole('button', { name: 'Create lock' }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toContain('The lock is in force');
  const locks = await stack.call('GET', '/v1/admin/locks', { token: operatorToken });
  expect(locks.body.locks).toEqual([
    expect.objectContaining({ subject: 'agent:suspicious', reason: 'odd queries at 3am' }),
  ]);
  const locked = await stack.call('POST', '/v1/grants', {
    token: await stack.token('agent:suspicious'),
    body: { connection: 'shop', access: 'read', ttl: 60, reason: 'try' },
  });
  expect(locked.body.error?.code).toBe('locked');
  await shoot(page, 'locks');
  await page.getByLabel('Reason for lifting (required)').fill('cleared by the owner');
  await page.getByRole('button', { name: 'Lift lock' }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toContain('The lock is lifted');
  expect((await stack.call('GET', '/v1/admin/locks', { token: operatorToken })).body.locks).toEqual([]);

  // The operator (no approver email) sees the pending request without buttons.
  await page.getByRole('link', { name: 'Approvals' }).click();
  expect(await page.locator('main').textContent()).toContain('fix the totals of order 42');
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);

  // An approver signs in on a phone and approves the pending write grant.
  const approver = await personBrowser(problems);
  await approver.page.setViewportSize({ width: 375, height: 812 });
  await signInAs(approver.page, APPROVER);
  await approver.page.waitForURL('**/console/approvals');
  const card = approver.page.getByRole('article', { name: 'write access to shop' });
  expect(await card.textContent()).toContain('agent-owner@example.com');
  await shoot(approver.page, 'approvals');
  await card.getByLabel('Reason (required)').fill('checked with the owner');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect.poll(() => approver.page.locator('.notice').textContent()).toContain('Your decision is recorded');
  const approved = await grantOf(stack, pending.grant.id, pending.identity);
  expect(approved.grant.status).toBe('active');
  expect(approved.grant.decisions[0]).toMatchObject({ by: APPROVER.email, decision: 'approved' });

  // Sign out: the next page asks to sign in again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect.poll(() => page.locator('main').textContent()).toContain('You are signed out.');
  await page.goto(`${stack.baseUrl}/console/grants`);
  expect(page.url()).toBe(`${stack.baseUrl}/console`);

  expect(problems).toEqual([]);
  console.log(`[measure] console browser walk: ${(performance.now() - started).toFixed(0)} ms`);
  await operator.context.close();
  await approver.context.close();
});

it('the approval link page, in the console look, at both widths', { timeout: 30_000 }, async () => {
  const { grant } = await requestWrite(stack, { email: 'agent-owner@example.com', reason: 'reconcile March totals' });
  const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
  const problems: string[] = [];
  const { context, page } = await personBrowser(problems);
  await page.goto(link);
  await expect.poll(() => page.title()).toContain('Approve write access to shop?');
  const details = (await page.locator('dl').textContent()) ?? '';
  expect(details).toContain('Already decided');
  expect(details).toContain('nobody yet');
  // The deadline is shown in local time (the hashed script ran), its UTC value on hover.
  expect(await page.locator('time').first().getAttribute('title')).toMatch(/^UTC: /);
  expect(await page.locator('time').first().textContent()).not.toContain('UTC');
  expect(await page.getByRole('link', { name: 'console' }).getAttribute('href')).toBe('/console/approvals');
  // At a phone's width, no value is broken inside a word: every line of the requester's cell ends at a word's end.
  await page.setViewportSize({ width: 375, height: 812 });
  const requester = page.locator('dd').first();
  const lines = await requester.evaluate((element) => {
    const range = document.createRange();
    range.selectNodeContents(element);
    return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
  });
  expect(lines).toBeLessThanOrEqual(2);
  await shoot(page, 'approval-link');
  expect(problems).toEqual([]);
  await context.close();
});
