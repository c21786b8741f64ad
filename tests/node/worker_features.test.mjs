// MCP beyond tools, with the official SDK client against the worker and the
// sandbox (issue 25): prompts (typed arguments, offered like the tools),
// resources (templates, JSON and markdown, scope), completion, subscriptions
// polled once across two worker pools, list_changed after a PATCH (tools,
// prompts, resources), the knowledge-base resource, and the client's W3C
// trace on resources/read and completion/complete; cancellation of a call
// in flight (the site sees its client leave), progress per step, and the
// user's confirmation of writes (elicitation, config.confirm_writes).
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema, LoggingMessageNotificationSchema, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { close, connect, listAllTools } from './lib/mcp_client.mjs';
import {
  api, createServer, holdSandbox, releaseSandbox, requireStack, sandboxHeld, startStack, startWorker, stopProc, stopStack, waitFor,
} from './lib/mcp_stack.mjs';

requireStack();

const POLL_MS = 1000;
let s;
let second;

before(async () => {
  s = await startStack({ workers: 1, env: { JSMCP_RESOURCE_POLL_INTERVAL: `${POLL_MS}ms` } });
  second = await startWorker(s, 'worker2', { JSMCP_WORKERS: '1' });
});

after(async () => {
  const code2 = second ? await stopProc(second.proc) : 0;
  const codes = await stopStack(s);
  assert.equal(codes.worker, 0, 'worker exits clean');
  assert.equal(code2, 0, 'second worker exits clean');
});

// Resolves with the first notification of schema that pred accepts.
function waitNote(client, schema, pred = () => true, ms = 60000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${schema.shape.method.value} within ${ms} ms`)), ms);
    client.setNotificationHandler(schema, (n) => {
      if (!pred(n)) return;
      clearTimeout(t);
      resolve(n);
    });
  });
}

// Runs fn with a client of a new server of this config, closed after.
async function withServer(name, config, fn) {
  const srv = await createServer(s, { name, config });
  const c = await connect(srv.url);
  try {
    return await fn(c.client);
  } finally {
    await close(c);
  }
}

async function rpcError(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('the request succeeded');
}

test('prompts: typed arguments, steps naming the tools, offered like the tools', async () => {
  const c = await connect(s.mcpUrl);
  try {
    const { prompts } = await c.client.listPrompts();
    const names = prompts.map((p) => p.name);
    for (const n of ['incident_triage', 'queue_dispatch', 'sla_breach_review', 'queue_handover', 'customer_reply_draft',
      'approval_review']) assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
    const got = await c.client.getPrompt({ name: 'incident_triage', arguments: { issue_key: 'ITSM-994', focus: 'customer impact' } });
    const text = got.messages.map((m) => m.content.text).join('\n');
    const order = ['get_single_jira_service_management_issue_by_id', 'list_all_jira_service_management_issue_comments',
      'get_single_jira_service_management_user_by_id'].map((t) => text.indexOf(t));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), `tools in order: ${order}`);
    assert.match(text, /"id": "ITSM-994"/);
    assert.match(text, /customer impact/);
    // A hostile argument is refused before any text is made.
    const bad = await rpcError(c.client.getPrompt({ name: 'incident_triage', arguments: { issue_key: 'ITSM-1 OR 1=1' } }));
    assert.equal(bad.code, -32602, bad.message);
    const none = await rpcError(c.client.getPrompt({ name: 'incident_triage', arguments: {} }));
    assert.equal(none.code, -32602, none.message);
  } finally {
    await close(c);
  }
  // A server offering only get tools cannot run the triage (it lists comments).
  const getOnly = await createServer(s, { name: 'get-only', config: { methods: ['get'] } });
  const g = await connect(getOnly.url);
  try {
    const names = (await g.client.listPrompts()).prompts.map((p) => p.name);
    assert.ok(!names.includes('incident_triage'), names.join(' '));
    const e = await rpcError(g.client.getPrompt({ name: 'incident_triage', arguments: { issue_key: 'ITSM-994' } }));
    assert.ok(e.code === -32602 || e.code === -32601, e.message);
  } finally {
    await close(g);
  }
});

test('resources: templates, desks and queues in scope, JSON and markdown, scope enforced', async () => {
  const c = await connect(s.mcpUrl);
  try {
    const { resourceTemplates } = await c.client.listResourceTemplates();
    const tpl = resourceTemplates.map((t) => t.uriTemplate);
    for (const u of ['jsm://issue/{issue_key}{?format}', 'jsm://request/{issue_key}{?format}', 'jsm://desk/{service_desk_id}{?format}',
      'jsm://desk/{service_desk_id}/queue/{queue_id}/issues{?format}', 'jsm://attachment/{attachment_id}{?format}']) {
      assert.ok(tpl.includes(u), `${u} in ${tpl.join(' ')}`);
    }
    const { resources } = await c.client.listResources();
    assert.ok(resources.some((r) => r.uri === 'jsm://desk/2'), resources.map((r) => r.uri).join(' '));
    assert.ok(resources.some((r) => /^jsm:\/\/desk\/2\/queue\/\d+\/issues$/.test(r.uri) && /Network Outages/.test(r.title)));

    const json = await c.client.readResource({ uri: 'jsm://issue/ITSM-994' });
    assert.equal(json.contents[0].mimeType, 'application/json');
    assert.equal(JSON.parse(json.contents[0].text).key, 'ITSM-994');
    const md = await c.client.readResource({ uri: 'jsm://issue/ITSM-994?format=markdown' });
    assert.equal(md.contents[0].mimeType, 'text/markdown');
    assert.match(md.contents[0].text, /^# ITSM-994: VPN/);
    assert.match(md.contents[0].text, /Status/);
    const bad = await rpcError(c.client.readResource({ uri: 'jsm://issue/..%2F..%2Fmyself' }));
    assert.ok(bad.code === -32602 || bad.code === -32002, bad.message);
  } finally {
    await close(c);
  }
  // A server scoped to another project reads nothing of ITSM.
  const hr = await createServer(s, { name: 'hr-only', config: { methods: ['read'], projects: ['HR'] } });
  const h = await connect(hr.url);
  try {
    const e = await rpcError(h.client.readResource({ uri: 'jsm://issue/ITSM-994' }));
    assert.match(e.message, /scope|project|not found/i);
    const { resources } = await h.client.listResources();
    assert.ok(!resources.some((r) => r.uri === 'jsm://desk/2'), 'the ITSM desk is out of scope');
  } finally {
    await close(h);
  }
});

test('completion: issue keys by prefix, desks, queue names of the chosen desk', async () => {
  const c = await connect(s.mcpUrl);
  try {
    const keys = await c.client.complete({ ref: { type: 'ref/prompt', name: 'incident_triage' }, argument: { name: 'issue_key', value: 'ITSM-99' } });
    assert.ok(keys.completion.values.includes('ITSM-994'), keys.completion.values.join(' '));
    assert.ok(keys.completion.values.every((v) => v.startsWith('ITSM-99')), keys.completion.values.join(' '));
    assert.ok(keys.completion.values.length <= 100);
    const desks = await c.client.complete({ ref: { type: 'ref/prompt', name: 'queue_dispatch' }, argument: { name: 'service_desk_id', value: '' } });
    assert.ok(desks.completion.values.includes('2'), desks.completion.values.join(' '));
    const queues = await c.client.complete({
      ref: { type: 'ref/prompt', name: 'queue_dispatch' }, argument: { name: 'queue', value: 'Net' },
      context: { arguments: { service_desk_id: '2' } },
    });
    assert.ok(queues.completion.values.includes('Network Outages'), queues.completion.values.join(' '));
    const tpl = await c.client.complete({ ref: { type: 'ref/resource', uri: 'jsm://issue/{issue_key}{?format}' }, argument: { name: 'issue_key', value: 'ITSM-99' } });
    assert.ok(tpl.completion.values.includes('ITSM-994'), tpl.completion.values.join(' '));
  } finally {
    await close(c);
  }
});

test('subscriptions: two sessions on two worker pools, one upstream poll per interval, both notified of a change', async () => {
  const uri = 'jsm://issue/ITSM-995';
  const path = '/rest/api/3/issue/ITSM-995';
  const a = await connect(s.mcpUrl);
  const b = await connect(s.mcpUrl.replace(s.workerUrl, second.url));
  try {
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    const since = (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1`)).json()).lastSeq;
    const notes = [a, b].map((x) => waitNote(x.client, ResourceUpdatedNotificationSchema, (n) => n.params.uri === uri));
    // Let a few intervals pass unchanged, then a person edits the issue in JSM.
    const polls = async () => {
      const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}&limit=1000`)).json();
      return log.entries.filter((e) => e.method === 'GET' && e.path === path);
    };
    while ((await polls()).length < 3) await new Promise((r) => setTimeout(r, 200));
    const put = await fetch(`${s.sandboxUrl}${path}`, {
      method: 'PUT',
      headers: { Authorization: `Basic ${Buffer.from('agent@sandbox.test:sandbox-api-token').toString('base64')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ fields: { summary: 'Edited while two sessions watch it' } }),
    });
    assert.equal(put.status, 204, await put.text());
    const [na, nb] = await Promise.all(notes);
    assert.equal(na.params.uri, uri);
    assert.equal(nb.params.uri, uri);
    // Polled once per interval, not once per session or per worker: no two
    // polls closer than most of an interval (a slow machine only spaces them
    // further).
    const got = await polls();
    const ts = got.map((e) => Date.parse(e.ts));
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] - ts[i - 1] >= POLL_MS * 0.7, `polls ${i - 1} and ${i} ${ts[i] - ts[i - 1]} ms apart: ${got.map((e) => e.ts).join(' ')}`);
    const read = await a.client.readResource({ uri });
    assert.match(JSON.parse(read.contents[0].text).summary, /Edited while two sessions watch it/);
    // After both unsubscribe, nobody polls it any more.
    await a.client.unsubscribeResource({ uri });
    await b.client.unsubscribeResource({ uri });
    const n0 = (await polls()).length;
    await new Promise((r) => setTimeout(r, POLL_MS * 3));
    assert.ok((await polls()).length <= n0 + 1, 'at most one poll in flight when the last session left');
  } finally {
    await close(a);
    await close(b);
  }
});

test('list_changed: a PATCH that widens the methods reaches an open session', async () => {
  const srv = await createServer(s, { name: 'widen', config: { methods: ['read'] } });
  const c = await connect(srv.url);
  try {
    assert.equal(c.client.getServerCapabilities().tools?.listChanged, true);
    const before = await listAllTools(c.client);
    assert.ok(!before.some((t) => t.name.startsWith('update_')));
    const note = waitNote(c.client, ToolListChangedNotificationSchema);
    const p = await api(s, s.key, 'PATCH', `/integrated-account/${s.accountId}/mcp/${srv.id}`, { config: { methods: ['read', 'update'] } });
    assert.equal(p.status, 200, p.text);
    await note;
    const afterList = await listAllTools(c.client);
    assert.ok(afterList.some((t) => t.name === 'update_a_jira_service_management_issue_by_id'), 'the new tools are listed');
  } finally {
    await close(c);
  }
});

test('list_changed: prompts and resources too, once per change, none for a PATCH that changes nothing offered', async () => {
  // Only get tools: no prompt that lists, no desk, queue or knowledge-base template.
  const srv = await createServer(s, { name: 'narrow', config: { methods: ['get'] } });
  const c = await connect(srv.url);
  const seen = { tools: 0, prompts: 0, resources: 0 };
  c.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { seen.tools++; });
  c.client.setNotificationHandler(PromptListChangedNotificationSchema, () => { seen.prompts++; });
  c.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { seen.resources++; });
  const patch = async (body) => {
    const p = await api(s, s.key, 'PATCH', `/integrated-account/${s.accountId}/mcp/${srv.id}`, body);
    assert.equal(p.status, 200, p.text);
  };
  try {
    const caps = c.client.getServerCapabilities();
    assert.equal(caps.prompts?.listChanged, true);
    assert.equal(caps.resources?.listChanged, true);
    const prompts0 = (await c.client.listPrompts()).prompts.map((p) => p.name);
    const tpl0 = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(!prompts0.includes('queue_dispatch'), prompts0.join(' '));
    assert.ok(!tpl0.includes('jsm://desk/{service_desk_id}{?format}'), tpl0.join(' '));
    // A rename changes nothing the server offers: no notification.
    await patch({ name: 'narrow-renamed' });
    // Reading as well as getting: more tools, prompts and templates.
    await patch({ config: { methods: ['read'] } });
    await waitFor(() => seen.tools >= 1 && seen.prompts >= 1 && seen.resources >= 1, 'the three list_changed notifications', 60000);
    const prompts1 = (await c.client.listPrompts()).prompts.map((p) => p.name);
    const tpl1 = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(prompts1.includes('queue_dispatch'), prompts1.join(' '));
    assert.ok(tpl1.includes('jsm://desk/{service_desk_id}{?format}') && tpl1.includes('jsm://desk/{service_desk_id}/kb/{query}{?format}'),
      tpl1.join(' '));
    // A change of the tools alone (deleting adds tools, no prompt or template
    // uses them) is the barrier: the stream is ordered, so when its
    // tools/list_changed arrives every earlier notification has too.
    await patch({ config: { methods: ['read', 'delete'] } });
    await waitFor(() => seen.tools >= 2, 'tools/list_changed of the second change', 60000);
    assert.deepEqual(seen, { tools: 2, prompts: 1, resources: 1 });
  } finally {
    await close(c);
  }
});

test('knowledge-base articles: a template per desk and query, JSON and markdown, desk completion, scope and hostile queries', async () => {
  const tplUri = 'jsm://desk/{service_desk_id}/kb/{query}{?format}';
  const c = await connect(s.mcpUrl);
  try {
    const { resourceTemplates } = await c.client.listResourceTemplates();
    assert.ok(resourceTemplates.some((t) => t.uriTemplate === tplUri), resourceTemplates.map((t) => t.uriTemplate).join(' '));
    const uri = 'jsm://desk/2/kb/vpn%20disconnects';
    const json = await c.client.readResource({ uri });
    assert.equal(json.contents[0].uri, uri);
    assert.equal(json.contents[0].mimeType, 'application/json');
    const arts = JSON.parse(json.contents[0].text).articles;
    assert.ok(arts.length >= 1 && arts.length <= 20, json.contents[0].text);
    assert.equal(arts[0].title, 'Fix VPN disconnects after 30 minutes');
    assert.ok(arts[0].pageId && arts[0].spaceKey && /\/knowledgebase\/article\/view\//.test(arts[0].url), JSON.stringify(arts[0]));
    // JSM searched that desk's knowledge base for the decoded query.
    const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=200`)).json();
    assert.ok(log.entries.some((e) => e.path === '/rest/servicedeskapi/servicedesk/2/knowledgebase/article' && /query=vpn(%20|\+)disconnects/.test(e.query ?? e.url ?? '')),
      JSON.stringify(log.entries.filter((e) => e.path.includes('knowledgebase')).slice(-3)));
    const md = await c.client.readResource({ uri: `${uri}?format=markdown` });
    assert.equal(md.contents[0].mimeType, 'text/markdown');
    assert.match(md.contents[0].text, /^# Knowledge base of service desk 2: vpn disconnects/);
    assert.match(md.contents[0].text, /\| Fix VPN disconnects after 30 minutes \|/);
    // Nothing found is an empty list, not an error.
    const none = await c.client.readResource({ uri: 'jsm://desk/2/kb/zzyzx' });
    assert.deepEqual(JSON.parse(none.contents[0].text).articles, []);
    const desks = await c.client.complete({ ref: { type: 'ref/resource', uri: tplUri }, argument: { name: 'service_desk_id', value: '' } });
    assert.ok(desks.completion.values.includes('2'), desks.completion.values.join(' '));
    // Hostile or malformed: refused before any call to JSM, saying what is wrong.
    const since = (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1`)).json()).lastSeq;
    for (const [bad, why] of [
      ['jsm://desk/2/kb/a%0Ab', /query/],
      ['jsm://desk/2/kb/a%00b', /Unknown resource/],
      [`jsm://desk/2/kb/${'x'.repeat(256)}`, /query/],
      ['jsm://desk/..%2F1/kb/vpn', /service_desk_id/],
      ['jsm://desk/2/kb/vpn/extra', /Unknown resource/],
      ['jsm://desk/2/kb/vpn?format=html', /Unknown resource/],
    ]) {
      const e = await rpcError(c.client.readResource({ uri: bad }));
      assert.equal(e.code, -32602, `${bad}: ${e.message}`);
      assert.match(e.message, why, bad);
    }
    const after = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}&limit=100`)).json();
    assert.deepEqual(after.entries.filter((e) => e.path.includes('knowledgebase')), [], 'no JSM call for a refused URI');
  } finally {
    await close(c);
  }
  // Allowlists: without list tools the template is not offered; out of the
  // server's projects the desk's knowledge base is not found.
  await withServer('kb-get-only', { methods: ['get'] }, async (g) => {
    const tpl = (await g.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(!tpl.includes(tplUri), tpl.join(' '));
    const e = await rpcError(g.readResource({ uri: 'jsm://desk/2/kb/vpn' }));
    assert.equal(e.code, -32602, e.message);
  });
  // The desk pre-check refuses both (the worker's refusal, not Jira's 403).
  await withServer('kb-hr-only', { methods: ['read'], projects: ['HR'] }, async (h) => {
    for (const uri of ['jsm://desk/2/kb/vpn', 'jsm://desk/2']) {
      const e = await rpcError(h.readResource({ uri }));
      assert.equal(e.code, -32002, `${uri}: ${e.message}`);
      assert.match(e.message, /config\.projects/, uri);
    }
  });
});

test('W3C traceparent: the client\'s trace reaches JSM from resources/read and completion/complete', async () => {
  const trace = randomBytes(16).toString('hex');
  const parent = randomBytes(8).toString('hex');
  // Its own project scope: the completion cache (per account and scope) is cold.
  const srv = await createServer(s, { name: 'traced', config: { methods: ['read'], projects: ['ITSM', 'HW'] } });
  const c = await connect(srv.url, { headers: { traceparent: `00-${trace}-${parent}-01` } });
  const since = (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1`)).json()).lastSeq;
  try {
    await c.client.readResource({ uri: 'jsm://issue/ITSM-993' });
    const keys = await c.client.complete({ ref: { type: 'ref/prompt', name: 'incident_triage' }, argument: { name: 'issue_key', value: 'ITSM-99' } });
    assert.ok(keys.completion.values.includes('ITSM-994'), keys.completion.values.join(' '));
  } finally {
    await close(c);
  }
  const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}&limit=1000`)).json();
  const mine = log.entries.filter((e) => e.traceparent.includes(trace));
  const read = mine.filter((e) => e.path === '/rest/api/3/issue/ITSM-993');
  const search = mine.filter((e) => e.path.startsWith('/rest/api/3/search'));
  assert.ok(read.length >= 1, `resources/read: no JSM request carried trace ${trace}: ${JSON.stringify(log.entries.map((e) => [e.path, e.traceparent]))}`);
  assert.ok(search.length >= 1, `completion/complete: no JSM search carried trace ${trace}: ${JSON.stringify(log.entries.map((e) => [e.path, e.traceparent]))}`);
  for (const e of [...read, ...search]) {
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(e.traceparent);
    assert.ok(m, `traceparent upstream: ${e.traceparent}`);
    assert.notEqual(m[2], parent, 'the worker sends its own span id, not the client\'s');
  }
});

test('completion: request types of the chosen desk, transitions of the chosen issue, users by name prefix', async () => {
  const c = await connect(s.mcpUrl);
  const tool = async (name, args) => {
    const r = await c.client.callTool({ name, arguments: args });
    assert.ok(!r.isError, JSON.stringify(r.content));
    return r.structuredContent;
  };
  const complete = async (prompt, name, value, args) => (await c.client.complete({
    ref: { type: 'ref/prompt', name: prompt }, argument: { name, value }, ...(args ? { context: { arguments: args } } : {}),
  })).completion.values;
  try {
    const rt = (await tool('list_all_jira_service_management_request_types', { service_desk_id: '2', limit: 50 })).request_types[0].name;
    const rts = await complete('sla_breach_review', 'request_type', rt.slice(0, 3), { service_desk_id: '2' });
    assert.ok(rts.includes(rt) && rts.every((v) => v.toLowerCase().startsWith(rt.slice(0, 3).toLowerCase())), `${rt}: ${rts.join(' | ')}`);
    assert.deepEqual(await complete('sla_breach_review', 'request_type', rt.slice(0, 3)), [], 'no desk chosen: nothing to suggest');
    const tr = (await tool('list_all_jira_service_management_issue_transitions', { id: 'ITSM-994' })).transitions[0].name;
    const trs = await complete('customer_reply_draft', 'transition', tr.slice(0, 2), { issue_key: 'ITSM-994' });
    assert.ok(trs.includes(tr), `${tr}: ${trs.join(' | ')}`);
    // A hostile context value is not used to call JSM.
    assert.deepEqual(await complete('customer_reply_draft', 'transition', '', { issue_key: 'ITSM-994/../../myself' }), []);
    const who = (await tool('get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' })).reporter.name;
    const users = await complete('queue_dispatch', 'agent', who.slice(0, 4));
    assert.ok(users.includes(who), `${who}: ${users.join(' | ')}`);
  } finally {
    await close(c);
  }
});

test('subscriptions: the polls of one account stay within its bucket (1/s burst 5) however many resources are watched', async () => {
  // Eight issues watched at a 1 s interval would be eight polls a second
  // without the account's bucket (JSMCP_RESOURCE_POLL_RATE, default
  // "1/s burst 5"): any window of T seconds holds at most 5 + T of them.
  const c = await connect(s.mcpUrl);
  const found = await c.client.callTool({ name: 'list_all_jira_service_management_search_issues', arguments: { jql: 'project = ITSM ORDER BY created ASC', limit: 8 } });
  const keys = found.structuredContent.issues.map((i) => i.key);
  assert.equal(keys.length, 8, JSON.stringify(found.content));
  const paths = new Set(keys.map((k) => `/rest/api/3/issue/${k}`));
  try {
    for (const k of keys) await c.client.subscribeResource({ uri: `jsm://issue/${k}` });
    const since = (await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1`)).json()).lastSeq;
    const polls = async () => {
      const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}&limit=1000`)).json();
      return log.entries.filter((e) => e.method === 'GET' && paths.has(e.path));
    };
    const N = 10;
    const got = (await waitFor(async () => { const p = await polls(); return p.length >= N && p; }, `${N} polls`, 120000)).slice(0, N);
    const spanS = (Date.parse(got[N - 1].ts) - Date.parse(got[0].ts)) / 1000;
    // One more than the bucket allows: a poll claimed just before the window.
    assert.ok(N <= 5 + Math.floor(spanS) + 1, `${N} polls in ${spanS} s: ${got.map((e) => `${e.ts} ${e.path}`).join(', ')}`);
  } finally {
    for (const k of keys) await c.client.unsubscribeResource({ uri: `jsm://issue/${k}` }).catch(() => {});
    await close(c);
  }
});

test('logging: notifications/message about tool calls at the level logging/setLevel chose, and none below it', async () => {
  const c = await connect(s.mcpUrl);
  const got = [];
  c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { got.push(n.params); });
  const get = 'get_single_jira_service_management_issue_by_id';
  try {
    await c.client.setLoggingLevel('warning');
    assert.ok(!(await c.client.callTool({ name: get, arguments: { id: 'ITSM-994' } })).isError);
    assert.ok((await c.client.callTool({ name: get, arguments: { id: 'NOPE-404' } })).isError);
    const warn = await waitFor(() => got.find((m) => m.data?.upstream_status === 404), 'the warning of the failed call', 60000);
    assert.equal(warn.level, 'warning');
    assert.equal(warn.logger, 'jsmcp');
    assert.equal(warn.data.tool, get);
    // The failed call's warning came after anything the first call sent.
    assert.deepEqual(got.filter((m) => m.level === 'debug' || m.level === 'info'), [], JSON.stringify(got));
    await c.client.setLoggingLevel('debug');
    const n0 = got.length;
    assert.ok(!(await c.client.callTool({ name: get, arguments: { id: 'ITSM-993' } })).isError);
    await waitFor(() => got.slice(n0).some((m) => m.level === 'info'), 'the info message of the call', 60000);
    const mine = got.slice(n0);
    assert.ok(mine.some((m) => m.level === 'debug' && m.data?.message === 'calling' && m.data.tool === get), JSON.stringify(mine));
    assert.ok(mine.some((m) => m.level === 'info' && m.data?.message === 'the call succeeded' && m.data.latency_ms >= 0), JSON.stringify(mine));
    const bad = await rpcError(c.client.setLoggingLevel('loud'));
    assert.equal(bad.code, -32602, bad.message);
  } finally {
    await close(c);
  }
});

test('prompts and templates follow the server\'s tags: a knowledge-base-only server offers the KB template and no prompt', async () => {
  await withServer('kb-tag-only', { methods: ['read'], tags: ['knowledge_base'] }, async (k) => {
    const tools = (await listAllTools(k)).map((t) => t.name);
    assert.deepEqual(tools, ['list_all_jira_service_management_knowledge_base_articles']);
    assert.deepEqual((await k.listPrompts()).prompts, [], 'every prompt needs issue tools');
    const tpl = (await k.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.deepEqual(tpl, ['jsm://desk/{service_desk_id}/kb/{query}{?format}']);
    const e = await rpcError(k.readResource({ uri: 'jsm://issue/ITSM-994' }));
    assert.equal(e.code, -32602, e.message);
    const arts = JSON.parse((await k.readResource({ uri: 'jsm://desk/2/kb/laptop' })).contents[0].text).articles;
    assert.ok(arts.some((a) => a.title === 'Laptop does not wake from sleep'), JSON.stringify(arts));
  });
});

// ---- cancellation and progress per step ----

const GET = 'get_single_jira_service_management_issue_by_id';
const sbCounters = async () => (await fetch(`${s.sandboxUrl}/__sandbox/counters`)).json();
const sbLog = async (since) => (await fetch(`${s.sandboxUrl}/__sandbox/requests?since=${since}`)).json();
async function auditCalls(outcome) {
  const r = await api(s, s.key, 'GET', `/calls?server_id=${s.serverId}&outcome=${outcome}&limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.json.result;
}

test('the audit record counts the bytes the model got: result_bytes is the byte length of the text block, for a result and for an error', async () => {
  const DESK = 'get_single_jira_service_management_service_desk_by_id';
  const c = await connect(s.mcpUrl);
  try {
    const ok = await c.client.callTool({ name: DESK, arguments: { id: '2' } });
    assert.ok(!ok.isError, JSON.stringify(ok));
    const bad = await c.client.callTool({ name: DESK, arguments: { id: '999999' } });
    assert.ok(bad.isError, JSON.stringify(bad));
    const want = [ok, bad].map((r) => Buffer.byteLength(r.content[0].text, 'utf8'));
    assert.ok(want[0] > 20, `a real result: ${want[0]} bytes`);
    const got = await waitFor(async () => {
      const r = await api(s, s.key, 'GET', `/calls?server_id=${s.serverId}&tool=${DESK}&limit=10`);
      assert.equal(r.status, 200, r.text);
      return r.json.result.length === 2 ? r.json.result : null;
    }, 'the two audit records', 60000);
    const byOutcome = Object.fromEntries(got.map((r) => [r.error_class ? 'error' : 'ok', r.result_bytes]));
    assert.deepEqual([byOutcome.ok, byOutcome.error], want);
  } finally {
    await close(c);
  }
});

test('cancellation: the SDK client aborts a call held at the site: the transfer is dropped, no result, the audit says cancelled', async () => {
  const key = 'ITSM-1001';
  const c = await connect(s.mcpUrl);
  try {
    const seq = (await sbLog(0)).lastSeq;
    const gone = (await sbCounters()).clientGone;
    await holdSandbox(s, `/rest/api/3/issue/${key}`);
    const ac = new AbortController();
    // The SDK sends notifications/cancelled with the request's id on abort.
    const p = c.client.callTool({ name: GET, arguments: { id: key } }, undefined, { signal: ac.signal });
    await waitFor(async () => (await sandboxHeld(s)) === 1, 'the call held at the site', 60000);
    ac.abort(new Error('the user pressed stop'));
    await assert.rejects(p, /pressed stop/);
    await waitFor(async () => (await sbCounters()).clientGone === gone + 1, 'the site to see its client leave', 60000);
    assert.equal(await sandboxHeld(s), 0, 'nothing left held');
    // The one request of the call, ended by its client: 499 in the site's log.
    assert.deepEqual((await sbLog(seq)).entries.filter((e) => e.path.includes(key)).map((e) => e.status), [499]);
    const rec = await waitFor(async () => (await auditCalls('cancelled')).find((r) => r.tool === GET), 'the audit record', 60000);
    assert.equal(rec.error_class, 'cancelled');
    assert.equal(rec.outcome, 'cancelled');
    assert.equal(rec.upstream_status, null, 'no upstream answer');
    await releaseSandbox(s);
    // The session goes on.
    assert.ok(!(await c.client.callTool({ name: GET, arguments: { id: 'ITSM-994' } })).isError);
  } finally {
    await releaseSandbox(s);
    await close(c);
  }
});

test('cancellation from another worker pool (through Redis): the call ends with no response; a late or unknown cancel is ignored', async () => {
  const key = 'ITSM-1002';
  const H = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' };
  const init = await fetch(s.mcpUrl, { method: 'POST', headers: H, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid);
  const h = { ...H, 'Mcp-Session-Id': sid };
  const other = s.mcpUrl.replace(s.workerUrl, second.url);
  const post = (url, msg) => fetch(url, { method: 'POST', headers: h, body: JSON.stringify({ jsonrpc: '2.0', ...msg }) });
  const cancel = async (url, requestId) => {
    const r = await post(url, { method: 'notifications/cancelled', params: { requestId, reason: 'test' } });
    assert.equal(r.status, 202);
    await r.arrayBuffer();
  };
  try {
    const gone = (await sbCounters()).clientGone;
    await holdSandbox(s, `/rest/api/3/issue/${key}`);
    const pending = post(s.mcpUrl, { id: 41, method: 'tools/call', params: { name: GET, arguments: { id: key } } });
    await waitFor(async () => (await sandboxHeld(s)) === 1, 'the call held at the site', 60000);
    await cancel(other, 999); // no such request: nothing happens
    await cancel(other, '41'); // a string is another id than 41
    await cancel(other, 41);
    await waitFor(async () => (await sbCounters()).clientGone === gone + 1, 'the site to see its client leave', 60000);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal((await r.text()).includes('"id"'), false, 'no JSON-RPC response for a cancelled call');
    await releaseSandbox(s);
    // Answered before the cancel came: the answer stands, the session goes on.
    const done = await (await post(s.mcpUrl, { id: 42, method: 'tools/call', params: { name: GET, arguments: { id: 'ITSM-994' } } })).json();
    assert.equal(done.result.structuredContent.key, 'ITSM-994');
    await cancel(s.mcpUrl, 42);
    await cancel(other, 42);
    const again = await (await post(other, { id: 43, method: 'tools/call', params: { name: GET, arguments: { id: 'ITSM-994' } } })).json();
    assert.equal(again.result.structuredContent.key, 'ITSM-994');
    assert.equal((await sbCounters()).clientGone, gone + 1, 'one transfer aborted in all');
  } finally {
    await releaseSandbox(s);
  }
});

test('progress per step: each upstream request of a multi-step call is reported, increasing, "Done" gives the total', async () => {
  // A server limited to a project checks the issue's project first: two requests.
  await withServer('progress-steps', { methods: ['read'], projects: ['ITSM'] }, async (k) => {
    const key = 'ITSM-1003';
    const seq = (await sbLog(0)).lastSeq;
    const got = [];
    const res = await k.callTool({ name: 'list_all_jira_service_management_issue_comments', arguments: { id: key } }, undefined,
      { onprogress: (p) => got.push(p) });
    assert.ok(!res.isError, JSON.stringify(res));
    const n = (await sbLog(seq)).entries.filter((e) => e.path.startsWith(`/rest/api/3/issue/${key}`)).length;
    assert.equal(n, 2, 'the scope check and the comments');
    assert.equal(got.length, n + 1, JSON.stringify(got));
    assert.deepEqual(got.map((p) => p.progress), [0, 1, 2]);
    assert.equal(got[1].message, 'Step 2: GET /rest/api/3/issue/{id}/comment');
    assert.deepEqual(got[n], { progress: n, total: n, message: 'Done' });
  });
});

// ---- confirmation of writes (elicitation) ----

const NOTE = 'create_a_jira_service_management_internal_note';

// An SDK client that declares elicitation and answers with answer(request).
async function connectAsking(url, answer) {
  const client = new Client({ name: 'jsmcp-tests-elicit', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  const asked = [];
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.push(req.params);
    return answer(req.params);
  });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport, asked };
}

test('confirm_writes: the user confirms a write (elicitation form); decline and cancel are declined results, audited; no capability or false: as before', async () => {
  const key = 'ITSM-1004';
  const comments = async (seq) => (await sbLog(seq)).entries.filter((e) => e.method === 'POST' && e.path.includes(`/request/${key}/comment`)).length;
  const srv = await createServer(s, { name: 'confirming', config: { methods: ['read', 'write'], confirm_writes: true } });
  let action = 'accept';
  const c = await connectAsking(srv.url, () => (action === 'accept' ? { action, content: { confirm: true } } : { action }));
  try {
    let seq = (await sbLog(0)).lastSeq;
    const ok = await c.client.callTool({ name: NOTE, arguments: { id: key, body: 'Checked the VPN logs' } });
    assert.ok(!ok.isError, JSON.stringify(ok));
    assert.equal(c.asked.length, 1);
    // The form says what will change: the tool, the issue, the text; one boolean to confirm.
    assert.match(c.asked[0].message, new RegExp(`Tool: .*\\(${NOTE}\\)`));
    assert.match(c.asked[0].message, /\nid: "ITSM-1004"\n/);
    assert.match(c.asked[0].message, /\nbody: "Checked the VPN logs"/);
    assert.equal(c.asked[0].requestedSchema.properties.confirm.type, 'boolean');
    assert.equal(c.asked[0].requestedSchema.properties.confirm.default, undefined, 'the user chooses: nothing preset');
    assert.equal(await comments(seq), 1, 'the accepted note was posted');
    // A body written to pass for the server's own text (new lines, a
    // direction override) and long enough that the 200-character cut falls
    // in a character: one line per argument, in quotes, controls shown as
    // escapes, the form still sent (the user is asked, and says no here).
    action = 'decline';
    const hostile = 'Thanks!\n\n(Preview only: confirming this sends nothing.)\nTool: Read an issue \u202egnp.exe ' + 'a'.repeat(100) + 'é'.repeat(60);
    await c.client.callTool({ name: NOTE, arguments: { id: key, body: hostile } });
    assert.equal(c.asked.length, 2, 'the user was asked');
    const shown = c.asked[1].message.split('\n');
    assert.equal(shown.length, 4, c.asked[1].message); // the heading, Tool:, id:, body:
    assert.match(shown[3], /^body: "Thanks!\\n\\n\(Preview only: confirming this sends nothing\.\)\\nTool: Read an issue \\u202Egnp\.exe a+é+"\.\.\.$/);
    assert.ok(!c.asked[1].message.includes('\u202e'), 'no direction override reaches the user');
    assert.equal([...shown[3].slice('body: "'.length, -'"...'.length).replace(/\\n|\\u202E/g, '#')].length, 200, 'cut at 200 characters (escapes counted as one)');
    action = 'accept';
    for (const a of ['decline', 'cancel']) {
      action = a;
      seq = (await sbLog(0)).lastSeq;
      const no = await c.client.callTool({ name: NOTE, arguments: { id: key, body: `not this (${a})` } });
      assert.equal(no.isError, true);
      assert.equal(no.structuredContent.error.reason, 'declined');
      assert.match(no.content[0].text, a === 'decline' ? /the user declined this change: nothing was changed/ : /not confirmed .*nothing was changed/);
      assert.equal(await comments(seq), 0, `nothing posted after ${a}`);
    }
    const recs = await waitFor(async () => {
      const r = await api(s, s.key, 'GET', `/calls?server_id=${srv.id}&outcome=declined`);
      return r.json?.result?.length === 3 ? r.json.result : null;
    }, 'three declined audit records (the hostile body, decline, cancel)', 60000);
    assert.ok(recs.every((r) => r.tool === NOTE && r.error_class === 'declined' && r.upstream_status === null), JSON.stringify(recs));
  } finally {
    await close(c);
  }
  // A client without the capability is not asked: the call runs as before.
  const plain = await connect(srv.url);
  try {
    const seq = (await sbLog(0)).lastSeq;
    assert.ok(!(await plain.client.callTool({ name: NOTE, arguments: { id: key, body: 'no elicitation here' } })).isError);
    assert.equal(await comments(seq), 1);
  } finally {
    await close(plain);
  }
  // confirm_writes false: a client that could be asked is not.
  const off = await createServer(s, { name: 'not-confirming', config: { methods: ['read', 'write'], confirm_writes: false } });
  const d = await connectAsking(off.url, () => ({ action: 'decline' }));
  try {
    assert.ok(!(await d.client.callTool({ name: NOTE, arguments: { id: key, body: 'no question asked' } })).isError);
    assert.equal(d.asked.length, 0);
  } finally {
    await close(d);
  }
});
