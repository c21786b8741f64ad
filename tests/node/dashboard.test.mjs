// The operator's dashboard (api/web, served by jsmcp-api) in headless
// Debian Chromium driven by playwright-core, against the real stack
// (PostgreSQL, Redis, sandbox, admin API, worker): sign in, connect an
// account, set its pacing, create a server, copy its URL and use it with
// the MCP SDK client, revoke it; phone width; keyboard-only sign-in; the static files'
// security headers. Screenshots go to $JSMCP_TEST_ARTIFACTS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { chromiumMissing, errorOf, launch, newPage as openPage, shot, signIn as signInAt } from './lib/dashboard.mjs';
import { close, connect, listAllTools } from './lib/mcp_client.mjs';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

const TOOL = 'get_single_jira_service_management_issue_by_id';
requireStack();

let s;
let browser;
before(async () => {
  s = await startStack({ workers: 1 });
});

// The browser, launched by the first test that needs one (the static-file
// test needs none, so it runs and fails on its own merits without Chromium).
// Chromium is installed by scripts/install-deps.sh: without it these fail.
async function launched() {
  if (!browser) {
    assert.equal(chromiumMissing(), null, 'scripts/install-deps.sh installs Chromium');
    browser = await launch();
  }
  return browser;
}
after(async () => {
  await browser?.close();
  if (!s) return;
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

const newPage = async (viewport) => openPage(await launched(), s.apiUrl, viewport);
const signIn = (page, key = s.key) => signInAt(page, s.apiUrl, key);

test('static files: content types, CSP without inline script, nosniff, referrer policy, ETag revalidation', async () => {
  const r = await fetch(`${s.apiUrl}/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'no unsafe-inline for scripts');
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const again1 = await fetch(`${s.apiUrl}/`);
  assert.equal(again1.headers.get('etag'), etag, 'the same tag every time');
  const again = await fetch(`${s.apiUrl}/`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await again.text()).length, 0);

  const js = await fetch(`${s.apiUrl}/ui/app.js`);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.notEqual(js.headers.get('etag'), etag);
  const css = await fetch(`${s.apiUrl}/ui/app.css`);
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
  assert.equal((await fetch(`${s.apiUrl}/ui/`)).headers.get('etag'), etag, '/ui/ is the page too');
  for (const p of ['/ui/nope.js', '/ui/..%2f..%2fMakefile', '/ui/web/app.js']) {
    const x = await fetch(`${s.apiUrl}${p}`);
    assert.equal(x.status, 404, p);
    assert.equal(x.headers.get('x-content-type-options'), 'nosniff');
  }
  // The page needs no key; the API behind it still does.
  assert.equal((await fetch(`${s.apiUrl}/integrated-account`)).status, 401);
});

test('sign in, connect an account, create a server, copy its URL, use it with the MCP SDK, see its calls, revoke it', async () => {
  const page = await newPage();
  // A wrong key: refused in place, next to the field.
  await signIn(page, 'jsk_not-a-real-key');
  const keyInput = page.getByLabel('Workspace API key');
  await page.getByText('This key was not accepted').waitFor();
  assert.deepEqual(await errorOf(keyInput), { invalid: 'true', text: await page.getByText('This key was not accepted').textContent(), focused: true });
  await keyInput.fill(s.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Integrated accounts' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('jsmcp.apiKey')), s.key, 'key in sessionStorage');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  await page.getByRole('link', { name: 'cust-1' }).waitFor(); // the stack's own account is listed

  // Connect with an API token; a site outside the allowlist is refused next to the Site URL field.
  await page.getByText('With an API token').click();
  const form = page.getByRole('form', { name: 'Connect with an API token' });
  await form.getByLabel('Tenant ID').fill('dash-1');
  await form.getByLabel('Site URL').fill('https://evil.example.com');
  await form.getByLabel('Atlassian account email').fill('agent@sandbox.test');
  await form.getByLabel('API token').fill('sandbox-api-token');
  await form.getByRole('button', { name: 'Connect with API token' }).click();
  const site = form.getByLabel('Site URL');
  await page.waitForFunction(() => document.querySelector('input[name=site_url][aria-invalid=true]'));
  const siteErr = await errorOf(site);
  assert.ok(siteErr.text.length > 10 && siteErr.focused, JSON.stringify(siteErr));
  await shot(page, 'field_error');
  await site.fill(s.sandboxUrl);
  await form.getByRole('button', { name: 'Connect with API token' }).click();
  await page.getByRole('heading', { name: 'dash-1' }).waitFor();
  await page.getByText('No MCP servers yet.').waitFor();

  // The account's pacing: a bad rule is refused next to the field, a good one
  // is saved (the API has it), an empty field goes back to the default.
  await page.getByText('Pacing: the default of its credential type').click();
  const paceForm = page.getByRole('form', { name: 'Pacing' });
  const paceInput = paceForm.getByLabel('Pacing of calls to JSM');
  await paceInput.fill('10/h');
  await paceForm.getByRole('button', { name: 'Save pacing' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=pace][aria-invalid=true]'));
  const paceErr = await errorOf(paceInput);
  assert.match(paceErr.text, /pacing rule "10\/h"/, JSON.stringify(paceErr));
  await paceInput.fill('5/s burst 8');
  await paceForm.getByRole('button', { name: 'Save pacing' }).click();
  await page.getByText('Pacing: 5/s burst 8').waitFor();
  const acctId = decodeURIComponent(new URL(page.url()).hash).split('/').pop();
  const saved = await fetch(`${s.apiUrl}/integrated-account/${acctId}`, { headers: { Authorization: `Bearer ${s.key}` } });
  assert.equal((await saved.json()).pace, '5/s burst 8');
  await paceInput.fill('');
  await paceForm.getByRole('button', { name: 'Save pacing' }).click();
  await page.getByText('Pacing: the default of its credential type').waitFor();
  await shot(page, 'pacing');

  // Create form: the preview of the tools the filters leave (GET /tools).
  const create = page.getByRole('form', { name: 'Create MCP server' });
  await create.getByLabel('Name', { exact: true }).fill('claude');
  await create.getByLabel('Tags').fill('issues');
  // The preview refreshes 200 ms after the last input: wait for the count of
  // these filters (the API's own answer), not one left from the form's defaults.
  const want = await fetch(`${s.apiUrl}/tools?methods=read&tags=issues`, { headers: { Authorization: `Bearer ${s.key}` } });
  assert.equal(want.status, 200, 'GET /tools');
  const wantCount = String((await want.json()).count);
  const preview = page.locator(`#tool-preview [data-count="${wantCount}"]`);
  await preview.waitFor();
  const count = await preview.getAttribute('data-count');
  assert.ok(Number(count) > 0, `tool count ${count}`);
  await page.locator('#tool-preview li', { hasText: TOOL }).waitFor();
  await create.getByRole('button', { name: 'Create MCP server' }).click();
  await page.getByRole('heading', { name: /URL of claude: copy it now/ }).waitFor();
  await page.getByRole('button', { name: 'Copy URL' }).click();
  await page.getByText('Copied to the clipboard.').waitFor();
  const url = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(url, await page.getByLabel('MCP server URL').inputValue());
  assert.ok(url.startsWith(`${s.workerUrl}/mcp/`), url);
  const desktop = JSON.parse(await page.locator('pre code').first().textContent());
  assert.deepEqual(desktop, { mcpServers: { 'jira-service-management': { command: 'npx', args: ['-y', 'mcp-remote', url] } } });
  assert.equal(await page.locator('pre code').nth(1).textContent(), url, 'Claude connector snippet');
  assert.equal(await page.locator('pre code').nth(2).textContent(), url, 'ChatGPT connector snippet');
  assert.equal(await page.locator('pre code').nth(3).textContent(),
    `claude mcp add --transport http jira-service-management ${url}`, 'Claude Code snippet');
  assert.equal(await page.locator('pre code').nth(4).textContent(),
    `npx @modelcontextprotocol/inspector --cli ${url}/mcp --method tools/list`, 'Inspector CLI snippet');
  const row = page.getByRole('row', { name: /claude/ });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(`claude${count}read`));
  assert.equal(await create.getByLabel('read (get + list)').isChecked(), true, 'the form resets to its defaults');
  assert.equal(await create.getByLabel('Name', { exact: true }).inputValue(), '');
  await shot(page, 'server_created');

  // The copied URL works in the MCP SDK client.
  const c = await connect(url);
  const tools = await listAllTools(c.client);
  assert.ok(tools.some((t) => t.name === TOOL));
  assert.equal(tools.length, Number(count), 'the preview counted what the server lists');
  const res = await c.client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } });
  assert.ok(!res.isError, JSON.stringify(res.content));
  assert.equal(res.structuredContent.key, 'ITSM-994');
  await close(c);

  // Recent tool calls (the audit drain runs every 200 ms): refreshed until
  // the call is there (30 s at most).
  await row.getByRole('link', { name: /Calls/ }).click();
  await page.getByRole('heading', { name: 'Recent tool calls of claude' }).waitFor();
  for (let i = 0; i < 150 && !(await page.getByRole('cell', { name: TOOL }).count()); i++) {
    await new Promise((r) => setTimeout(r, 200));
    await page.getByRole('button', { name: 'Refresh' }).click();
  }
  await page.getByRole('cell', { name: TOOL }).first().waitFor({ timeout: 1000 });
  await page.getByRole('row', { name: new RegExp(`${TOOL}.*200`) }).first().waitFor({ timeout: 1000 });
  await shot(page, 'calls');

  // Revoke in the page: the URL stops working.
  await page.getByRole('link', { name: '← MCP servers' }).click();
  await page.getByRole('button', { name: 'Revoke claude' }).click();
  await page.getByRole('heading', { name: 'Revoke claude?' }).waitFor();
  await page.getByRole('button', { name: 'Revoke now' }).click();
  await page.getByText('No MCP servers yet.').waitFor();
  await page.getByText('claude revoked').waitFor();
  await assert.rejects(connect(url), 'the revoked URL is refused');
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('phone width (375 px): accounts with needs_reauth, rotate with overlap, expiry, errors in place', async () => {
  // An account whose refresh token was refused, as the refresher marks it.
  const psql = spawnSync('psql', [s.env.JSMCP_DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-qc',
    `update integrated_accounts set status = 'needs_reauth' where tenant_id = 'cust-1'`], { encoding: 'utf8' });
  assert.equal(psql.status, 0, psql.stderr);
  const page = await newPage({ width: 375, height: 740 });
  await signIn(page);
  await page.getByRole('heading', { name: 'Integrated accounts' }).waitFor();
  await page.getByText('needs reauth', { exact: true }).waitFor();
  await shot(page, 'phone_accounts');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 375, `no horizontal scrolling at 375 px (scrollWidth ${overflow})`);
  // Reconnect opens the OAuth form for that tenant; no OAuth app is set, so the API's 409 shows in the form.
  await page.getByRole('button', { name: 'Reconnect cust-1' }).click();
  const oauth = page.getByRole('form', { name: 'Connect with OAuth' });
  assert.equal(await oauth.getByLabel('Tenant ID').inputValue(), 'cust-1');
  await oauth.getByRole('button', { name: 'Get authorization link' }).click();
  await oauth.getByRole('alert').filter({ hasText: /OAuth app/i }).waitFor();
  // With the workspace's OAuth app set, the same form hands out the customer's consent link.
  const app = await fetch(`${s.apiUrl}/oauth-app`, {
    method: 'PUT', headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'dash-client', client_secret: 'dash-secret', scopes: ['read:jira-work'], redirect_url: `${s.apiUrl}/oauth/callback` }),
  });
  assert.equal(app.status, 200, await app.text());
  await oauth.getByRole('button', { name: 'Get authorization link' }).click();
  const link = new URL(await oauth.getByLabel('Authorization link').inputValue());
  assert.equal(`${link.origin}${link.pathname}`, 'https://auth.atlassian.com/authorize');
  assert.equal(link.searchParams.get('client_id'), 'dash-client');
  assert.equal(link.searchParams.get('redirect_uri'), `${s.apiUrl}/oauth/callback`);
  assert.ok(link.searchParams.get('state')?.length >= 32, 'a state token');
  assert.equal(await oauth.getByRole('link', { name: 'Open' }).getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await oauth.locator('[data-form-error]').textContent(), '', 'the earlier error is cleared');

  await page.getByRole('link', { name: 'cust-1' }).click();
  await page.getByRole('heading', { name: 'cust-1' }).waitFor();
  await page.getByRole('button', { name: 'Rotate tests' }).click();
  await page.getByLabel('Old URL keeps working for (seconds)').fill('9999999');
  await page.getByRole('button', { name: 'Rotate URL' }).click();
  // The API refuses it; wait for its answer to reach the field before reading it.
  await page.waitForFunction(() => document.querySelector('input[name=overlap_seconds][aria-invalid=true]'));
  const overlapErr = await errorOf(page.getByLabel('Old URL keeps working for (seconds)'));
  assert.equal(overlapErr.invalid, 'true');
  assert.ok(overlapErr.text.length > 5 && overlapErr.focused, JSON.stringify(overlapErr));
  await page.getByLabel('Old URL keeps working for (seconds)').fill('60');
  await page.getByRole('button', { name: 'Rotate URL' }).click();
  await page.getByRole('heading', { name: /URL of tests: copy it now/ }).waitFor();
  await page.getByText('The previous URL keeps working until').waitFor();
  const newUrl = await page.getByLabel('MCP server URL').inputValue();
  assert.notEqual(newUrl, s.mcpUrl);
  await shot(page, 'phone_rotated');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 375, 'the URL panel wraps at 375 px');
  await page.getByRole('button', { name: 'Done: hide the URL' }).click();
  assert.equal(await page.getByLabel('MCP server URL').count(), 0, 'the URL is gone from the page');

  // Expiry: in the past -> the API's error next to the field; then a date; then none again.
  const row = page.getByRole('row', { name: /tests/ });
  await page.getByRole('button', { name: 'Change expiry of tests' }).click();
  const exp = page.getByRole('form', { name: 'Change expiry of tests' });
  await exp.getByLabel('Never expires').uncheck();
  await exp.getByLabel('Expires at (your local time)').fill('2001-01-01T10:00:00');
  await page.getByRole('button', { name: 'Save expiry' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=expires_at][aria-invalid=true]'));
  await exp.getByLabel('Expires at (your local time)').fill('2099-06-01T10:00:00');
  await page.getByRole('button', { name: 'Save expiry' }).click();
  await page.getByText('Expiry of tests saved.').waitFor();
  await row.locator('time[datetime^="2099-06-01"]').waitFor();
  await page.getByRole('button', { name: 'Change expiry of tests' }).click();
  await page.getByRole('form', { name: 'Change expiry of tests' }).getByLabel('Never expires').check();
  await page.getByRole('button', { name: 'Save expiry' }).click();
  await row.locator('time').first().waitFor(); // created is still a time
  await page.waitForFunction(() => !document.querySelector('time[datetime^="2099-06-01"]'));
  const get = await fetch(`${s.apiUrl}/integrated-account/${s.accountId}/mcp/${s.serverId}`, { headers: { Authorization: `Bearer ${s.key}` } });
  assert.equal((await get.json()).expires_at, null, 'expiry removed');
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('keyboard only: sign in with Tab and Enter, focus lands on the page heading', async () => {
  const page = await newPage();
  await page.goto(`${s.apiUrl}/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.name), 'key', 'the key field has focus');
  await page.keyboard.type(s.key);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Sign in');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Integrated accounts' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Integrated accounts', 'focus moved to the new page');
  // Tab reaches the search field next, Enter searches.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'tenant_id');
  await page.keyboard.type('dash-1');
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: 'cust-1' }).waitFor({ state: 'detached' }); // the first listing had it
  await page.getByRole('link', { name: 'dash-1' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'cust-1' }).count(), 0);
  await shot(page, 'keyboard_search');
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});
