// The official MCP SDK client (and mcp-remote) against real workers, with
// MCP servers created through the admin API and tool calls reaching the
// JSM sandbox: Streamable HTTP, legacy SSE, and the stdio bridge.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { argsRefused, close, connect, exerciseSix, viaMcpRemote } from './lib/mcp_client.mjs';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack();
// The reference for what a read-only server lists: every list and get tool
// of the catalog in the repository.
const READ_TOOLS = JSON.parse(readFileSync(new URL('../../worker/catalog.json', import.meta.url), 'utf8')).tools
  .filter((t) => t.kind === 'list' || t.kind === 'get').map((t) => t.name).sort();
let s;
before(async () => { s = await startStack({ workers: 2 }); });
after(async () => {
  if (!s) return;
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

test('SDK client over Streamable HTTP: initialize, list, the six tools', async () => {
  const c = await connect(s.mcpUrl);
  assert.equal(c.client.getServerVersion().name, 'jsmcp');
  assert.ok(c.transport.sessionId, 'session id issued');
  await exerciseSix(c.client);
  await close(c);
});

test('SDK client over legacy HTTP+SSE: the six tools', async () => {
  const c = await connect(s.mcpUrl, { sse: true });
  await exerciseSix(c.client);
  await close(c);
});

test('a tools/call with a progressToken is answered as an SSE stream: progress, then the result', async () => {
  // The SDK client sets _meta.progressToken when given onprogress and reads the SSE answer.
  const c = await connect(s.mcpUrl);
  const progress = [];
  const res = await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } },
    undefined, { onprogress: (p) => progress.push(p) });
  assert.equal(res.structuredContent.key, 'ITSM-994');
  // One notification as the call starts (the total is not known yet) and
  // one as it ends; a call of one upstream request has no steps between
  // (worker_features.test.mjs: progress per step).
  assert.deepEqual(progress, [{ progress: 0, message: 'Calling get_single_jira_service_management_issue_by_id on the JSM site' },
    { progress: 1, total: 1, message: 'Done' }]);
  // The same over plain HTTP: the framing, and JSON (not SSE) without a progressToken.
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    'Mcp-Session-Id': c.transport.sessionId, 'MCP-Protocol-Version': '2025-11-25' };
  const call = (meta) => fetch(s.mcpUrl, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call',
    params: { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' }, ...(meta ? { _meta: meta } : {}) } }) });
  const sse = await call({ progressToken: 'tok-1' });
  assert.equal(sse.status, 200);
  assert.match(sse.headers.get('content-type'), /^text\/event-stream/);
  const events = (await sse.text()).split('\n\n').filter(Boolean).map((e) => {
    assert.match(e, /^event: message\ndata: /);
    return JSON.parse(e.slice(e.indexOf('data: ') + 6));
  });
  assert.equal(events.length, 3, JSON.stringify(events));
  assert.deepEqual(events[0], { jsonrpc: '2.0', method: 'notifications/progress',
    params: { progressToken: 'tok-1', progress: 0, message: 'Calling get_single_jira_service_management_issue_by_id on the JSM site' } });
  assert.deepEqual(events[1], { jsonrpc: '2.0', method: 'notifications/progress',
    params: { progressToken: 'tok-1', progress: 1, total: 1, message: 'Done' } });
  assert.equal(events[2].id, 7);
  assert.equal(events[2].result.structuredContent.key, 'ITSM-994');
  const plain = await call(null);
  assert.match(plain.headers.get('content-type'), /^application\/json/);
  assert.equal((await plain.json()).result.structuredContent.key, 'ITSM-994');
  // A progressToken of the wrong type is ignored (JSON answer); errors come on the stream too.
  assert.match((await call({ progressToken: { no: 1 } })).headers.get('content-type'), /^application\/json/);
  const bad = await fetch(s.mcpUrl, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call',
    params: { name: 'nope', arguments: {}, _meta: { progressToken: 5 } } }) });
  const last = (await bad.text()).trim().split('\n\n').pop();
  assert.equal(JSON.parse(last.slice(last.indexOf('data: ') + 6)).error.code, -32602);
  await close(c);
});

test('an unknown tool is a JSON-RPC -32602 error; bad arguments are the tool\'s error (isError), for the model to fix', async () => {
  const c = await connect(s.mcpUrl);
  await assert.rejects(c.client.callTool({ name: 'nope', arguments: {} }), /-32602.*Unknown tool/);
  await argsRefused(c.client, { name: 'get_single_jira_service_management_issue_by_id', arguments: {} },
    /missing required property 'id'/);
  const res = await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'NOPE-424242' } });
  assert.equal(res.isError, true);
  assert.ok(res.structuredContent.error.status === 404 && res.structuredContent.error.hint);
  await close(c);
});

test('JSON-RPC batches: answered in a 2025-03-26 session, each message as if alone; refused in later versions', async () => {
  const base = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const open = async (version) => {
    const r = await fetch(s.mcpUrl, { method: 'POST', headers: base, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'batcher', version: '1' } } }) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).result.protocolVersion, version);
    return { ...base, 'Mcp-Session-Id': r.headers.get('mcp-session-id'), 'MCP-Protocol-Version': version };
  };
  const post = (headers, body) => fetch(s.mcpUrl, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const get = (id, args) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'get_single_jira_service_management_issue_by_id', arguments: args } });
  const h = await open('2025-03-26');

  // Requests, notifications and bad messages together: one response per request and per bad message, by id.
  let r = await post(h, [get(1, { id: 'ITSM-994' }), { jsonrpc: '2.0', id: 'p', method: 'ping' },
    { jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 3, method: 'tools/list' },
    { jsonrpc: '1.0', id: 4, method: 'ping' }, 42, { jsonrpc: '2.0', id: 5, method: 'nope/nope' },
    { jsonrpc: '2.0', id: 6, method: 'initialize', params: {} }, get(7, {}), get(8, { id: 'ITSM-1\u0000' }),
    { jsonrpc: '2.0', id: 9, method: 'ping\u0000x' }]);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const answers = await r.json();
  assert.ok(Array.isArray(answers));
  assert.equal(answers.length, 10, JSON.stringify(answers));
  const by = new Map(answers.filter((a) => a.id !== null).map((a) => [a.id, a]));
  assert.equal(by.size, 9, 'one response per id');
  assert.equal(by.get(1).result.structuredContent.key, 'ITSM-994');
  assert.deepEqual(by.get('p').result, {});
  assert.ok(by.get(3).result.tools.length > 0);
  assert.equal(by.get(4).error.code, -32600);
  assert.equal(answers.filter((a) => a.id === null)[0].error.code, -32600, 'the message that is not one');
  assert.equal(by.get(5).error.code, -32601);
  assert.equal(by.get(6).error.code, -32600);
  assert.match(by.get(6).error.message, /initialize must not be part of a batch/);
  assert.equal(by.get(7).result.isError, true, 'bad arguments: the tool\'s error');
  assert.equal(by.get(8).result.isError, true, 'a NUL in the arguments: the tool\'s error');
  assert.equal(by.get(9).error.code, -32602, 'a NUL elsewhere: refused');

  // A request that asks for progress turns the answer into an event stream: every response is an event.
  r = await post(h, [{ ...get(11, { id: 'ITSM-994' }), params: { ...get(11, { id: 'ITSM-994' }).params, _meta: { progressToken: 'b-1' } } },
    get(12, { id: 'ITSM-995' }), { jsonrpc: '2.0', id: 13, method: 'ping' }]);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const events = (await r.text()).split('\n\n').filter(Boolean).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
  const progress = events.filter((e) => e.method === 'notifications/progress');
  assert.ok(progress.length >= 2 && progress.every((e) => e.params.progressToken === 'b-1'), JSON.stringify(events));
  const responses = new Map(events.filter((e) => 'id' in e).map((e) => [e.id, e]));
  assert.deepEqual([...responses.keys()].sort(), [11, 12, 13]);
  assert.equal(responses.get(11).result.structuredContent.key, 'ITSM-994');
  assert.equal(responses.get(12).result.structuredContent.key, 'ITSM-995');

  // Only notifications (a cancellation of nothing in flight among them): 202, no body.
  r = await post(h, [{ jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99 } }]);
  assert.equal(r.status, 202);
  assert.equal(await r.text(), '');
  // An empty batch, and one past the limit: one error, no call made.
  for (const body of ['[]', JSON.stringify(Array.from({ length: 33 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })))]) {
    r = await post(h, body);
    assert.equal(r.status, 400, body.slice(0, 40));
    assert.equal((await r.json()).error.code, -32600);
  }
  // Later versions removed batches: refused whole, nothing in it run.
  for (const version of ['2025-06-18', '2025-11-25']) {
    r = await post(await open(version), [get(21, { id: 'ITSM-994' })]);
    assert.equal(r.status, 400, version);
    const e = await r.json();
    assert.equal(e.error.code, -32600);
    assert.match(e.error.message, new RegExp(`2025-03-26 only; this session uses ${version}`));
  }
});

for (const transport of ['http-only', 'sse-only']) {
  test(`mcp-remote (${transport}) bridges stdio to the worker`, async () => {
    const url = transport === 'sse-only' ? `${s.mcpUrl}/sse` : s.mcpUrl;
    const replies = await viaMcpRemote(url, [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'claude-desktop-like', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } } },
    ], ['--transport', transport]);
    assert.equal(replies[0].result.serverInfo.name, 'jsmcp');
    // The stack's server has methods read: every list and get tool, on one page, all read-only.
    assert.deepEqual(replies[1].result.tools.map((t) => t.name).sort(), READ_TOOLS);
    assert.equal(replies[1].result.nextCursor, undefined, 'one page');
    assert.ok(replies[1].result.tools.every((t) => t.annotations.readOnlyHint === true));
    assert.equal(replies[2].result.structuredContent.key, 'ITSM-994');
  });
}

test('upstream 429: isError with retry_after_s and reason, RateLimit-* and Retry-After on the HTTP answer, no retry', async () => {
  const put = await fetch(`${s.sandboxUrl}/__sandbox/faults`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ rate429: 1, retryAfter429: 7, pathPrefix: '/rest/api/3/issue/ITSM-1042', count: 1 }),
  });
  assert.ok(put.ok, await put.text());
  const H = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const init = await fetch(s.mcpUrl, { method: 'POST', headers: H, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid);
  const before = await (await fetch(`${s.sandboxUrl}/__sandbox/counters`)).json();
  const r = await fetch(s.mcpUrl, {
    method: 'POST', headers: { ...H, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-1042' } } }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('retry-after'), '7');
  assert.match(r.headers.get('ratelimit-reset') ?? '', /^\d+$/);
  const body = await r.json();
  assert.equal(body.result.isError, true);
  const e = body.result.structuredContent.error;
  assert.equal(e.status, 429);
  assert.equal(e.retry_after_s, 7);
  assert.ok(e.hint);
  const after = await (await fetch(`${s.sandboxUrl}/__sandbox/counters`)).json();
  assert.equal(after.rateLimited - before.rateLimited, 1, 'exactly one upstream request: no retry');
  await fetch(`${s.sandboxUrl}/__sandbox/faults`, { method: 'DELETE' });
});
