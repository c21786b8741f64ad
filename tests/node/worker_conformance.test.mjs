// The official MCP conformance suite (server mode, Node 22 from npm) against
// a worker. tests/conformance/expected-failures.yml lists the scenarios that
// need MCP features jsmcp does not offer, each with the reason; the suite
// fails on any other failure and on a stale entry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack({ sandbox: false });

test('conformance suite (active scenarios) with the committed baseline', { timeout: 300000 }, async () => {
  // Every tool the server may offer, so tools-list sees the whole catalog.
  const s = await startStack({ workers: 2, sandbox: false, server: { config: {} } });
  try {
    const node22 = path.resolve('tests/node/node_modules/.bin/node');
    const cli = path.resolve('tests/node/node_modules/@modelcontextprotocol/conformance/dist/index.js');
    const out = path.join(process.env.JSMCP_TEST_ARTIFACTS || '/tmp', 'conformance');
    const r = spawnSync(node22, [cli, 'server', '--url', s.mcpUrl,
      '--expected-failures', path.resolve('tests/conformance/expected-failures.yml'), '-o', out],
    { encoding: 'utf8', timeout: 280000 });
    const text = `${r.stdout}\n${r.stderr}`;
    console.log(text.split('\n').filter((l) => /✓|✗|Total|Baseline|Expected|stale|~/.test(l)).join('\n'));
    assert.equal(r.status, 0, `conformance failed:\n${text.slice(-6000)}`);
    assert.match(text, /all failures are expected|Total: \d+ passed, 0 failed/);
  } finally {
    const codes = await stopStack(s);
    assert.equal(codes.worker, 0, 'worker exits clean');
  }
});
