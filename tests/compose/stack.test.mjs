// make compose-test's scenario (run by deploy/compose-test.sh once every
// service of docker-compose.yml is healthy): the stack as an operator and
// as Claude use it, through the ports published on 127.0.0.1 only. The
// tests run in order and share state (each needs the ones before it).
// Environment (set by deploy/compose-test.sh): CT_API_URL, CT_MCP_BASE (the
// load balancer), CT_SANDBOX_URL, CT_DB_URL (PostgreSQL published for this
// test), CT_BOOTSTRAP_KEY, CT_COMPOSE (the docker-compose command, JSON),
// CT_ARTIFACTS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { lostAudit, mcpSession, request, sleep, toolCall, tally } from '../faults/lib.mjs';
import { articleOldestOutages, articleTriage, close, connect, listAllTools } from '../node/lib/mcp_client.mjs';

const E = process.env;
for (const v of ['CT_API_URL', 'CT_MCP_BASE', 'CT_SANDBOX_URL', 'CT_DB_URL', 'CT_BOOTSTRAP_KEY', 'CT_COMPOSE', 'CT_ARTIFACTS'])
  if (!E[v]) throw new Error(`${v} is not set: run through deploy/compose-test.sh (make compose-test)`);
const DC = JSON.parse(E.CT_COMPOSE);
const CATALOG = JSON.parse(readFileSync(new URL('../../worker/catalog.json', import.meta.url), 'utf8')).tools;
const TOOL = 'get_single_jira_service_management_issue_by_id';
const ARGS = { id: 'ITSM-994' };
const st = {}; // what the tests create, in order

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout.trim();
}
const compose = (...args) => run(DC[0], [...DC.slice(1), ...args]);
// Container ids (kept across restarts; docker-compose itself is slow to start).
const ids = new Map();
const cid = (service) => {
  if (!ids.has(service)) ids.set(service, compose('ps', '-q', service));
  return ids.get(service);
};
const inspect = (id, fmt) => run('docker', ['inspect', '-f', fmt, id]);
const health = (id) => inspect(id, '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}');
const containerLogs = (id) => { const r = spawnSync('docker', ['logs', id], { encoding: 'utf8', maxBuffer: 1 << 28 }); return r.stdout + r.stderr; };
const sql = (q) => run('psql', [E.CT_DB_URL, '-tAc', q]);
// The sandbox's log of the requests it served (published on 127.0.0.1).
const sandboxLog = async (since, limit) => (await fetch(`${E.CT_SANDBOX_URL}/__sandbox/requests?since=${since}&limit=${limit}`)).json();
const tallyBy = (xs, key) => xs.reduce((m, x) => ({ ...m, [key(x)]: (m[key(x)] || 0) + 1 }), {});

async function admin(key, method, p, body) {
  const r = await request(`${E.CT_API_URL}${p}`, { method, body, headers: { Authorization: `Bearer ${key}` } });
  if (r.error) return { status: 0, text: r.error, json: null };
  return r;
}

// Polls fn() (sync or async, truthy = done; a throw counts as not done)
// every 250 ms until ms pass.
async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  let err;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      err = e;
    }
    if (Date.now() > end) assert.fail(`${what}: not within ${ms / 1000} s${err ? ` (last error: ${err.message})` : ''}`);
    await sleep(250);
  }
}

// Start time and restart count of each of our containers: a recovery
// "without a restart of ours" leaves them as they were.
const OURS = ['api', 'worker-1', 'worker-2', 'sweeper', 'sandbox', 'lb'];
const starts = () => Object.fromEntries(OURS.map((s) => [s, inspect(cid(s), '{{.State.StartedAt}} restarts={{.RestartCount}}')]));

// `clients` loops of one tools/call each (own connection, unique
// X-Request-Id) until stop(); results land in `out` as they end.
async function load(url, clients, tag, stop, out) {
  const sid = await mcpSession(url);
  await Promise.all(Array.from({ length: clients }, async () => {
    while (!stop()) {
      const r = await toolCall(url, sid, TOOL, ARGS, { tag });
      r.t = Date.now();
      out.push(r);
    }
  }));
}

// The tools/call requests an SDK client sends, counted per tool.
const sent = {};
function counting(client) {
  const callTool = client.callTool.bind(client);
  client.callTool = (params, ...rest) => {
    sent[params.name] = (sent[params.name] || 0) + 1;
    return callTool(params, ...rest);
  };
  return client;
}

test('the bootstrap key creates a workspace and its API key', async () => {
  const ws = await admin(E.CT_BOOTSTRAP_KEY, 'POST', '/workspaces', { name: 'compose-test' });
  assert.equal(ws.status, 201, ws.text);
  const key = await admin(E.CT_BOOTSTRAP_KEY, 'POST', `/workspaces/${ws.json.id}/api-keys`, { name: 'operator' });
  assert.equal(key.status, 201, key.text);
  st.key = key.json.key;
  const list = await admin(st.key, 'GET', '/integrated-account');
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.result, []);
  assert.equal((await admin('jsk_not-a-key', 'GET', '/integrated-account')).status, 401);
});

test('an account on the sandbox container, and an MCP server whose URL is the load balancer', async () => {
  const acct = await admin(st.key, 'POST', '/integrated-account', {
    tenant_id: 'compose-cust', site_url: 'http://sandbox:8090',
    auth: { type: 'api_token', email: 'agent@sandbox.test', api_token: 'sandbox-api-token' },
  });
  assert.equal(acct.status, 201, acct.text);
  st.acct = acct.json.id;
  const srv = await admin(st.key, 'POST', `/integrated-account/${st.acct}/mcp`, { name: 'Claude', config: {}, expires_at: null });
  assert.equal(srv.status, 201, srv.text);
  st.srv = srv.json.id;
  st.url = srv.json.url;
  assert.ok(st.url.startsWith(`${E.CT_MCP_BASE}/mcp/`), st.url);
  st.token = st.url.slice(`${E.CT_MCP_BASE}/mcp/`.length);
  assert.ok(st.token.length >= 20, 'a secret token in the URL');
});

for (const sse of [false, true]) {
  test(`through nginx over ${sse ? 'legacy HTTP+SSE' : 'Streamable HTTP'}: every tool listed, the article's two workflows`, async () => {
    const c = await connect(st.url, { sse });
    try {
      assert.equal(c.client.getServerVersion().name, 'jsmcp');
      const names = (await listAllTools(c.client)).map((t) => t.name).sort();
      assert.deepEqual(names, CATALOG.map((t) => t.name).sort());
      counting(c.client);
      await articleTriage(c.client);
      await articleOldestOutages(c.client);
    } finally {
      await close(c);
    }
  });
}

test('audit rows: exactly one per tool call, in PostgreSQL and through the admin API', async () => {
  const want = Object.values(sent).reduce((a, b) => a + b, 0);
  assert.ok(want >= 14, `the workflows made ${want} calls`);
  const where = `server_id = '${st.srv}'`;
  await waitFor(() => Number(sql(`select count(*) from tool_calls where ${where}`)) >= want, 30000, `${want} audit rows`);
  // A tool's name is text or, once tool_names numbered it, tool_id (migration 028).
  const rows = sql(`select coalesce(c.tool, n.name), count(*), count(distinct call_id), min(upstream_status), max(upstream_status)`
    + ` from tool_calls c left join tool_names n on n.id = c.tool_id where ${where} group by 1 order by 1`)
    .split('\n').map((l) => l.split('|'));
  assert.deepEqual(Object.fromEntries(rows.map((r) => [r[0], Number(r[1])])), sent, 'one row per call, per tool');
  for (const r of rows) {
    assert.equal(r[2], r[1], `${r[0]}: each row its own call_id`);
    assert.deepEqual([r[3], r[4]], ['200', '200'], `${r[0]}: upstream status`);
  }
  const calls = await admin(st.key, 'GET', `/integrated-account/${st.acct}/mcp/${st.srv}/calls`);
  assert.equal(calls.status, 200, calls.text);
  assert.ok(calls.json.result.length > 0);
  for (const c of calls.json.result) {
    assert.ok(sent[c.tool], `listed call of ${c.tool}`);
    assert.equal(c.upstream_status, 200);
    assert.match(c.args_sha256, /^[0-9a-f]{64}$/);
  }
});

test('nginx logs the MCP URLs with the token masked, never the token', () => {
  const log = containerLogs(cid('lb'));
  writeFileSync(path.join(E.CT_ARTIFACTS, 'lb-before-kill.log'), log);
  assert.match(log, /"POST \/mcp\/\*\*\* HTTP\/1\.1" 200 /, 'Streamable HTTP requests logged, masked');
  assert.match(log, /"GET \/mcp\/\*\*\*\/sse HTTP\/1\.1" 200 /, 'legacy SSE stream logged, masked');
  assert.match(log, /"POST \/mcp\/\*\*\*\/messages HTTP\/1\.1" 202 /, 'legacy SSE messages logged, without their query');
  assert.ok(!log.includes(st.token), 'the token is not in the load balancer log');
  assert.ok(!/sessionId=/.test(log), 'nor the legacy session ids');
});

test('a worker container killed (-9) under load: 0 lost audit records, both workers serve again', { timeout: 240000 }, async () => {
  const w1 = cid('worker-1');
  const restarts = Number(inspect(w1, '{{.RestartCount}}'));
  const results = [];
  let stop = false;
  const running = load(st.url, 8, 'kill', () => stop, results);
  try {
    await waitFor(() => results.filter((r) => r.outcome === 'ok').length >= 40, 60000, '40 calls answered');
    const seq0 = (await sandboxLog(0, 1)).lastSeq;
    // Every upstream request from the kill on, read as the load goes: the
    // sandbox keeps the last 2,000 only, fewer than a slow restart under
    // this load sends (a read after the restart once found the kill gone).
    const upstream = [];
    let since = seq0;
    const readUpstream = async () => {
      for (let page; (page = await sandboxLog(since, 1000)).entries.length; since = page.entries.at(-1).seq)
        upstream.push(...page.entries);
    };
    // The container's main process (the worker master, PID 1 inside) from
    // the host: a crash, so Docker's restart policy brings it back.
    process.kill(Number(inspect(w1, '{{.State.Pid}}')), 'SIGKILL');
    const tKill = Date.now();
    await waitFor(async () => {
      await readUpstream();
      return Number(inspect(w1, '{{.RestartCount}}')) > restarts && health(w1) === 'running healthy';
    }, 120000, 'worker-1 restarted and healthy');
    st.tUp = Date.now();
    await readUpstream();
    // nginx passes a call to the other worker only when the first never got
    // it (tools/call may write): no call reached the sandbox twice. Each
    // call is one upstream request carrying the call's X-Request-Id.
    assert.ok(upstream.length && upstream[0].seq === seq0 + 1, 'the sandbox log reaches back to the kill');
    assert.ok(upstream.every((e, i) => i === 0 || e.seq === upstream[i - 1].seq + 1),
      'the sandbox log was read without a gap since the kill');
    const twice = Object.entries(tallyBy(upstream.filter((e) => e.requestId.startsWith('kill-')), (e) => e.requestId)).filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no call executed twice upstream');
    // Until nginx has sent calls to the restarted worker-1 (its address in
    // the access log with a 200), and 100 calls more.
    const ip = inspect(w1, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}');
    const lb = cid('lb');
    await waitFor(() => {
      const after = new Set(results.filter((r) => r.t > st.tUp && r.outcome === 'ok').map((r) => r.rid));
      return containerLogs(lb).split('\n').some((l) => l.includes(`upstream=${ip}:8081 upstream_status=200`) &&
        after.has((l.match(/rid=(\S+)/) || [])[1]));
    }, 60000, `calls served by the restarted worker-1 (${ip})`);
    // Then 100 more calls: all must succeed.
    const n = results.length;
    await waitFor(() => results.length >= n + 100, 60000, '100 more calls');
    stop = true;
    await running;
    const t = tally(results);
    const failed = results.filter((r) => r.outcome !== 'ok');
    const late = results.slice(n);
    writeFileSync(path.join(E.CT_ARTIFACTS, 'kill-results.json'), JSON.stringify({ tally: t, failed, tKill, tUp: st.tUp }, null, 1));
    console.log(`# kill under load: ${JSON.stringify(t)}, back in ${st.tUp - tKill} ms`);
    // Only calls in flight at the kill may fail (8 clients), and clearly.
    assert.ok(failed.length <= 8, `failed: ${JSON.stringify(t.by)}`);
    for (const r of failed) assert.ok(r.t >= tKill, `a failure before the kill: ${r.outcome} ${r.detail}`);
    assert.ok(late.length >= 100 && late.every((r) => r.outcome === 'ok'), `after recovery: ${JSON.stringify(tally(late).by)}`);
    const lost = await lostAudit(E.CT_DB_URL, results);
    assert.deepEqual(lost, [], 'every answered call has its audit record');
    // nginx passes a call to the other worker only when the first never got
    // it (tools/call may write): no call ran twice.
    assert.equal(sql("select count(*) from (select request_id from tool_calls where request_id like 'kill-%' group by 1 having count(*) > 1) d"), '0',
      'no call executed twice');
  } finally {
    stop = true;
    await running;
  }
});

// Waits until the API's /readyz answers `status`; returns that answer.
const apiReady = (status, ms) => waitFor(async () => {
  const r = await request(`${E.CT_API_URL}/readyz`, { method: 'GET' });
  return r.status === status ? r : null;
}, ms, `the API's /readyz answering ${status}`);

// A fresh session's tools/call through the load balancer.
const oneCall = async (tag) => toolCall(st.url, await mcpSession(st.url), TOOL, ARGS, { tag });

test('Redis stopped and started: clear errors meanwhile, recovery without a restart of ours', { timeout: 240000 }, async () => {
  const before = starts();
  const sid = await mcpSession(st.url);
  compose('stop', 'redis');
  try {
    const ready = await apiReady(503, 30000);
    assert.match(ready.headers['content-type'], /^application\/problem\+json/);
    assert.equal(ready.json.detail, 'Redis is unavailable');
    assert.equal(ready.json.redis, false);
    // Tool calls: a 503 saying Redis is unavailable (a worker may serve a
    // call from its 2 s cache first), never a hang or a dropped connection.
    const seen = [];
    await waitFor(async () => {
      const r = await toolCall(st.url, sid, TOOL, ARGS, { tag: 'redis-down', timeoutMs: 10000 });
      seen.push(r);
      return r.outcome === 'http_503';
    }, 30000, 'a 503 from the workers');
    for (const r of seen) {
      assert.ok(['ok', 'http_503'].includes(r.outcome), `${r.outcome} ${r.detail}`);
      if (r.outcome === 'http_503') assert.match(r.detail, /unavailable/i);
    }
  } finally {
    compose('start', 'redis');
  }
  await apiReady(200, 60000);
  // Each worker process reconnects on its own (after a failed attempt with a
  // backoff of up to 5 s): until then its answers are the same clear 503.
  // Then 20 calls in a row succeed, on the session of before the outage.
  const after = [];
  await waitFor(async () => {
    const r = await toolCall(st.url, sid, TOOL, ARGS, { tag: 'redis-after' });
    after.push(r);
    return after.length >= 20 && after.slice(-20).every((x) => x.outcome === 'ok');
  }, 60000, 'the session of before the outage working again');
  for (const r of after) {
    assert.ok(['ok', 'http_503'].includes(r.outcome), `${r.outcome} ${r.detail}`);
    if (r.outcome === 'http_503') assert.match(r.detail, /unavailable, try again/, 'a clear body');
  }
  console.log(`# after Redis came back: ${JSON.stringify(tally(after).by)} ${JSON.stringify(after.filter((r) => r.outcome !== 'ok').map((r) => r.detail))}`);
  assert.deepEqual(starts(), before, 'none of our containers restarted');
});

test('PostgreSQL stopped and started: the API says so, workers keep serving, records arrive after', { timeout: 240000 }, async () => {
  const before = starts();
  const during = [];
  compose('stop', 'postgres');
  try {
    const ready = await apiReady(503, 30000);
    assert.equal(ready.json.detail, 'PostgreSQL is unavailable');
    const list = await admin(st.key, 'GET', '/integrated-account');
    assert.equal(list.status, 503, list.text);
    assert.match(list.headers['content-type'], /^application\/problem\+json/);
    // The workers need Redis only: calls go on, their audit records wait in Redis.
    const sid = await mcpSession(st.url);
    for (let i = 0; i < 20; i++) during.push(await toolCall(st.url, sid, TOOL, ARGS, { tag: 'pg-down' }));
    assert.deepEqual(tally(during).by, { ok: 20 });
  } finally {
    compose('start', 'postgres');
  }
  await apiReady(200, 90000);
  const list = await admin(st.key, 'GET', '/integrated-account');
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.result.length, 1);
  assert.deepEqual(await lostAudit(E.CT_DB_URL, during), [], 'records of the calls made meanwhile arrived');
  assert.deepEqual(starts(), before, 'none of our containers restarted');
});

test('the sweeper deletes an expired server from PostgreSQL, and its URL stops working', { timeout: 120000 }, async () => {
  const expires = new Date(Date.now() + 5000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const srv = await admin(st.key, 'POST', `/integrated-account/${st.acct}/mcp`, { name: 'short-lived', config: {}, expires_at: expires });
  assert.equal(srv.status, 201, srv.text);
  assert.equal(sql(`select count(*) from mcp_servers where id = '${srv.json.id}'`), '1');
  await mcpSession(srv.json.url); // works before it expires
  await waitFor(() => sql(`select count(*) from mcp_servers where id = '${srv.json.id}'`) === '0', 60000, 'the row deleted');
  assert.ok(Date.now() >= Date.parse(expires), 'not before it expired');
  assert.equal((await admin(st.key, 'GET', `/integrated-account/${st.acct}/mcp/${srv.json.id}`)).status, 404);
  const r = await request(srv.json.url, {
    headers: { Accept: 'application/json, text/event-stream' },
    body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } },
  });
  assert.equal(r.status, 404, r.text);
  // The long-lived server is untouched.
  assert.equal((await oneCall('after-sweep')).outcome, 'ok');
});
