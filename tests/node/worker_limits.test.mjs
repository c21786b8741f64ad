// Limits per MCP server URL (issue 20): one leaked URL must not fill Redis or
// the connection table for every tenant. With JSMCP_INIT_RATE_PER_TOKEN,
// JSMCP_SESSIONS_PER_TOKEN and JSMCP_STREAMS_PER_TOKEN set low, against two
// worker pools sharing Redis (so the limits hold across processes and
// hosts): initialize past the rate gets 429 with Retry-After, a session past
// the cap evicts the least recently used one, an SSE stream past the cap
// gets 429 until one closes; other URLs are not affected.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createServer, requireStack, startStack, startWorker, stopProc, stopStack } from './lib/mcp_stack.mjs';

requireStack({ sandbox: false });
const LIMITS = { JSMCP_INIT_RATE_PER_TOKEN: '1/m burst 5', JSMCP_SESSIONS_PER_TOKEN: '4', JSMCP_STREAMS_PER_TOKEN: '2' };
let s;
let pool2; // a second worker pool on the same Redis
const H = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

before(async () => {
  s = await startStack({ workers: 2, sandbox: false, env: LIMITS });
  pool2 = await startWorker(s, 'worker_limits_w2');
});
after(async () => {
  if (!s) return;
  const w2 = await stopProc(pool2?.proc);
  const codes = await stopStack(s);
  assert.deepEqual({ ...codes, w2 }, { worker: 0, api: 0, w2: 0 }, 'clean exits (no sanitizer reports)');
});

// The same URL path on either pool.
const on = (url, pool) => (pool === 2 ? url.replace(s.workerUrl, pool2.url) : url);

async function init(url) {
  const r = await fetch(url, {
    method: 'POST', headers: H,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'limits', version: '1' } } }),
  });
  return { status: r.status, sid: r.headers.get('mcp-session-id'), retryAfter: r.headers.get('retry-after'), body: await r.text() };
}

async function ping(url, sid) {
  const r = await fetch(url, { method: 'POST', headers: { ...H, 'Mcp-Session-Id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
  await r.text();
  return r.status;
}

// An open SSE stream (GET /mcp/<token> with a session, or legacy /sse):
// {status, retryAfter, close()}.
async function stream(url, sid) {
  const ac = new AbortController();
  const r = await fetch(url, { headers: { Accept: 'text/event-stream', ...(sid ? { 'Mcp-Session-Id': sid } : {}) }, signal: ac.signal });
  const out = { status: r.status, retryAfter: r.headers.get('retry-after') };
  if (r.status !== 200) await r.text();
  out.close = () => { ac.abort(); r.body?.cancel().catch(() => {}); };
  return out;
}

function redis(...args) {
  const u = new URL(process.env.JSMCP_TEST_REDIS_URL);
  const r = spawnSync('redis-cli', ['-h', u.hostname, '-p', u.port, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}
const tokenHash = (url) => createHash('sha256').update(new URL(url).pathname.split('/')[2]).digest('hex');

// Polls until the pool's metrics (published by each process once a second)
// sum to at least min for name, over both pools; returns the sum.
async function metricAtLeast(name, min) {
  let sum = 0;
  for (let i = 0; i < 300 && sum < min; i++) { // 30 s at most
    if (i) await new Promise((r) => setTimeout(r, 100));
    sum = (await metric(s.metricsUrl, name)) + (await metric(pool2.metricsUrl, name));
  }
  return sum;
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n')) if (l.startsWith(name) && (l[name.length] === '{' || l[name.length] === ' ')) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

test('initialize per URL: the burst, then 429 with Retry-After, counted across worker pools; other URLs unaffected', async () => {
  const url = (await createServer(s, { name: 'rate' })).url;
  for (let i = 0; i < 5; i++) {
    const r = await init(on(url, 1 + (i % 2)));
    assert.equal(r.status, 200, `initialize ${i + 1} of the burst: ${r.status} ${r.body}`);
  }
  for (const pool of [1, 2]) {
    const r = await init(on(url, pool));
    assert.equal(r.status, 429, `initialize past the burst on pool ${pool}: ${r.status} ${r.body}`);
    assert.ok(Number(r.retryAfter) >= 1 && Number(r.retryAfter) <= 60, `Retry-After ${r.retryAfter}`);
    assert.match(JSON.parse(r.body).error.message, /Too Many Requests: too many new sessions for this MCP server URL; retry after \d+ s/);
  }
  const other = (await createServer(s, { name: 'other' })).url;
  assert.equal((await init(other)).status, 200, 'another URL initializes');
  assert.ok((await metricAtLeast('jsmcp_worker_limited_total', 2)) >= 2, 'counted in jsmcp_worker_limited_total');
});

test('sessions per URL: past the cap the least recently used session is evicted', async () => {
  const url = (await createServer(s, { name: 'cap' })).url;
  const sids = [];
  for (let i = 0; i < 4; i++) {
    const r = await init(on(url, 1 + (i % 2)));
    assert.equal(r.status, 200, r.body);
    sids.push(r.sid);
  }
  // The oldest session is used, so the second one is now the least recently used.
  assert.equal(await ping(url, sids[0]), 200);
  const key = `${s.env.JSMCP_REDIS_PREFIX}tsess:${tokenHash(url)}`;
  assert.equal(redis('ZCARD', key), '4');
  const fifth = await init(on(url, 2));
  assert.equal(fifth.status, 200, fifth.body);
  assert.equal(redis('ZCARD', key), '4', 'still at the cap');
  assert.equal(await ping(url, sids[1]), 404, 'the least recently used session is gone');
  for (const sid of [sids[0], sids[2], sids[3], fifth.sid]) assert.equal(await ping(on(url, 2), sid), 200, `${sid} kept`);
  assert.equal(redis('EXISTS', `${s.env.JSMCP_REDIS_PREFIX}sess:${sids[1]}`), '0');
  // DELETE takes a session out of the URL's count.
  const del = await fetch(url, { method: 'DELETE', headers: { 'Mcp-Session-Id': sids[2] } });
  assert.equal(del.status, 200);
  assert.equal(redis('ZCARD', key), '3');
  assert.ok((await metricAtLeast('jsmcp_worker_sessions_evicted_total', 1)) >= 1, 'counted in jsmcp_worker_sessions_evicted_total');
});

test('open SSE streams per URL: 429 with Retry-After past the cap, across pools, until one closes', async () => {
  const url = (await createServer(s, { name: 'streams' })).url;
  const a = await init(url);
  const b = await init(on(url, 2));
  const c = await init(url);
  const s1 = await stream(url, a.sid);
  const s2 = await stream(on(url, 2), b.sid);
  assert.deepEqual([s1.status, s2.status], [200, 200]);
  const s3 = await stream(url, c.sid);
  assert.equal(s3.status, 429, 'a third stream of the URL');
  assert.ok(Number(s3.retryAfter) >= 1, `Retry-After ${s3.retryAfter}`);
  const legacy = await stream(`${on(url, 2)}/sse`);
  assert.equal(legacy.status, 429, 'a legacy SSE stream counts too');
  // Another URL still streams.
  const o = (await createServer(s, { name: 'streams-other' })).url;
  const os = await stream(o, (await init(o)).sid);
  assert.equal(os.status, 200);
  os.close();
  // Once a stream closes, its lease goes and a new stream opens.
  s1.close();
  let again;
  for (let i = 0; i < 300; i++) { // 30 s at most
    again = await stream(url, c.sid);
    if (again.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(again.status, 200, 'a stream opens once one closed');
  again.close();
  s2.close();
});
