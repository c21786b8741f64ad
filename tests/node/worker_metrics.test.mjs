// Worker metrics and logs (issue 7): after tool calls, /metrics (on its own
// listener, JSMCP_WORKER_METRICS_LISTEN; the public port answers 404) carries
// per-account call counts (the account label capped by
// JSMCP_METRICS_MAX_ACCOUNTS: here 1, so a second account counts as
// "other"), errors by class, upstream statuses and the latency histogram;
// the JSON log line of a failed call and the upstream request carry the
// client's X-Request-Id.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { close, connect } from './lib/mcp_client.mjs';
import { api, createServer, requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

const TOOL = 'get_single_jira_service_management_issue_by_id';
const RID = `metrics-rid-${process.pid}`;
requireStack();
let s;

before(async () => {
  s = await startStack({ workers: 1, env: { JSMCP_METRICS_MAX_ACCOUNTS: '1', JSM_SANDBOX_RATE_LIMIT: '0' } });
});
after(async () => {
  if (!s) return;
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

function samples(text, name) {
  const out = new Map();
  for (const l of text.split('\n')) {
    if (!l.startsWith(name) || (l[name.length] !== '{' && l[name.length] !== ' ')) continue;
    const sp = l.lastIndexOf(' ');
    out.set(l.slice(0, sp), Number(l.slice(sp + 1)));
  }
  return out;
}

test('/metrics after calls: per-account counts (capped), errors by class, upstream status, latency; request id in logs and upstream', async () => {
  const a = await connect(s.mcpUrl, { headers: { 'X-Request-Id': RID } });
  for (let i = 0; i < 3; i++) assert.ok(!(await a.client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } })).isError);
  const bad = await a.client.callTool({ name: TOOL, arguments: { id: 'NOPE-1' } });
  assert.equal(bad.isError, true);
  await close(a);

  const acct2 = await api(s, s.key, 'POST', '/integrated-account', {
    tenant_id: 'cust-2', site_url: s.sandboxUrl,
    auth: { type: 'api_token', email: 'agent@sandbox.test', api_token: 'sandbox-api-token' },
  });
  assert.equal(acct2.status, 201, acct2.text);
  const srv2 = await createServer({ ...s, accountId: acct2.json.id }, { name: 'second' });
  const b = await connect(srv2.url);
  for (let i = 0; i < 2; i++) assert.ok(!(await b.client.callTool({ name: TOOL, arguments: { id: 'ITSM-994' } })).isError);
  await close(b);

  // The public port does not serve /metrics: it names every tenant's
  // accounts (issue 20). Its own listener (loopback) does.
  for (let i = 0; i < 4; i++) {
    const pub = await fetch(`${s.workerUrl}/metrics`);
    const body = await pub.text();
    assert.equal(pub.status, 404, `public /metrics: ${pub.status}`);
    assert.ok(!body.includes(s.accountId) && !body.includes('jsmcp_worker'), body.slice(0, 200));
  }
  const text = await (await fetch(`${s.metricsUrl}/metrics`)).text();
  const acc = samples(text, 'jsmcp_worker_account_calls_total');
  assert.equal(acc.get(`jsmcp_worker_account_calls_total{account="${s.accountId}"}`), 4, text);
  assert.equal(acc.get('jsmcp_worker_account_calls_total{account="other"}'), 2, 'the second account is past the cap');
  assert.equal(acc.size, 2, [...acc.keys()].join(', '));
  assert.equal(samples(text, 'jsmcp_worker_tool_errors_total').get('jsmcp_worker_tool_errors_total{class="upstream_4xx"}'), 1);
  const calls = samples(text, 'jsmcp_worker_tool_calls_total');
  assert.equal(calls.get(`jsmcp_worker_tool_calls_total{tool="${TOOL}",upstream_status="200"}`), 5);
  assert.equal(calls.get(`jsmcp_worker_tool_calls_total{tool="${TOOL}",upstream_status="404"}`), 1);
  const hist = samples(text, 'jsmcp_worker_tool_call_duration_seconds_count');
  assert.equal(hist.get(`jsmcp_worker_tool_call_duration_seconds_count{tool="${TOOL}"}`), 6);
  assert.ok(text.includes(`jsmcp_worker_tool_call_duration_seconds_bucket{tool="${TOOL}",le="+Inf"} 6`), 'histogram buckets');
  for (const name of ['jsmcp_worker_redis_errors_total', 'jsmcp_worker_paced_total', 'jsmcp_worker_refresh_requests_total'])
    assert.equal(samples(text, name).get(name), 0, `${name} is exported at 0`);

  const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json();
  assert.ok(log.entries.some((e) => e.requestId === RID && e.path === '/rest/api/3/issue/NOPE-1'), 'the request id went upstream');
  let line;
  for (let i = 0; i < 300 && !line; i++) { // written once the call ended: 30 s at most
    line = readFileSync(s.worker.logPath, 'utf8').split('\n').find((l) => l.includes('"tool call failed"') && l.includes(`"request_id":"${RID}"`));
    if (!line) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(line, 'a JSON log line of the failed call with the request id');
  const j = JSON.parse(line);
  assert.equal(j.error_class, 'upstream_4xx');
  assert.equal(j.upstream_status, '404');
  assert.equal(j.account, s.accountId);
});
