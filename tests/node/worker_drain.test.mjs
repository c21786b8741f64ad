// SIGTERM drains the worker pool: a tool call in flight (the sandbox answers
// slowly) still gets its answer, a legacy call already answered 202 still
// runs to its end, open SSE streams end cleanly, and every process exits 0
// (no sanitizer report).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from './lib/mcp_client.mjs';
import { requireStack, startStack, stopProc, stopStack } from './lib/mcp_stack.mjs';

requireStack();

test('SIGTERM: in-flight calls finish, streams close, clean exit', { timeout: 60000 }, async () => {
  const s = await startStack({ workers: 2, env: { JSM_SANDBOX_LATENCY_MS: '1500' } });
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

    const t0 = Date.now();
    const call = c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } });
    await new Promise((r) => setTimeout(r, 300));
    // A legacy POST is answered 202 at once; its call then runs with no HTTP
    // request holding it, and the drain must still wait for it (audit, Redis).
    const legacy = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } } }) });
    assert.equal(legacy.status, 202);
    const exited = stopProc(s.worker); // SIGTERM to the master while the calls wait on JSM
    const res = await call;
    assert.ok(!res.isError, JSON.stringify(res.content));
    assert.equal(res.structuredContent.key, 'ITSM-994');
    assert.ok(Date.now() - t0 >= 1400, 'the answer came after the upstream latency');
    assert.equal(await streamEnd, 'ended', 'the SSE stream ended (last chunk) rather than hanging');
    assert.equal(await exited, 0, 'the master and its workers exit cleanly');
    s.worker = null;
    await c.client.close().catch(() => {});
  } finally {
    await stopStack(s);
  }
});

test('SIGTERM with a call that outlives JSMCP_DRAIN_TIMEOUT: the master kills what is left and exits 1', { timeout: 60000 }, async () => {
  const s = await startStack({ workers: 1, env: { JSM_SANDBOX_LATENCY_MS: '8000', JSMCP_DRAIN_TIMEOUT: '1000' } });
  try {
    const c = await connect(s.mcpUrl);
    const call = c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } })
      .then(() => 'answered', () => 'failed');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const exited = stopProc(s.worker);
    assert.equal(await exited, 1, 'the master reports an unclean drain');
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 5000, `stopped by the deadline, not by the call (${took} ms)`);
    assert.equal(await call, 'failed', 'the call was cut off');
    s.worker = null;
    await c.client.close().catch(() => {});
  } finally {
    await stopStack(s);
  }
});
