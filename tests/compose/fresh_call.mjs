// The fresh-machine test's last step (deploy/fresh-machine-test.sh), run
// inside the bare Debian container after the README's `make demo`: the
// official MCP SDK client connects to the demo's MCP URL (run/demo.env) and
// calls a tool against the demo's sandbox.
//   node tests/compose/fresh_call.mjs "$DEMO_MCP_URL"
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { close, connect, listAllTools } from '../node/lib/mcp_client.mjs';

const url = process.argv[2];
assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/mcp\/\S{20,}$/, `an MCP URL, not ${url}`);
const catalog = JSON.parse(readFileSync(new URL('../../worker/catalog.json', import.meta.url), 'utf8')).tools;
const c = await connect(url);
try {
  const tools = await listAllTools(c.client);
  // The demo's server offers the read and write tools: all of them.
  assert.equal(tools.length, catalog.length, 'every tool listed');
  const res = await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } });
  assert.ok(!res.isError, JSON.stringify(res.content));
  assert.equal(res.structuredContent.key, 'ITSM-994');
  assert.match(res.structuredContent.summary, /VPN/i);
  console.log(`fresh machine: ${tools.length} tools; ITSM-994 "${res.structuredContent.summary}" (node ${process.version})`);
} finally {
  await close(c);
}
