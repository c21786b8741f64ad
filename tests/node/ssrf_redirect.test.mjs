// SSRF guard (issue 6): an allowlisted JSM site that answers with a redirect
// to another address must not make the worker follow it; the tool call
// fails with a clear error and the redirect target sees no request. (Site
// URLs outside the allowlist are refused by the API: test_api_badreq.c.)
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { close, connect } from './lib/mcp_client.mjs';
import { api, createServer, freePort, requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack();
let stack, redirector, target, targetHits = 0;

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

before(async () => {
  target = http.createServer((req, res) => { targetHits++; res.end('{}'); });
  const targetPort = await listen(target);
  redirector = http.createServer((req, res) => {
    res.writeHead(302, { Location: `http://127.0.0.1:${targetPort}${req.url}` });
    res.end();
  });
  const redirPort = await listen(redirector);
  stack = await startStack({
    env: (s) => ({ JSMCP_SITE_ALLOWLIST: `${new URL(s.sandboxUrl).host},127.0.0.1:${redirPort}` }),
  });
  stack.redirectorUrl = `http://127.0.0.1:${redirPort}`;
});

after(async () => {
  if (stack) {
    const exits = await stopStack(stack);
    for (const [name, code] of Object.entries(exits)) assert.equal(code, 0, `${name} exit status`);
  }
  redirector?.close();
  target?.close();
});

test('a redirect from the JSM site is not followed', async () => {
  const acct = await api(stack, stack.key, 'POST', '/integrated-account', {
    tenant_id: 'redirecting-site', site_url: stack.redirectorUrl,
    auth: { type: 'api_token', email: 'agent@sandbox.test', api_token: 'sandbox-api-token' },
  });
  assert.equal(acct.status, 201, acct.text);
  const saved = stack.accountId;
  stack.accountId = acct.json.id;
  const srv = await createServer(stack);
  stack.accountId = saved;
  const c = await connect(srv.url);
  try {
    const res = await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-1' } });
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.match(res.content[0].text, /302|redirect/i, 'the error names the redirect');
  } finally {
    await close(c);
  }
  assert.equal(targetHits, 0, 'the redirect target was reached');
});
