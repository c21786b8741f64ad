// Per-account pacing (issue 7): one token bucket per account in Redis,
// shared by every worker process. With JSMCP_PACE_API_TOKEN="1/m burst 10"
// (a refill too slow to matter during the test), 40 concurrent calls over
// TWO worker processes (two masters) get exactly 10 answers and 30
// rate-limit errors shaped like an upstream 429 (structured error with
// retry_after_s and reason "jsmcp-pacing", RateLimit-* and Retry-After
// headers), and the sandbox's request log shows only the 10 accepted calls
// went upstream. An account's own rule, set through the admin API
// ("pace"), replaces the credential type's: "1/m burst 3" serves 3 calls of
// 12, "off" serves all 12. Counts only, no timing assertions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, requireStack, startStack, startWorker, stopProc, stopStack } from './lib/mcp_stack.mjs';

const TOOL = 'get_single_jira_service_management_issue_by_id';
const BURST = 10;
requireStack();
let s;
let worker2;
let worker2Url;
let worker2Metrics; // the second pool's metrics listener
const sessions = [];

const HDR = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

async function rpc(url, sid, body) {
  const r = await fetch(url, { method: 'POST', headers: { ...HDR, ...(sid ? { 'Mcp-Session-Id': sid } : {}) }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, json: text ? JSON.parse(text) : null };
}

async function session(url) {
  const init = await rpc(url, null, {
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pace', version: '1' } },
  });
  assert.equal(init.status, 200);
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid);
  assert.equal((await rpc(url, sid, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
  return { url, sid };
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n')) {
    if (l.startsWith(name) && (l[name.length] === '{' || l[name.length] === ' ')) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

before(async () => {
  s = await startStack({ workers: 1, env: { JSMCP_PACE_API_TOKEN: `1/m burst ${BURST}`, JSM_SANDBOX_RATE_LIMIT: '0' } });
  const w2 = await startWorker(s, 'worker_pace_w2');
  ({ proc: worker2, url: worker2Url, metricsUrl: worker2Metrics } = w2);
  const path = new URL(s.mcpUrl).pathname;
  sessions.push(await session(`${s.workerUrl}${path}`), await session(`${worker2Url}${path}`));
});

after(async () => {
  if (!s) return;
  const w2 = await stopProc(worker2);
  const codes = await stopStack(s);
  assert.equal(w2, 0, 'second worker exit status (sanitizers?)');
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

test('a burst over two workers: exactly the bucket is served, the rest refused like a 429 without an upstream call', async () => {
  const since = (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1`)).json()).lastSeq;
  const calls = [];
  for (let i = 0; i < 40; i++) {
    const { url, sid } = sessions[i % 2];
    calls.push(rpc(url, sid, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: TOOL, arguments: { id: 'ITSM-994' } } }));
  }
  const res = await Promise.all(calls);
  const ok = res.filter((r) => r.status === 200 && !r.json.result.isError);
  const paced = res.filter((r) => r.json?.result?.structuredContent?.error?.rate_limit_reason === 'jsmcp-pacing');
  assert.equal(ok.length, BURST, `served ${ok.length}`);
  assert.equal(paced.length, 40 - BURST, `paced ${paced.length}`);
  for (const r of ok) assert.equal(r.json.result.structuredContent.key, 'ITSM-994');
  for (const r of paced) {
    assert.equal(r.status, 200, 'a tool error, not an HTTP error');
    const { result } = r.json;
    assert.equal(result.isError, true);
    const e = result.structuredContent.error;
    assert.equal(e.status, 429);
    assert.ok(Number.isInteger(e.retry_after_s) && e.retry_after_s >= 1 && e.retry_after_s <= 60, `retry_after_s ${e.retry_after_s}`);
    assert.match(e.hint, /retry_after_s/);
    assert.match(result.content[0].text, /rate limited \(jsmcp-pacing\); retry after \d+ s/);
    assert.equal(r.headers.get('retry-after'), String(e.retry_after_s));
    assert.equal(r.headers.get('ratelimit-limit'), String(BURST));
    assert.equal(r.headers.get('ratelimit-remaining'), '0');
    assert.equal(r.headers.get('ratelimit-reset'), String(e.retry_after_s));
  }
  const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}&limit=1000`)).json();
  const upstream = log.entries.filter((e) => e.path === '/rest/api/3/issue/ITSM-994');
  assert.equal(upstream.length, BURST, 'only the served calls reached the sandbox');
  const pacedMetric = (await metric(s.metricsUrl, 'jsmcp_worker_paced_total')) + (await metric(worker2Metrics, 'jsmcp_worker_paced_total'));
  // Each master publishes its registry every second; its own /metrics renders it fresh.
  assert.equal(pacedMetric, 40 - BURST);
  const perWorker = await Promise.all([metric(s.metricsUrl, 'jsmcp_worker_paced_total'), metric(worker2Metrics, 'jsmcp_worker_paced_total')]);
  assert.ok(perWorker[0] > 0 && perWorker[1] > 0, `both workers refused calls from the shared bucket (${perWorker})`);
});

// A second account with its own rule (admin API "pace"), one server on it.
async function accountWithPace(tenant, pace) {
  const acct = await api(s, s.key, 'POST', '/integrated-account', {
    tenant_id: tenant, site_url: s.sandboxUrl, pace,
    auth: { type: 'api_token', email: 'agent@sandbox.test', api_token: 'sandbox-api-token' },
  });
  assert.equal(acct.status, 201, acct.text);
  assert.equal(acct.json.pace, pace);
  const srv = await api(s, s.key, 'POST', `/integrated-account/${acct.json.id}/mcp`, { name: tenant, config: { methods: ['read'] } });
  assert.equal(srv.status, 201, srv.text);
  return session(`${s.workerUrl}${new URL(srv.json.url).pathname}`);
}

async function burst(sess, n) {
  const calls = [];
  for (let i = 0; i < n; i++) {
    calls.push(rpc(sess.url, sess.sid, { jsonrpc: '2.0', id: 500 + i, method: 'tools/call', params: { name: TOOL, arguments: { id: 'ITSM-994' } } }));
  }
  const res = await Promise.all(calls);
  return {
    ok: res.filter((r) => r.status === 200 && !r.json.result.isError).length,
    paced: res.filter((r) => r.json?.result?.structuredContent?.error?.rate_limit_reason === 'jsmcp-pacing'),
  };
}

test('an account\'s own rule from the admin API replaces the credential type\'s', async () => {
  const tight = await burst(await accountWithPace('paced-tight', '1/m burst 3'), 12);
  assert.equal(tight.ok, 3, `served ${tight.ok} under "1/m burst 3"`);
  assert.equal(tight.paced.length, 9);
  assert.equal(tight.paced[0].headers.get('ratelimit-limit'), '3', 'the account\'s burst, not the type\'s');
  const free = await burst(await accountWithPace('paced-off', 'off'), 12);
  assert.equal(free.ok, 12, `served ${free.ok} with "off" (the type's rule allows ${BURST})`);
  assert.equal(free.paced.length, 0);
});
