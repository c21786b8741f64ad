// The official MCP conformance suite (server mode, Node 22 from npm) against
// a worker with the conformance profile (worker/wk_fixtures.h: the test
// build, JSMCP_TEST_FIXTURES=1, a server with config.test_fixtures): the
// suite's fixture tools, prompts and resources run through the worker's real
// paths (sessions, push streams, subscriptions, completion).
// tests/conformance/expected-failures.yml lists what is still excused, each
// with the reason; the suite fails on any other failure and on a stale entry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { close, connect, listAllTools } from './lib/mcp_client.mjs';
import { createServer, requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack();
const ROOT = path.resolve(import.meta.dirname, '../..');

test('conformance suite (all scenarios) with the committed baseline', { timeout: 300000 }, async () => {
  // Every tool the server may offer plus the fixtures, so tools-list sees
  // the whole catalog and the fixture scenarios find their tools; the
  // sandbox answers resources/list (the desks and queues in scope). One
  // tools/list page for all of them: the suite's json-schema-2020-12
  // scenario looks for its fixture tool on the first page only, and the
  // catalog alone is more than the default page of 50.
  const s = await startStack({
    workers: 2, env: { JSMCP_TEST_FIXTURES: '1', JSMCP_TOOLS_PAGE_SIZE: '1000' },
    server: { config: { test_fixtures: true } },
  });
  try {
    const node22 = path.resolve('tests/node/node_modules/.bin/node');
    const cli = path.resolve('tests/node/node_modules/@modelcontextprotocol/conformance/dist/index.js');
    const out = path.join(process.env.JSMCP_TEST_ARTIFACTS || '/tmp', 'conformance');
    const r = spawnSync(node22, [cli, 'server', '--suite', 'all', '--url', s.mcpUrl,
      '--expected-failures', path.resolve('tests/conformance/expected-failures.yml'), '-o', out],
    { encoding: 'utf8', timeout: 280000 });
    const text = `${r.stdout}\n${r.stderr}`;
    console.log(text.split('\n').filter((l) => /✓|✗|Total|Baseline|Expected|stale|~/.test(l)).join('\n'));
    assert.equal(r.status, 0, `conformance failed:\n${text.slice(-6000)}`);
    assert.match(text, /all failures are expected|Total: \d+ passed, 0 failed/);
    // Each scenario that checks something passed (the suite's own count per
    // scenario): 31 of 32, server-sse-polling checking nothing (see the
    // expected-failures file).
    const ran = [...text.matchAll(/✓ ([\w-]+): (\d+) passed, 0 failed/g)].filter((m) => Number(m[2]) > 0).map((m) => m[1]);
    for (const name of ['completion-complete', 'tools-call-with-progress', 'tools-call-sampling', 'tools-call-elicitation',
      'resources-list', 'resources-subscribe', 'prompts-get-with-args', 'json-schema-2020-12']) assert.ok(ran.includes(name), `${name} passed`);
    assert.ok(new Set(ran).size >= 31, `31 scenarios pass with checks, got ${new Set(ran).size}: ${[...new Set(ran)].join(' ')}`);

    // The profile is per server: one created without config.test_fixtures
    // lists no fixture tool, and calling one is an unknown tool.
    const plain = await createServer(s, { name: 'plain', config: {} });
    const c = await connect(plain.url);
    try {
      const names = (await listAllTools(c.client)).map((t) => t.name);
      assert.ok(names.length > 20 && !names.some((n) => n.startsWith('test_')), names.join(' '));
      const r = await c.client.callTool({ name: 'test_simple_text', arguments: {} }).catch((e) => e);
      assert.ok(r instanceof Error ? r.code === -32602 : r.isError, JSON.stringify(r));
    } finally {
      await close(c);
    }
  } finally {
    const codes = await stopStack(s);
    assert.equal(codes.worker, 0, 'worker exits clean');
  }
});

// make test builds the release binaries (build/) before tests/run.sh: they
// refuse to start with the profile's variable, so a forgotten one cannot
// change production.
test('the release build refuses JSMCP_TEST_FIXTURES', () => {
  for (const bin of ['jsmcp-worker', 'jsmcp-api']) {
    const r = spawnSync(path.join(ROOT, 'build', bin), [], { encoding: 'utf8', timeout: 30000, env: { ...process.env, JSMCP_TEST_FIXTURES: '1' } });
    assert.ok(!r.error, `${bin}: ${r.error} (make all builds the release binaries)`);
    assert.equal(r.status, 2, `${bin}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /JSMCP_TEST_FIXTURES is set, but this build has no test fixtures/);
  }
});
