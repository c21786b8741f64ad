// The dashboard's governance pages (api/web) in headless Chromium against
// the real stack: API keys (scoped, expiring, shown once, revoked), webhooks
// (secret shown once, a test delivery the receiver verifies, the delivery
// log, delete), a server's settings edited in place, a server's charts from
// the series PostgreSQL computes (GET /calls/series) and the workspace's
// (GET /calls: search, export as CSV and ndjson), its usage (GET /usage),
// and the admin audit trail (GET /audit-events) of real writes: the events,
// their diffs without secrets, keyset paging and filters. Screenshots go to
// $JSMCP_TEST_ARTIFACTS (dashboard_*.png).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { chromiumMissing, errorOf, launch, newPage as openPage, shot, signIn } from './lib/dashboard.mjs';
import { close, connect } from './lib/mcp_client.mjs';
import { api, requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

const TOOL = 'get_single_jira_service_management_issue_by_id';
// Fails, never skips, without the binaries or Chromium (scripts/install-deps.sh).
requireStack();

// A webhook receiver on loopback (allowlisted for the API): every POST is kept.
const hooks = [];
let receiver;
let s;
let browser;
before(async () => {
  assert.equal(chromiumMissing(), null, 'scripts/install-deps.sh installs Chromium');
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      hooks.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), url: req.url });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const port = receiver.address().port;
  s = await startStack({ workers: 1, env: { JSMCP_WEBHOOK_ALLOWLIST: `127.0.0.1:${port}`, JSMCP_WEBHOOK_POLL_MS: '100' } });
  s.hookUrl = `http://127.0.0.1:${port}/hook`;
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (receiver) await new Promise((r) => receiver.close(r));
  if (!s) return;
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

const newPage = (viewport) => openPage(browser, s.apiUrl, viewport);
async function signedIn(viewport) {
  const page = await newPage(viewport);
  await signIn(page, s.apiUrl, s.key);
  await page.getByRole('heading', { name: 'Integrated accounts' }).waitFor();
  return page;
}
const until = async (what, fn, ms = 15000) => {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

test('API keys: create a read-only expiring key shown once, it reads but cannot write, revoke it', async () => {
  const page = await signedIn();
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'API keys' }).getAttribute('aria-current'), 'page');
  await page.getByText(`This browser is signed in with ${s.key.slice(0, 8)}`).waitFor();
  const form = page.getByRole('form', { name: 'Create an API key' });
  // An expiry in the past: the API's error next to the field.
  await form.getByLabel('Name').fill('reporting');
  await form.getByLabel('read-only (GET routes only)').check();
  await form.getByLabel('Expires at (your local time)').fill('2001-01-01T10:00:00');
  await form.getByRole('button', { name: 'Create API key' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=expires_at][aria-invalid=true]'));
  assert.ok((await errorOf(form.getByLabel('Expires at (your local time)'))).text.length > 5);
  await form.getByLabel('Expires at (your local time)').fill('2099-06-01T10:00:00');
  await form.getByRole('button', { name: 'Create API key' }).click();
  await page.getByRole('heading', { name: /Key reporting: copy it now/ }).waitFor();
  const key = await page.getByRole('textbox', { name: 'API key', exact: true }).inputValue();
  assert.match(key, /^jsk_[A-Za-z0-9_-]{43}$/);
  await page.getByRole('button', { name: 'Copy key' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  const row = page.getByRole('row', { name: /reporting/ });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(`reporting${key.slice(0, 8)}read-only`));
  await row.locator('time[datetime^="2099-06-01"]').waitFor();
  await shot(page, 'api_keys');
  // The key shown is the one the API stored: it reads, and a write is refused for its scope.
  assert.equal((await api(s, key, 'GET', '/integrated-account')).status, 200);
  const w = await api(s, key, 'POST', '/webhooks', { url: s.hookUrl, events: ['server.deleted'] });
  assert.equal(w.status, 403);
  assert.equal(w.json.scope, 'read');
  await page.getByRole('button', { name: 'Done: hide the key' }).click();
  assert.equal(await page.getByRole('textbox', { name: 'API key', exact: true }).count(), 0, 'the key is gone from the page');
  // Revoke: the key stops working.
  await page.getByRole('button', { name: 'Revoke reporting' }).click();
  await page.getByRole('heading', { name: /Revoke reporting/ }).waitFor();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByText('Key reporting revoked.').waitFor();
  // The notice comes first; the list is read again after it, so wait for the row to go.
  await page.getByRole('row', { name: /reporting/ }).waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('row', { name: /reporting/ }).count(), 0);
  assert.equal((await api(s, key, 'GET', '/integrated-account')).status, 401);
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('webhooks: add one (secret once, SSRF refusal in place), a test delivery signed with that secret, its log, disable and enable, delete', async () => {
  const page = await signedIn();
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByText('No webhooks yet.').waitFor();
  const form = page.getByRole('form', { name: 'Add a webhook' });
  await form.getByLabel('URL').fill('https://10.1.2.3/hook');
  await form.getByLabel(/^account\.needs_reauth/).uncheck();
  await form.getByLabel(/^server\.deleted/).check();
  await form.getByRole('button', { name: 'Add webhook' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=url][aria-invalid=true]'));
  const urlErr = await errorOf(form.getByLabel('URL'));
  assert.ok(urlErr.focused && urlErr.text.length > 5, JSON.stringify(urlErr));
  await form.getByLabel('URL').fill(s.hookUrl);
  await form.getByLabel('Description').fill('ops pager');
  await form.getByRole('button', { name: 'Add webhook' }).click();
  await page.getByRole('heading', { name: /Signing secret of .*: copy it now/ }).waitFor();
  const secret = await page.getByRole('textbox', { name: 'Signing secret' }).inputValue();
  assert.match(secret, /^whsec_/);
  const row = page.getByRole('row', { name: /ops pager/ });
  await row.waitFor();
  assert.match(await row.textContent(), /server\.deleted/);
  assert.doesNotMatch(await row.textContent(), /account\.needs_reauth/, 'the default tick was taken off');
  await shot(page, 'webhooks');

  // Test: the receiver gets a delivery signed with the secret shown.
  const before0 = hooks.length;
  await page.getByRole('button', { name: `Send a test event to ${s.hookUrl}` }).click();
  await page.getByText(/Test event queued/).waitFor();
  const got = await until('the test delivery', () => hooks.slice(before0).find((x) => x.headers['jsmcp-event'] === 'webhook.test'));
  const [, t, v1] = got.headers['jsmcp-signature'].match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.equal(createHmac('sha256', secret).update(`${t}.${got.body}`).digest('hex'), v1, 'signed with the secret the page showed');

  // Its delivery log shows it succeeded (refreshed until the API recorded it).
  await row.getByRole('link', { name: /Deliveries/ }).click();
  await page.getByRole('heading', { name: `Deliveries to ${s.hookUrl}` }).waitFor();
  await until('a succeeded delivery in the page', async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByText('Deliveries refreshed.').waitFor();
    return page.getByRole('row', { name: /webhook\.test.*succeeded/ }).count();
  });
  await page.getByRole('row', { name: /webhook\.test/ }).getByText('1 attempt').click();
  await page.getByText(/— 204/).waitFor();
  // The status filter asks the API for failed ones only: none.
  await page.getByLabel('failed').check();
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByText('No deliveries yet.').waitFor();
  await shot(page, 'webhook_deliveries');

  // Disable by hand, then enable: the row shows the state and the reason,
  // the API agrees, and a disabled webhook offers no Test.
  await page.getByRole('link', { name: '← Webhooks' }).click();
  await page.getByRole('button', { name: `Disable ${s.hookUrl}` }).click();
  await page.getByText(`Webhook ${s.hookUrl} disabled.`).waitFor();
  const off = page.getByRole('row', { name: /ops pager/ });
  await off.getByText('disabled by an operator').waitFor();
  assert.equal(await off.getByRole('button', { name: `Send a test event to ${s.hookUrl}` }).count(), 0, 'no Test while disabled');
  const wOff = (await api(s, s.key, 'GET', '/webhooks')).json.result[0];
  assert.equal(wOff.enabled, false);
  assert.ok(wOff.disabled_at, JSON.stringify(wOff));
  await page.getByRole('button', { name: `Enable ${s.hookUrl}` }).click();
  await page.getByText(/enabled: its waiting deliveries go out again/).waitFor();
  await page.getByRole('row', { name: /ops pager/ }).getByText('enabled', { exact: true }).waitFor();
  assert.equal((await api(s, s.key, 'GET', '/webhooks')).json.result[0].enabled, true);

  // Delete.
  await page.getByRole('button', { name: `Delete ${s.hookUrl}` }).click();
  await page.getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByText('No webhooks yet.').waitFor();
  assert.equal((await api(s, s.key, 'GET', '/webhooks')).json.result.length, 0);
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('a server\'s settings edited in place: methods, tags, projects, expiry, API token required; a config with no tools refused', async () => {
  const page = await signedIn();
  await page.goto(`${s.apiUrl}/#/accounts/${s.accountId}`);
  await page.getByRole('heading', { name: 'cust-1' }).waitFor();
  await page.getByRole('button', { name: 'Edit tests' }).click();
  const form = page.getByRole('form', { name: 'Edit tests' });
  assert.equal(await form.getByLabel('read (get + list)').isChecked(), true, 'the form shows the stored config');
  assert.equal(await form.getByLabel('Require an API token').isChecked(), false);
  await form.getByLabel('Tags').fill('no-such-tag');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.getByRole('alert').filter({ hasText: /leave no tools/ }).waitFor();
  await form.getByLabel('Tags').fill('');
  await form.getByLabel('write (create + update + delete)').check();
  await form.getByLabel('Projects').fill('itsm');
  await form.getByLabel('Expires at (your local time)').fill('2099-03-01T12:00:00');
  await form.getByLabel('Require an API token').check();
  await form.getByLabel('discovery (search, describe, call)').check();
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.waitFor({ state: 'detached' });
  await page.getByText('tests saved').waitFor();
  const got = (await api(s, s.key, 'GET', `/integrated-account/${s.accountId}/mcp/${s.serverId}`)).json;
  assert.deepEqual(got.config.methods, ['read', 'write']);
  assert.deepEqual(got.config.projects, ['ITSM']);
  assert.equal(got.config.tool_exposure, 'discovery');
  assert.equal(got.require_api_token_auth, true);
  assert.equal(new Date(got.expires_at).getTime(), new Date('2099-03-01T12:00:00').getTime());
  const row = page.getByRole('row', { name: /tests/ });
  await row.locator('time[datetime^="2099-03-01"]').waitFor();
  assert.match(await row.textContent(), /^tests API token required\d+readwriteallITSM/, 'the row shows the new settings');
  await shot(page, 'server_edited');
  // Back as it was, expiry removed by emptying the field.
  await page.getByRole('button', { name: 'Edit tests' }).click();
  const again = page.getByRole('form', { name: 'Edit tests' });
  assert.equal(await again.getByLabel('Projects').inputValue(), 'ITSM');
  await again.getByLabel('write (create + update + delete)').uncheck();
  await again.getByLabel('Projects').fill('');
  await again.getByLabel('Expires at (your local time)').fill('');
  await again.getByLabel('Require an API token').uncheck();
  await again.getByLabel('all tools listed').check();
  await again.getByRole('button', { name: 'Save changes' }).click();
  await again.waitFor({ state: 'detached' });
  const back = (await api(s, s.key, 'GET', `/integrated-account/${s.accountId}/mcp/${s.serverId}`)).json;
  assert.deepEqual([back.config.methods, back.config.projects, back.expires_at, back.require_api_token_auth, back.config.tool_exposure],
    [['read'], undefined, null, false, 'all']);
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('a server\'s charts from its call history: calls and errors, latency p50/p95, rate-limit headroom; CSV and ndjson export', async () => {
  // Calls through the MCP SDK client: 4 that succeed, 2 that JSM answers 404.
  const c = await connect(s.mcpUrl);
  for (const id of ['ITSM-994', 'ITSM-994', 'ITSM-994', 'ITSM-994', 'ITSM-999998', 'ITSM-999999']) {
    await c.client.callTool({ name: TOOL, arguments: { id } });
  }
  await close(c);
  const path = `/integrated-account/${s.accountId}/mcp/${s.serverId}/calls?limit=200`;
  const records = await until('6 drained call records', async () => {
    const r = (await api(s, s.key, 'GET', path)).json.result;
    return r.length >= 6 && r;
  });
  const errors = records.filter((x) => x.error_class).length;
  assert.equal(errors, 2, JSON.stringify(records.map((x) => x.error_class)));
  const withRoom = records.filter((x) => x.ratelimit?.remaining != null && x.ratelimit?.limit > 0);
  assert.ok(withRoom.length > 0, 'the sandbox sends X-RateLimit-Limit/Remaining and the worker stores them');
  const lowest = Math.min(...withRoom.map((x) => (100 * x.ratelimit.remaining) / x.ratelimit.limit));
  const lats = records.map((x) => x.latency_ms).sort((a, b) => a - b);

  const page = await signedIn();
  const exports = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname === '/calls') exports.push({ url: u, accept: req.headers().accept });
  });
  await page.goto(`${s.apiUrl}/#/accounts/${s.accountId}/servers/${s.serverId}/calls`);
  await page.getByRole('heading', { name: 'Recent tool calls of tests' }).waitFor();
  await page.locator('#server-calls').waitFor();
  const totals = async (id) => JSON.parse(await page.locator(`#${id}`).getAttribute('data-totals'));
  assert.deepEqual(await totals('server-calls'), { ok: records.length - errors, errors });
  assert.equal(await page.locator('#server-calls rect.s-err').count() > 0, true, 'error bars drawn');
  const dots = (id, cls) => page.locator(`#${id} circle.${cls}`).evaluateAll((els) => els.map((e) => Number(e.dataset.v)));
  const [p50, p95] = [await dots('server-latency', 's-p50'), await dots('server-latency', 's-p95')];
  if (p50.length === 1) { // all in one interval (the usual case): the nearest-rank percentiles of the six
    assert.deepEqual([p50[0], p95[0]], [lats[2], lats[5]], JSON.stringify(lats));
  } else { // the calls straddled two intervals
    assert.ok(Math.min(...p50) >= lats[0] && Math.max(...p95) <= lats[5], JSON.stringify({ p50, p95, lats }));
  }
  const room = await dots('server-headroom', 's-room');
  assert.ok(Math.abs(Math.min(...room) - lowest) < 1e-9, JSON.stringify({ room, lowest }));
  assert.equal(await page.locator('#server-headroom figcaption').textContent(), 'Rate-limit headroom (lowest share of the limit left)');
  assert.equal(await page.locator('#server-latency svg circle.s-p95').count() > 0, true);
  assert.equal(await page.locator('svg[role=img]').count(), 3);
  // The hour window keeps them all (they were just made).
  await page.getByLabel('Time window').selectOption({ label: 'last hour' });
  await page.waitForFunction((n) => document.querySelector('[data-calls]')?.dataset.calls === String(n), records.length);
  await shot(page, 'server_charts');

  // Export: a file download of GET /calls?server_id=...&since=... with the chosen type.
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  assert.match(csv.suggestedFilename(), /^calls-.*\.csv$/);
  const lines = readFileSync(await csv.path(), 'utf8').trim().split(/\r?\n/);
  assert.match(lines[0], /^id,ts,call_id,account_id,server_id,tool,outcome,/);
  assert.equal(lines.length, 1 + records.length, 'a header and every call of the server');
  assert.equal(lines.filter((l) => l.includes(',tool_error,')).length, errors);
  const [nd] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export ndjson' }).click()]);
  assert.match(nd.suggestedFilename(), /\.ndjson$/);
  const rows = readFileSync(await nd.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.call_id).sort(), records.map((x) => x.call_id).sort());
  assert.ok(rows.every((x) => x.server_id === s.serverId));
  assert.deepEqual(exports.map((e) => e.accept), ['text/csv', 'application/x-ndjson']);
  assert.equal(exports[0].url.searchParams.get('server_id'), s.serverId);
  assert.ok(Date.now() - Date.parse(exports[0].url.searchParams.get('since')) <= 3600000 + 60000, 'the window chosen');
  s.records = records;
  assert.deepEqual(page.errors, [], 'no script errors');
  await page.context().close();
});

test('activity (GET /calls, /calls/series), usage (GET /usage) and audit (GET /audit-events) pages: filters sent, charts and tables drawn, phone width', async () => {
  const page = await signedIn({ width: 375, height: 800 });
  const now = Date.now();
  const seen = { usage: [], audit: [], auditPages: [], series: [] };
  const calls = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname === '/calls') calls.push(u);
    if (u.pathname === '/calls/series') seen.series.push(u);
    if (u.pathname === '/usage') seen.usage.push(u);
    if (u.pathname === '/audit-events') seen.audit.push(u);
  });
  page.on('response', async (res) => {
    if (new URL(res.url()).pathname === '/audit-events' && res.status() === 200) seen.auditPages.push(await res.json());
  });

  await page.goto(`${s.apiUrl}/#/activity`);
  await page.getByRole('heading', { name: 'Activity' }).waitFor();
  await page.locator('#workspace-calls').waitFor();
  // The workspace's calls are the server's six: 4 succeeded, 2 JSM answered 404.
  assert.deepEqual(JSON.parse(await page.locator('#workspace-calls').getAttribute('data-totals')), { ok: 4, errors: 2 });
  await page.getByRole('cell', { name: s.records[0].request_id }).waitFor();
  await page.getByLabel('Tool', { exact: true }).fill(TOOL);
  await page.getByLabel('tool error').check();
  await page.getByLabel('Upstream status').fill('4xx');
  const n0 = calls.length;
  const s0 = seen.series.length;
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await until('the filtered listing and charts', () => calls.length >= n0 + 1 && seen.series.length >= s0 + 1);
  const last = calls[calls.length - 1];
  assert.deepEqual([last.searchParams.get('tool'), last.searchParams.get('outcome'), last.searchParams.get('upstream_status')],
    [TOOL, 'tool_error', '4xx']);
  assert.ok(Math.abs(Date.parse(last.searchParams.get('since')) - (now - 86400000)) < 120000, 'the 24-hour window');
  // The charts ask the series for the same filters over the window, in 24 intervals.
  const sp = seen.series[seen.series.length - 1].searchParams;
  assert.deepEqual([sp.get('tool'), sp.get('outcome'), sp.get('upstream_status'), sp.get('step')], [TOOL, 'tool_error', '4xx', '3600']);
  assert.equal(Date.parse(sp.get('until')) - Date.parse(sp.get('since')), 86400000);
  await page.waitForFunction(() => JSON.parse(document.querySelector('#workspace-calls')?.dataset.totals || '{}').ok === 0);
  assert.deepEqual(JSON.parse(await page.locator('#workspace-calls').getAttribute('data-totals')), { ok: 0, errors: 2 });
  const listed = page.locator('table', { has: page.locator('caption', { hasText: /^Tool calls$/ }) }).locator('tbody tr');
  await until('the two failed calls listed', async () => (await listed.count()) === 2);
  // A bad filter: the API's refusal next to its field.
  await page.getByLabel('Upstream status').fill('6xx');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=upstream_status][aria-invalid=true]'));
  await shot(page, 'phone_activity');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 375, 'charts fit 375 px');

  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('heading', { name: 'Usage' }).waitFor();
  await page.locator('[data-total=calls]').waitFor();
  // The six calls of the server, all today: one account, one tool.
  assert.equal(await page.locator('[data-total=calls]').textContent(), String(s.records.length));
  assert.equal(await page.locator('[data-total=errors]').textContent(), '2');
  assert.equal(await page.getByRole('meter', { name: `${s.accountId}: ${s.records.length} calls` }).getAttribute('value'), String(s.records.length));
  const bytes = s.records.reduce((a, x) => a + (x.result_bytes || 0), 0);
  assert.ok(bytes > 0, 'the worker records result_bytes');
  assert.equal(await page.locator('[data-total=bytes_to_model]').textContent(), bytes.toLocaleString('en-US'));
  await page.getByLabel('tool', { exact: true }).check();
  await page.getByLabel('One row per day').check();
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.getByRole('meter', { name: `${TOOL}: ${s.records.length} calls` }).waitFor();
  const u0 = seen.usage[0].searchParams;
  assert.deepEqual([u0.get('group_by'), u0.get('from'), u0.get('to'), u0.get('granularity')],
    ['account', new Date(now - 6 * 86400000).toISOString().slice(0, 10), new Date(now).toISOString().slice(0, 10), 'total']);
  const u1 = seen.usage[seen.usage.length - 1].searchParams;
  assert.deepEqual([u1.get('group_by'), u1.get('granularity')], ['tool', 'day']);
  await page.getByRole('columnheader', { name: 'Day' }).waitFor();
  // A day range the API refuses (to before from): its error next to the field it names.
  await page.getByLabel('From (UTC day)').fill('2026-02-01');
  await page.getByLabel('To (UTC day, included)').fill('2026-01-01');
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.waitForFunction(() => document.querySelector('form [aria-invalid=true]'));
  await shot(page, 'phone_usage');

  // The audit trail of real writes: a read-only key created (its secret
  // must appear nowhere), and 50 renames of the server (more than a page).
  const made = await api(s, s.key, 'POST', '/api-keys', { name: 'auditor', scope: 'read' });
  assert.equal(made.status, 201, made.text);
  const srvPath = `/integrated-account/${s.accountId}/mcp/${s.serverId}`;
  for (let i = 1; i <= 50; i++) {
    const r = await api(s, s.key, 'PATCH', srvPath, { name: i === 50 ? 'tests' : `tests-${i}` });
    assert.equal(r.status, 200, r.text);
  }
  // What the API holds (every page of it), to compare the page with.
  const all = [];
  for (let cursor = null; ;) {
    const r = await api(s, s.key, 'GET', `/audit-events?limit=100${cursor ? `&next_cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    all.push(...r.json.result);
    if (!(cursor = r.json.next_cursor)) break;
  }
  assert.ok(all.length > 50 && all.length <= 100, `two pages of 50 in the page: ${all.length} events`);
  const renames = all.filter((e) => e.action === 'server.updated' && e.object_id === s.serverId && e.diff?.name);
  assert.ok(renames.length >= 50, `${renames.length} renames recorded`);
  const keyEvent = all.find((e) => e.action === 'api_key.created' && e.object_id === made.json.id);
  assert.ok(keyEvent, 'the key creation is an event');

  await page.getByRole('link', { name: 'Audit trail' }).click();
  await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
  const rows = page.locator('table', { has: page.locator('caption', { hasText: /^Audit events$/ }) }).locator('tbody tr');
  await until('the first page of events', async () => (await rows.count()) === 50);
  // The newest event first: the last rename, by this browser's key, from loopback, with its diff.
  const top = rows.first();
  const cells = await top.locator('td').allTextContents();
  assert.equal(cells[1], 'server.updated', cells.join(' | '));
  assert.equal(cells[2], `server ${s.serverId}`);
  assert.equal(cells[3], s.key.slice(0, 8), 'the key prefix');
  assert.equal(cells[4], '127.0.0.1', 'the client IP');
  assert.equal(await top.locator('time').getAttribute('datetime'), all[0].created_at);
  await top.getByText('name', { exact: true }).click();
  assert.deepEqual(JSON.parse(await top.locator('pre code').textContent()), { name: { from: 'tests-49', to: 'tests' } });
  // The first page is the API's first page; "Show older" sends its next_cursor.
  assert.equal(seen.auditPages[0].result.length, 50);
  assert.deepEqual(seen.auditPages[0].result.map((e) => e.id), all.slice(0, 50).map((e) => e.id));
  assert.ok(seen.auditPages[0].next_cursor, 'a next page');
  await page.getByRole('button', { name: 'Show older' }).click();
  await until('every event listed', async () => (await rows.count()) === all.length);
  assert.equal(seen.audit[1].searchParams.get('next_cursor'), seen.auditPages[0].next_cursor);
  assert.equal(await page.getByRole('button', { name: 'Show older' }).count(), 0, 'the last page');
  // The key's creation: its name and scope, the key itself only as "changed".
  const keyRow = rows.filter({ hasText: 'api_key.created' }).filter({ hasText: made.json.id });
  await keyRow.locator('summary').click();
  const keyDiff = JSON.parse(await keyRow.locator('pre code').textContent());
  assert.deepEqual([keyDiff.name, keyDiff.scope, keyDiff.key], [{ from: null, to: 'auditor' }, { from: null, to: 'read' }, 'changed'],
    JSON.stringify(keyDiff));
  assert.ok(!(await page.content()).includes(made.json.key), 'no secret on the page');

  // Filters, answered by the API: one action of one object.
  await page.getByLabel('Object id').fill(made.json.id);
  await page.getByLabel('Action').fill('api_key.created');
  await page.getByLabel('Since (your local time)').fill('2026-01-01T00:00:00');
  await page.getByRole('button', { name: 'Search' }).click();
  await until('the filtered events', async () => (await rows.count()) === 1);
  assert.match(await rows.first().textContent(), new RegExp(`api_key\\.created.*${made.json.id}`));
  const a = seen.audit[seen.audit.length - 1].searchParams;
  assert.deepEqual([a.get('object_id'), a.get('action'), a.get('since')],
    [made.json.id, 'api_key.created', new Date('2026-01-01T00:00:00').toISOString().replace('.000Z', 'Z')]);
  assert.equal(a.get('until'), null);
  // The server's renames only: the API's count, paged the same way.
  await page.getByLabel('Object id').fill(s.serverId);
  await page.getByLabel('Action').fill('server.updated');
  await page.getByRole('button', { name: 'Search' }).click();
  const updated = all.filter((e) => e.action === 'server.updated' && e.object_id === s.serverId).length;
  await until('the server\'s updates', async () => (await rows.count()) === Math.min(50, updated));
  // Nothing after a time in the future; an action the API refuses: its error at the field.
  await page.getByLabel('Since (your local time)').fill('2099-01-01T00:00:00');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No audit events match.').waitFor();
  await page.getByLabel('Action').fill('DROP TABLE');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction(() => document.querySelector('input[name=action][aria-invalid=true]'));
  await shot(page, 'phone_audit');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 375);
  assert.deepEqual(page.errors, [], 'no script errors (a CSP refusal would be one)');
  await page.context().close();
});
