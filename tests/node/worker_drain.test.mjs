// SIGTERM drains the worker pool: a tool call in flight (held at the JSM
// sandbox until the test lets it go) still gets its answer, a legacy call
// already answered 202 still runs to its end, open SSE streams end cleanly,
// and every process exits 0 (no sanitizer report). Each step waits on the
// event itself: the sandbox says when the calls are in flight, the stream's
// end says the drain began.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { connect } from './lib/mcp_client.mjs';
import {
  holdSandbox, releaseSandbox, requireStack, sandboxHeld, startStack, stopProc, stopStack, waitFor,
} from './lib/mcp_stack.mjs';

requireStack();
const CALL = { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } };
const ISSUE = '/rest/api/3/issue/ITSM-994'; // the call's request at the site

test('SIGTERM: in-flight calls finish, streams close, clean exit', { timeout: 120000 }, async () => {
  // One worker process: the stream's end then says that the process holding
  // the calls has begun to drain.
  const s = await startStack({ workers: 1 });
  try {
    const c = await connect(s.mcpUrl);
    // A legacy SSE stream, read raw, to see how it ends.
    const sse = await fetch(`${s.mcpUrl}/sse`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(sse.status, 200);
    const reader = sse.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /event: endpoint/);
    const endpoint = new URL(first.match(/data: (\S+)/)[1], s.mcpUrl);
    const streamEnd = (async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) return 'ended';
      }
    })();

    // One call first: libcurl holds a second request to a host until the
    // first answer on a new cleartext connection says it cannot multiplex
    // (CURLOPT_PIPEWAIT), so the held call must not be the first.
    assert.equal((await c.client.callTool(CALL)).structuredContent.key, 'ITSM-994');
    await holdSandbox(s, ISSUE);
    const call = c.client.callTool(CALL);
    await waitFor(async () => (await sandboxHeld(s)) === 1, 'the tool call to reach the JSM site');
    // A legacy POST is answered 202 at once; its call then runs with no HTTP
    // request holding it, and the drain must still wait for it (audit, Redis).
    const legacy = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: CALL }) });
    assert.equal(legacy.status, 202);
    await waitFor(async () => (await sandboxHeld(s)) === 2, 'the legacy call to reach the JSM site');

    const exited = stopProc(s.worker); // SIGTERM to the master while both calls wait at the site
    assert.equal(await streamEnd, 'ended', 'the SSE stream ended (last chunk) rather than hanging');
    assert.equal(s.worker.exitCode, null, 'the drain waits for the calls in flight');
    assert.equal(await releaseSandbox(s), 2, 'both calls were still held at the site');
    const res = await call;
    assert.ok(!res.isError, JSON.stringify(res.content));
    assert.equal(res.structuredContent.key, 'ITSM-994');
    assert.equal(await exited, 0, 'the master and its workers exit cleanly');
    s.worker = null;
    // The worker took both answers from the site (the sandbox logs a request
    // whose client left with status 0).
    const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json();
    const issue = log.entries.filter((e) => e.path === ISSUE);
    assert.deepEqual(issue.map((e) => e.status), [200, 200, 200], JSON.stringify(issue));
    await c.client.close().catch(() => {});
  } finally {
    await stopStack(s);
  }
});

test('SIGTERM with a call that outlives JSMCP_DRAIN_TIMEOUT: the master kills what is left and exits 1', { timeout: 120000 }, async () => {
  const s = await startStack({ workers: 1, env: { JSMCP_DRAIN_TIMEOUT: '1000' } });
  try {
    const c = await connect(s.mcpUrl);
    await holdSandbox(s, ISSUE); // the call is never answered: only the deadline can end the drain
    const call = c.client.callTool(CALL).then(() => 'answered', () => 'failed');
    await waitFor(async () => (await sandboxHeld(s)) === 1, 'the tool call to reach the JSM site');
    const t0 = Date.now();
    const exited = stopProc(s.worker);
    assert.equal(await exited, 1, 'the master reports an unclean drain');
    const took = Date.now() - t0;
    assert.ok(took >= 995, `the master waited for the drain deadline (${took} ms)`);
    // (the log is copied from the process's pipe: read once it got there)
    await waitFor(() => /drain timed out: killing the workers left/.test(readFileSync(s.worker.logPath, 'utf8')),
      'the master to log that the drain timed out');
    assert.equal(await call, 'failed', 'the call was cut off');
    s.worker = null;
    await c.client.close().catch(() => {});
  } finally {
    await releaseSandbox(s).catch(() => {});
    await stopStack(s);
  }
});

// The drain path of a detached call alone: a legacy tools/call answered 202
// whose SSE stream the drain has just ended (its client is gone) and that no
// HTTP request holds. The stop must wait for it (the worker says so in its
// log, and is still running), and once the site answers, the call must end
// with the site's 200, its audit record in tool_calls and its use counted in
// usage_daily, before the worker exits cleanly. With the drain blind to such
// calls, the process closes its HTTP client (the held request is cut: status
// 0 at the site), its Redis and exits before the site answers.
test('SIGTERM with only a call answered 202 in flight: the stop waits for it; it finishes, is audited and counted', { timeout: 120000 }, async () => {
  const s = await startStack({ workers: 1 });
  try {
    const sse = await fetch(`${s.mcpUrl}/sse`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(sse.status, 200);
    const reader = sse.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const endpoint = new URL(first.match(/data: (\S+)/)[1], s.mcpUrl);
    const streamEnd = (async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })();
    const post = (id, method, params, rid) => fetch(endpoint, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Request-Id': rid },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    });
    assert.equal((await post(1, 'initialize', {
      protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'drain-test', version: '1' },
    }, 'drain-init')).status, 202);
    // A first call (see above: libcurl's PIPEWAIT), which must reach the site.
    assert.equal((await post(2, 'tools/call', CALL, 'drain-warm')).status, 202);
    await waitFor(async () => (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json())
      .entries.some((e) => e.path === ISSUE && e.status === 200), 'the first call to be answered by the site');

    await holdSandbox(s, ISSUE);
    const rid = `drain-detached-${process.pid}`;
    assert.equal((await post(3, 'tools/call', CALL, rid)).status, 202);
    await waitFor(async () => (await sandboxHeld(s)) === 1, 'the detached call to reach the JSM site');

    const exited = stopProc(s.worker); // SIGTERM to the master
    assert.equal(await streamEnd, 'ended', 'the drain ended the SSE stream: the call has no client left');
    await waitFor(() => /drain waits for calls answered 202/.test(readFileSync(s.worker.logPath, 'utf8')),
      'the worker to log that its stop waits for the call answered 202');
    assert.equal(s.worker.exitCode, null, 'the worker waits for the detached call');
    assert.equal(await sandboxHeld(s), 1, 'the detached call is still held at the site (not cut)');
    assert.equal(await releaseSandbox(s), 1, 'the detached call was still held at the site');
    assert.equal(await exited, 0, 'the master and its worker exit cleanly');
    s.worker = null;

    const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json();
    assert.deepEqual(log.entries.filter((e) => e.path === ISSUE).map((e) => e.status), [200, 200],
      'the site answered both calls in full (0: the worker left before the answer)');
    // Audited: the API drains the worker's record into tool_calls, once.
    const q = (sql) => {
      const r = spawnSync('psql', [s.env.JSMCP_DATABASE_URL, '-tAc', sql], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    await waitFor(() => q(`select count(*) from tool_calls where request_id = '${rid}'`) !== '0',
      `the audit record of ${rid} in tool_calls`);
    assert.equal(q(`select count(*) || ' ' || min(upstream_status) || ' ' || coalesce(min(error_class), 'none')`
      + ` from tool_calls where request_id = '${rid}'`), '1 200 none', 'one record, the site\'s 200, no error');
    // Counted: usage_daily has both calls of the tool (the warm one and this one).
    await waitFor(() => q(`select coalesce(sum(calls), 0) from usage_all where tool = '${CALL.name}'`) === '2',
      'usage_all (usage_daily and pending, migration 030) to count both calls');
  } finally {
    await releaseSandbox(s).catch(() => {});
    await stopStack(s);
  }
});
