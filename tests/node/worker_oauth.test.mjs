// OAuth accounts through real workers (issue 6, worker side of the refresh
// protocol in docs/architecture.md): the sandbox is the authorization server
// (6 s access tokens, no grace for a rotated refresh token), the real admin
// API runs the refresher (its own scan disabled: only worker requests
// trigger refreshes), and TWO worker processes (two masters, one process
// each) answer 50 concurrent tool calls at the moment the access token
// expires:
//  - locally expired (expires_at_ms passed): exactly one token request
//    reaches the sandbox and no call fails;
//  - refused upstream (401, the sandbox clock moved on): the same;
//  - no refresher (API down): a retryable error after ~10 s; a refresher
//    back within the wait answers the waiting call;
//  - refresh refused (invalid_grant, the refresh token idle > 90 days):
//    the account is needs_reauth and calls get the clear "must reconnect"
//    tool error, at once on later calls too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { close, connect } from './lib/mcp_client.mjs';
import { api, metricSum, requireStack, startProc, startStack, startWorker, stopProc, stopStack, waitFor } from './lib/mcp_stack.mjs';

const TTL_S = 6;
const TOOL = 'get_single_jira_service_management_issue_by_id';
requireStack();
let s;
let worker2;
let worker2Url;
let worker2Metrics; // the second pool's metrics listener
let accountId;
let clients = [];
let connectedAt;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sbGet = async (p) => (await fetch(`${s.sandboxUrl}${p}`)).json();
const sbPost = async (p, body) => {
  const r = await fetch(`${s.sandboxUrl}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, `${p}: ${await r.text()}`);
};
const counters = async () => {
  const c = await sbGet('/__sandbox/counters');
  return { refresh: c.tokenRequests.refresh_token, denied: c.oauth.refreshDenied };
};
const authFailures = async () => (await sbGet('/__sandbox/counters')).authFailures;

const metric = metricSum;

before(async () => {
  s = await startStack({
    workers: 1,
    env: (st) => ({
      JSM_SANDBOX_ACCESS_TTL: String(TTL_S),
      JSM_SANDBOX_REFRESH_LEEWAY: '0',
      JSM_SANDBOX_RATE_LIMIT: '0',
      JSMCP_OAUTH_AUTH_URL: st.sandboxUrl,
      JSMCP_OAUTH_API_URL: st.sandboxUrl,
      JSMCP_OAUTH_REFRESH_INTERVAL_MS: '3600000',
      JSMCP_OAUTH_REFRESH_AHEAD_MS: '0',
    }),
  });
  const w2 = await startWorker(s, 'worker_oauth_w2');
  ({ proc: worker2, url: worker2Url, metricsUrl: worker2Metrics } = w2);

  const app = await api(s, s.key, 'PUT', '/oauth-app', {
    client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret',
    scopes: ['read:jira-work', 'write:jira-work'], redirect_url: `${s.apiUrl}/oauth/callback`,
  });
  assert.equal(app.status, 200, app.text);
  const c = await api(s, s.key, 'POST', '/integrated-account/connect', { tenant_id: 'oauth-cust' });
  assert.equal(c.status, 200, c.text);
  const auth = await fetch(c.json.authorization_url, { redirect: 'manual' });
  assert.equal(auth.status, 302);
  const cb = await fetch(auth.headers.get('location'), { redirect: 'manual' });
  const acct = await cb.json();
  assert.equal(cb.status, 201, JSON.stringify(acct));
  connectedAt = Date.now();
  accountId = acct.id;
  const srv = await api(s, s.key, 'POST', `/integrated-account/${accountId}/mcp`, { name: 'oauth', config: { methods: ['read'] } });
  assert.equal(srv.status, 201, srv.text);
  const path = new URL(srv.json.url).pathname;
  clients = [await connect(`${s.workerUrl}${path}`), await connect(`${worker2Url}${path}`)];
});

after(async () => {
  if (!s) return;
  for (const c of clients) await close(c);
  const w2 = await stopProc(worker2);
  const codes = await stopStack(s);
  assert.equal(w2, 0, 'second worker exit status (sanitizers?)');
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

// 50 calls at once, 25 on each worker process; all must succeed.
async function fifty() {
  const calls = [];
  for (let i = 0; i < 50; i++) calls.push(clients[i % 2].client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } }));
  const res = await Promise.all(calls);
  for (const r of res) assert.ok(!r.isError, `a call failed: ${JSON.stringify(r.content).slice(0, 400)}`);
  for (const r of res) assert.equal(r.structuredContent.key, 'ITSM-994');
}

test('an OAuth account answers tool calls through the gateway with its access token', async () => {
  for (const c of clients) {
    const r = await c.client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } });
    assert.ok(!r.isError, JSON.stringify(r.content));
  }
  assert.deepEqual(await counters(), { refresh: 0, denied: 0 });
});

test('50 concurrent calls on two workers as the access token expires: one refresh, no failure', async () => {
  // Until the token's lifetime is over by the workers' clock: a wait for a
  // time that must pass (a lower bound a busy machine only lengthens).
  const wait = connectedAt + TTL_S * 1000 + 300 - Date.now();
  if (wait > 0) await sleep(wait);
  await fifty();
  assert.deepEqual(await counters(), { refresh: 1, denied: 0 }, 'exactly one token request');
  const waited = (await metric(s.metricsUrl, 'jsmcp_worker_refresh_waits_total', 'outcome="refreshed"')) +
    (await metric(worker2Metrics, 'jsmcp_worker_refresh_waits_total', 'outcome="refreshed"'));
  // Calls that arrive once the refresh is done read the new token at once.
  assert.ok(waited >= 1, `calls waited for the refresh (${waited} waits)`);
});

test('50 concurrent calls refused upstream with 401: one refresh, every call retried once and answered', async () => {
  // The workers still hold a token valid by their clock; the sandbox's
  // clock moves past its expiry, so every call first gets a 401.
  const before401 = await authFailures();
  await sbPost('/__sandbox/clock', { advanceSeconds: 60 });
  await fifty();
  assert.deepEqual(await counters(), { refresh: 2, denied: 0 }, 'exactly one more token request');
  assert.ok((await authFailures()) - before401 >= 1, 'calls met the 401');
});

test('no refresher: the call gives up after ~10 s with a retryable error; a refresher back in time answers the waiting call', async () => {
  const { refresh } = await counters();
  assert.equal(await stopProc(s.api), 0, 'API exit status');
  await sbPost('/__sandbox/clock', { advanceSeconds: 60 }); // the current token is refused upstream
  const r = await clients[0].client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /no refreshed token arrived in time\. Hint: this is temporary; call again in a few seconds/);
  assert.equal(r.structuredContent?.error?.reason, 'token_refresh_pending');
  assert.match(r.structuredContent.error.hint, /call again in a few seconds/);
  assert.equal((await counters()).refresh, refresh, 'no token request without a refresher');
  assert.ok((await metric(s.metricsUrl, 'jsmcp_worker_refresh_waits_total', 'outcome="timeout"')) >= 1);

  // The refresher comes back while a call waits: the worker's repeated
  // report (every 2 s) reaches it, and the call is answered. The call
  // waits once the worker has reported the refresh it needs.
  const reported = await metric(worker2Metrics, 'jsmcp_worker_refresh_requests_total');
  const pending = clients[1].client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } });
  await waitFor(async () => (await metric(worker2Metrics, 'jsmcp_worker_refresh_requests_total')) > reported,
    'the call to report the refresh it waits for');
  s.api = await startProc('api_again', 'jsmcp-api', [], s.env, s.apiUrl);
  const late = await pending;
  assert.ok(!late.isError, JSON.stringify(late.content).slice(0, 400));
  assert.deepEqual(await counters(), { refresh: refresh + 1, denied: 0 });
});

test('a refresh refused with invalid_grant: needs_reauth and a clear tool error', async () => {
  // A refresh token unused for more than 90 days is refused (invalid_grant).
  await sbPost('/__sandbox/clock', { advanceSeconds: 91 * 86400 });
  for (const c of [clients[0], clients[1], clients[0]]) {
    const r = await c.client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } });
    assert.equal(r.isError, true, JSON.stringify(r));
    const text = r.content[0].text;
    assert.match(text, /the customer must reconnect this Jira site/);
    assert.match(text, /Hint: do not retry/);
    assert.match(text, /needs_reauth/);
    const e = r.structuredContent?.error;
    assert.equal(e?.reason, 'needs_reauth', JSON.stringify(r.structuredContent));
    assert.match(e.message, /^the customer must reconnect this Jira site/);
    assert.match(e.hint, /^do not retry; ask the user to reconnect/);
  }
  const acct = await api(s, s.key, 'GET', `/integrated-account/${accountId}`);
  assert.equal(acct.json.status, 'needs_reauth', acct.text);
  const { denied } = await counters();
  assert.equal(denied, 1, 'one refused refresh');
});
