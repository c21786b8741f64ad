// Headless Debian Chromium (playwright-core) for the dashboard tests: the
// browser, pages that collect script errors (a CSP violation is one),
// sign-in, screenshots into $JSMCP_TEST_ARTIFACTS.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ART = process.env.JSMCP_TEST_ARTIFACTS || '/tmp';

export const chromiumMissing = () => (existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed`);

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page of a fresh context on origin, with page.errors: script errors and
// console errors (CSP refusals among them) other than failed loads.
export async function newPage(browser, origin, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The API's own 4xx answers are logged by the browser as failed loads: expected.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.errors = errors;
  return page;
}

export const shot = (page, name) => page.screenshot({ path: path.join(ART, `dashboard_${name}.png`), fullPage: true });

export async function signIn(page, origin, key) {
  await page.goto(`${origin}/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Workspace API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// The error shown for a form field: {invalid, text, focused}.
export async function errorOf(input) {
  return input.evaluate((el) => ({
    invalid: el.getAttribute('aria-invalid'),
    text: document.getElementById(el.getAttribute('aria-describedby').split(' ').pop()).textContent,
    focused: document.activeElement === el,
  }));
}
