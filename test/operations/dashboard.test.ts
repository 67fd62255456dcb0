/**
 * The dashboard (GET /_ui/) in a real browser: Debian's Chromium, headless, driven by playwright-core, against a
 * real broker with an admin key and entries written by the real bpclient. It signs in, finds the entry, watches
 * it change after an Update, and saves the screenshot that docs/ and the README show. Needs /usr/bin/chromium
 * (.ci/run installs it): without it the test fails, saying so.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { bpclient } from '../bpclient/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_KEY = 'dash-key-51c0e2';
const EXTENSION = `export function Hello() { return 'hello'; }
export function Boom() { throw new Error('database unreachable'); }
`;
// Digits a parse would round, a trailing zero and a member order the broker keeps as written.
const DATA = '{"ip":"10.0.0.7","port":8080,"serial":12345678901234567890,"weight":1.50}';

let b: RunningBroker;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`The dashboard test drives ${CHROMIUM} (Debian's chromium package; .ci/run installs it): it is missing`);
  const home = tempDir();
  mkdirSync(join(home, 'etc'));
  mkdirSync(join(home, 'lib'));
  writeFileSync(join(home, 'lib', 'inventory.mjs'), EXTENSION);
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ api: { admin_key: ADMIN_KEY }, inventory: {} }));
  b = await startBroker({ home });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await b?.stop();
  if (b) removeDir(b.home);
});

const client = (...args: string[]) => bpclient(['-b', `127.0.0.1:${b.port}`, ...args]);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The key the page keeps for this tab (evaluated in the page, which has a DOM). */
function storedKey(page: Page): Promise<string | null> {
  return page.evaluate("sessionStorage.getItem('bpbroker.adminKey')");
}

/** The text of the entry's row cell, or '' while the row is not shown. */
function cell(page: Page, name: string, column: 'revision' | 'data'): Promise<string> {
  return page.locator(`#entries tr[data-name="${name}"] td.${column}`).innerText({ timeout: 10_000 });
}

it('answers its JSON only with the admin key, and its page (the sign-in form) to anyone', async () => {
  const page = await call(b.port, '/_ui/', { method: 'GET' });
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.headers['content-security-policy']).toContain("default-src 'self'");
  const noKey = await call(b.port, '/_ui/api/status', { method: 'GET' });
  expect(noKey.status).toBe(401);
  expect(noKey.headers['www-authenticate']).toMatch(/^Bearer /);
  const wrong = await call(b.port, '/_ui/api/entries?prefix=', { method: 'GET', headers: { Authorization: 'Bearer nope' } });
  expect(wrong.status).toBe(403);
  expect(wrong.json.message).toBe('Incorrect admin key');
  const status = await call(b.port, '/_ui/api/status', { method: 'GET', headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
  expect(status.status).toBe(200);
  expect(status.json).toMatchObject({ version: expect.any(String), port: b.port, grpcPort: b.port, config: join(b.home, 'etc', 'bpbroker.json') });
  expect(status.text).not.toContain(ADMIN_KEY);
  // A path under /_ui/ that names no file is a legacy call, as every other `/_` path.
  expect((await call(b.port, '/_ui/nothing', { method: 'GET' })).json.message).toBe('Unauthorized package');
});

it('signs in, finds an entry registered by bpclient, shows its data as stored, and follows an Update live', { timeout: 90_000 }, async () => {
  expect((await client('service', 'register', '-n', 'web1', '-d', DATA)).code).toBe(0);
  expect((await client('service', 'register', '-n', 'db1', '-d', '{"ip":"10.0.0.9","port":5432}')).code).toBe(0);
  // A failing extension call: the extension's last error and the broker's recent errors show it.
  const boom = await client('execute', '--method', 'inventory.Boom');
  expect(boom.code).toBe(1);

  const context = await browser!.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (err) => failures.push(err.message));
  await page.goto(`https://127.0.0.1:${b.port}/_ui/`);

  // Without a key: the sign-in form; a wrong key is refused and not kept.
  await page.locator('#login-form').waitFor({ state: 'visible' });
  await page.fill('#key', 'not-the-key');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'Incorrect admin key' }).waitFor();
  expect(await storedKey(page)).toBeNull();

  await page.fill('#key', ADMIN_KEY);
  await page.click('#login-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  expect(await storedKey(page)).toBe(ADMIN_KEY);
  expect(page.url()).toBe(`https://127.0.0.1:${b.port}/_ui/`);

  // Status, extensions and recent errors.
  expect(await page.locator('[data-card="ports"] .value').innerText()).toContain(String(b.port));
  expect(await page.locator('[data-card="config"] .value').innerText()).toBe(join(b.home, 'etc', 'bpbroker.json'));
  const ext = page.locator('#extensions tr[data-namespace="inventory"]');
  expect(await ext.innerText()).toMatch(/Boom, Hello/);
  expect(await ext.locator('td.error').innerText()).toContain('Boom: ');
  await page.locator('#errors li', { hasText: 'extension call failed' }).first().waitFor();

  // Search by prefix, then the entry's data exactly as stored.
  await page.fill('#prefix', 'web');
  await page.click('#search button[type=submit]');
  await page.locator('#entries tr[data-name="db1"]').waitFor({ state: 'detached' });
  expect(await cell(page, 'web1', 'revision')).toBe('1');
  expect(await cell(page, 'web1', 'data')).toMatch(new RegExp(`^${escapeRegExp(DATA.slice(0, -1))},"last_write_ip":"127\\.0\\.0\\.1","last_write_ts":\\d+}$`));
  await page.click('#entries tr[data-name="web1"]');
  const detail = page.locator('#detail-data');
  expect(await detail.innerText()).toContain('"serial": 12345678901234567890,\n  "weight": 1.50');

  // An Update through bpclient reaches the page by itself.
  expect((await client('service', 'update', '-n', 'web1', '-d', '{"port":9090,"status":"draining"}')).code).toBe(0);
  await page.locator('#entries tr[data-name="web1"][data-revision="3"]').waitFor({ timeout: 15_000 });
  expect(await cell(page, 'web1', 'data')).toContain('"port":9090,"serial":12345678901234567890,"weight":1.50,"status":"draining","last_write_ip"');
  await page.locator('#detail[data-revision="3"]').waitFor();
  expect(await detail.innerText()).toContain('"status": "draining"');

  await page.fill('#prefix', '');
  await page.click('#search button[type=submit]');
  await page.locator('#entries tr[data-name="db1"]').waitFor();
  await page.click('#entries tr[data-name="web1"]');
  // The README's picture comes from here: UPDATE_SCREENSHOT=1 writes it into docs/ (otherwise the tree stays clean).
  const shot = await page.screenshot({ fullPage: true, ...(process.env.UPDATE_SCREENSHOT === '1' ? { path: join(ROOT, 'docs', 'dashboard.png') } : {}) });
  expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');

  // Signing out forgets the key.
  await page.click('#logout');
  await page.locator('#login-form').waitFor({ state: 'visible' });
  expect(await storedKey(page)).toBeNull();
  expect(failures).toEqual([]);
  await context.close();
});
