// The tool catalog (issue 5) through real workers against the JSM sandbox,
// with the official SDK client (which also checks every structuredContent
// against the tool's outputSchema): schema checks on every definition,
// every tool called, the article's two workflows, method/tag filtering,
// paging to the end of every list tool, JQL field names, config.projects,
// bad arguments per tool, discovery exposure, idempotency keys, raw
// output, X-Request-Id upstream and the audit stream.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { argsRefused, articleOldestOutages, articleTriage, close, connect, listAllTools } from './lib/mcp_client.mjs';
import { api, createServer, requireStack, startStack, stopStack, waitFor } from './lib/mcp_stack.mjs';

const CATALOG = JSON.parse(readFileSync(new URL('../../worker/catalog.json', import.meta.url), 'utf8')).tools;
requireStack();
let s;
let full; // SDK client on a server with every tool
const servers = {};

before(async () => {
  s = await startStack({ workers: 2, server: { config: {} } });
  full = await connect(s.mcpUrl);
});
after(async () => {
  if (!s) return;
  if (full) await close(full);
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

const sb = async (p, init) => {
  const r = await fetch(`${s.sandboxUrl}${p}`, {
    ...init, headers: { Authorization: `Basic ${Buffer.from('agent@sandbox.test:sandbox-api-token').toString('base64')}`, 'Content-Type': 'application/json', ...(init?.headers || {}) },
  });
  return r.json();
};

async function call(client, name, args, { error = false } = {}) {
  const res = await client.callTool({ name, arguments: args });
  if (error) {
    assert.equal(res.isError, true, `${name} should fail: ${JSON.stringify(res.content).slice(0, 400)}`);
    return res;
  }
  assert.ok(!res.isError, `${name}(${JSON.stringify(args)}) failed: ${JSON.stringify(res.content).slice(0, 600)}`);
  assert.deepEqual(JSON.parse(res.content[0].text), res.structuredContent, 'text mirrors structuredContent');
  return res.structuredContent;
}

async function serverClient(key, config) {
  if (!servers[key]) {
    const srv = await createServer(s, { name: key, config });
    servers[key] = await connect(srv.url);
    servers[key].srv = srv;
  }
  return servers[key].client;
}

test('every tool definition: valid JSON Schemas, name <= 64, title, description, annotations', async () => {
  const tools = await listAllTools(full.client);
  assert.equal(tools.length, CATALOG.length, 'an empty config lists the whole catalog');
  for (const six of ['list_all_jira_service_management_search_issues', 'get_single_jira_service_management_issue_by_id',
    'list_all_jira_service_management_issue_comments', 'list_all_jira_service_management_queues',
    'list_all_jira_service_management_queue_issues', 'get_single_jira_service_management_user_by_id']) assert.ok(tools.find((t) => t.name === six), six);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const t of tools) {
    assert.ok(t.name.length <= 64 && /^[a-z_]+$/.test(t.name), t.name);
    assert.ok(/^(list_all|get_single|create_a|update_a|delete_a)_jira_service_management_/.test(t.name), `Truto-style name: ${t.name}`);
    assert.ok(t.title && t.description.length > 20, t.name);
    for (const h of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']) assert.equal(typeof t.annotations?.[h], 'boolean', `${t.name} ${h}`);
    assert.equal(t.inputSchema.type, 'object');
    assert.ok(ajv.validateSchema(t.inputSchema), `${t.name} inputSchema: ${ajv.errorsText()}`);
    assert.ok(ajv.validateSchema(t.outputSchema), `${t.name} outputSchema: ${ajv.errorsText()}`);
    ajv.compile(t.inputSchema);
    ajv.compile(t.outputSchema);
    const row = CATALOG.find((r) => r.name === t.name);
    assert.equal(t.annotations.readOnlyHint, ['list', 'get'].includes(row.kind), t.name);
    if (row.kind === 'delete') assert.equal(t.annotations.destructiveHint, true);
    if (!t.annotations.readOnlyHint) assert.ok(t.inputSchema.properties.idempotency_key, `${t.name} takes idempotency_key`);
    if (row.paging) assert.ok(t.inputSchema.properties.limit && t.inputSchema.properties.next_cursor, `${t.name} pages`);
  }
});

// Arguments for each tool against seed 1; writes last (they change data).
function plan(ctx) {
  const u = ctx.reporter;
  return {
    list_all_jira_service_management_search_issues: { jql: 'project = ITSM ORDER BY created ASC', limit: 5 },
    get_single_jira_service_management_issue_by_id: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_comments: { id: 'ITSM-994' },
    list_all_jira_service_management_queues: { service_desk_id: '2' },
    list_all_jira_service_management_queue_issues: { service_desk_id: '2', queue_id: '13', limit: 5 },
    get_single_jira_service_management_user_by_id: { id: u },
    list_all_jira_service_management_issue_transitions: { id: 'ITSM-1042' },
    list_all_jira_service_management_user_search: { query: 'a', limit: 5 },
    get_single_jira_service_management_myself: {},
    list_all_jira_service_management_fields: {},
    list_all_jira_service_management_service_desks: {},
    get_single_jira_service_management_service_desk_by_id: { id: '2' },
    list_all_jira_service_management_request_types: { service_desk_id: '2' },
    list_all_jira_service_management_request_type_fields: { service_desk_id: '2', request_type_id: ctx.requestType },
    get_single_jira_service_management_customer_request_by_id: { id: 'ITSM-994' },
    list_all_jira_service_management_customer_requests: { service_desk_id: '3', limit: 5 },
    list_all_jira_service_management_request_comments: { id: 'ITSM-994', public: false },
    list_all_jira_service_management_request_slas: { id: 'ITSM-994' },
    list_all_jira_service_management_request_approvals: { id: ctx.approvalKey },
    list_all_jira_service_management_request_participants: { id: 'ITSM-994' },
    list_all_jira_service_management_customers: { service_desk_id: '2', limit: 5 },
    list_all_jira_service_management_organizations: {},
    get_single_jira_service_management_organization_by_id: { id: ctx.org },
    list_all_jira_service_management_organization_users: { id: ctx.org },
    list_all_jira_service_management_issue_worklogs: { id: 'ITSM-994' },
    get_single_jira_service_management_attachment_by_id: { id: ctx.attachment },
    get_single_jira_service_management_issue_count: { jql: 'project = ITSM' },
    create_a_jira_service_management_issue: { project_key: 'ITSM', summary: 'Printer on fire', issue_type: 'Incident', description: 'Smoke\nfrom tray 2', priority: 'High', labels: ['printer'] },
    update_a_jira_service_management_issue_by_id: { id: 'ITSM-1042', summary: 'Laptop does not wake from sleep', due_date: '2026-12-24' },
    create_a_jira_service_management_customer_reply: { id: 'ITSM-1042', body: 'Could you send the device logs?' },
    create_a_jira_service_management_internal_note: { id: 'ITSM-1042', body: 'Driver regression suspected.' },
    update_a_jira_service_management_issue_status_by_id: { id: 'ITSM-1042', transition_name: ctx.transition },
    update_a_jira_service_management_issue_assignee_by_id: { id: 'ITSM-1042', user: 'agent@sandbox.test' },
    create_a_jira_service_management_customer_request: { service_desk_id: '2', request_type_id: ctx.requestType, summary: 'VPN again', description: 'It drops every hour' },
    create_a_jira_service_management_request_participant: { id: 'ITSM-1042', account_ids: [u] },
    delete_a_jira_service_management_request_participant_by_id: { id: 'ITSM-1042', account_ids: [u] },
    create_a_jira_service_management_customer: { email: `c${process.pid}@example.com`, display_name: 'New Customer' },
    create_a_jira_service_management_service_desk_customer: { service_desk_id: '2', account_ids: [u] },
    create_a_jira_service_management_organization: { name: `Org ${process.pid}` },
    create_a_jira_service_management_issue_worklog: { id: 'ITSM-1042', time_spent_seconds: 1800, comment: 'Reproduced', started: '2026-12-01T09:00:00Z' },
    // issue 22
    list_all_jira_service_management_knowledge_base_articles: { query: 'vpn' },
    list_all_jira_service_management_request_transitions: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_attachments: { id: 'ITSM-1042' },
    get_single_jira_service_management_attachment_content_by_id: { issue: ctx.attachmentIssue, id: ctx.attachment },
    list_all_jira_service_management_issue_changelog: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_watchers: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_links: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_link_types: {},
    list_all_jira_service_management_request_status_history: { id: 'ITSM-994' },
    list_all_jira_service_management_issue_types: { project_key: 'ITSM' },
    list_all_jira_service_management_issue_type_fields: { project_key: 'ITSM', issue_type_id: ctx.issueType },
    list_all_jira_service_management_projects: {},
    create_a_jira_service_management_issue_attachment: { id: 'ITSM-1042', filename: 'logs.txt', content_base64: Buffer.from('log line\n').toString('base64'), mime_type: 'text/plain' },
    create_a_jira_service_management_request_attachment: { id: 'ITSM-1042', filename: 'more.txt', content_base64: Buffer.from('more\n').toString('base64'), comment: 'Attached' },
    create_a_jira_service_management_issue_watcher: { id: 'ITSM-1042', account_id: u },
    create_a_jira_service_management_issue_link: { link_type: 'Relates', from_issue: 'ITSM-1042', to_issue: 'ITSM-994' },
    update_a_jira_service_management_request_status_by_id: { id: 'ITSM-1000', transition_name: ctx.portalTransition, comment: 'Done from the portal' },
    create_a_jira_service_management_service_desk_organization: { service_desk_id: '2', organization_id: ctx.org },
    create_a_jira_service_management_organization_user: { id: ctx.org, account_ids: [ctx.customer] },
  };
}

test('every tool called against the sandbox through the worker', async () => {
  const c = full.client;
  const issue = await call(c, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' });
  const rts = await call(c, 'list_all_jira_service_management_request_types', { service_desk_id: '2' });
  const orgs = await call(c, 'list_all_jira_service_management_organizations', {});
  const tr = await call(c, 'list_all_jira_service_management_issue_transitions', { id: 'ITSM-1042' });
  let attachment;
  for (let i = 1; i < 60 && !attachment; i++) {
    const raw = await sb(`/rest/api/3/issue/ITSM-${i}?fields=attachment`);
    const small = raw.fields?.attachment?.find((a) => a.size <= 262144);
    if (small) attachment = { id: small.id, key: `ITSM-${i}` };
  }
  assert.ok(attachment, 'an attachment in the seed');
  // One approval the agent may answer (pending, the agent an approver) and one it may not.
  let approvalKey, answerable, closed;
  for (let i = 1; i < 400 && !(answerable && closed); i++) {
    const a = await sb(`/rest/servicedeskapi/request/ITSM-${i}/approval`);
    for (const ap of a.values || []) {
      if (ap.canAnswerApproval && !answerable) answerable = { key: `ITSM-${i}`, id: String(ap.id) };
      if (!ap.canAnswerApproval && !closed) closed = { key: `ITSM-${i}`, id: String(ap.id) };
    }
  }
  assert.ok(answerable && closed, 'answerable and unanswerable approvals in the seed');
  approvalKey = closed.key;
  const types = await call(c, 'list_all_jira_service_management_issue_types', { project_key: 'ITSM' });
  const portal = await call(c, 'list_all_jira_service_management_request_transitions', { id: 'ITSM-1000' });
  const customers = await sb('/rest/servicedeskapi/servicedesk/2/customer?limit=5', { headers: { 'X-ExperimentalApi': 'opt-in' } });
  const ctx = {
    reporter: issue.reporter.accountId, requestType: rts.request_types[0].id, org: String(orgs.organizations[0].id),
    transition: tr.transitions.find((t) => !t.hasScreen).name, attachment: String(attachment.id), attachmentIssue: attachment.key,
    approvalKey, issueType: types.issue_types[0].id, portalTransition: portal.transitions[0].name, customer: customers.values[0].accountId,
  };
  const p = plan(ctx);
  const names = CATALOG.map((t) => t.name).filter((n) => n !== 'update_a_jira_service_management_request_approval_by_id');
  assert.deepEqual(Object.keys(p).sort(), [...names].sort(), 'the plan covers every catalog tool (the approval answer below)');
  const out = {};
  for (const name of Object.keys(p)) out[name] = await call(c, name, p[name]);
  assert.ok(out.create_a_jira_service_management_issue.key.startsWith('ITSM-'));
  assert.ok(out.create_a_jira_service_management_customer_request.issueKey.startsWith('ITSM-'));
  assert.equal(out.create_a_jira_service_management_customer_reply.public, true);
  assert.equal(out.create_a_jira_service_management_internal_note.public, false);
  const created = await sb(`/rest/api/3/issue/${out.create_a_jira_service_management_issue.key}`);
  assert.equal(created.fields.description.type, 'doc', 'description sent as ADF');
  const after1042 = await call(c, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-1042' });
  assert.equal(after1042.assignee.accountId, '712020:9e3779b1-0001-45a1-ab0b-5a4db0c0ffee', 'assigned by email');
  assert.equal(after1042.dueDate, '2026-12-24');
  assert.ok(out.get_single_jira_service_management_issue_count.count > 1000);
  assert.ok(out.list_all_jira_service_management_request_slas.slas.length >= 1);
  for (const sla of out.list_all_jira_service_management_request_slas.slas) assert.equal(typeof sla.breached, 'boolean', JSON.stringify(sla));
  assert.ok(out.get_single_jira_service_management_attachment_by_id.filename);
  // Answering: the agent's pending approval is approved; one it may not answer reports JSM's 409.
  const ok = await call(c, 'update_a_jira_service_management_request_approval_by_id', { id: answerable.key, approval_id: answerable.id, decision: 'approve' });
  const after = await sb(`/rest/servicedeskapi/request/${answerable.key}/approval/${answerable.id}`);
  assert.equal(after.finalDecision, 'approved', JSON.stringify(ok));
  const ans = await call(c, 'update_a_jira_service_management_request_approval_by_id', { id: closed.key, approval_id: closed.id, decision: 'approve' }, { error: true });
  assert.equal(ans.structuredContent.error.status, 409);
});

test('article workflow 1: incident triage on ITSM-994 (issue, comments, reporter time zone)', async () => {
  await articleTriage(full.client);
});

test('article workflow 2: the 5 oldest unresolved issues of "Network Outages" in desk 2', async () => {
  await articleOldestOutages(full.client);
});

test('method and tag filtering table (tools/list and tools/call agree)', async () => {
  const table = [
    [{ methods: ['read'] }, (r) => ['list', 'get'].includes(r.kind)],
    [{ methods: ['write'] }, (r) => ['create', 'update', 'delete'].includes(r.kind)],
    [{ methods: ['get'] }, (r) => r.kind === 'get'],
    [{ methods: ['create', 'delete'] }, (r) => ['create', 'delete'].includes(r.kind)],
    [{ tags: ['sla'] }, (r) => r.tags.includes('sla')],
    [{ tags: ['admin', 'worklogs'] }, (r) => r.tags.includes('admin') || r.tags.includes('worklogs')],
    [{ methods: ['read'], tags: ['organizations'] }, (r) => ['list', 'get'].includes(r.kind) && r.tags.includes('organizations')],
    [{ methods: ['write'], tags: ['comments'] }, (r) => r.kind === 'create' && r.tags.includes('comments')],
  ];
  for (const [i, [config, pick]] of table.entries()) {
    const c = await serverClient(`filter${i}`, config);
    const names = (await listAllTools(c)).map((t) => t.name).sort();
    assert.deepEqual(names, CATALOG.filter(pick).map((r) => r.name).sort(), JSON.stringify(config));
    const hidden = CATALOG.find((r) => !pick(r));
    await assert.rejects(c.callTool({ name: hidden.name, arguments: {} }), /-32602.*Unknown tool/, `${hidden.name} hidden by ${JSON.stringify(config)}`);
  }
});

// The reference for a paged tool: every item the JSM site has for the
// tool's request (the endpoint, query and headers of its catalog row), read
// from the sandbox directly with the site's own paging at its largest page,
// independent of the worker's cursors.
async function siteItems(row, args) {
  const fill = (v) => String(v).replace(/\{(\w+)\}/g, (_, k) => (args[k] === undefined ? '' : encodeURIComponent(args[k])));
  const path = fill(row.http.path);
  const headers = Object.fromEntries((row.http.headers || []).map((h) => h.split(': ')));
  const p = row.paging;
  const items = [];
  if (p.style === 'token') {
    let token;
    do {
      const page = await sb(path, { method: 'POST', headers, body: JSON.stringify({ jql: args.jql, maxResults: p.max_limit, fields: ['summary'], ...(token ? { nextPageToken: token } : {}) }) });
      items.push(...page[p.items]);
      token = page.nextPageToken;
    } while (token);
    return items;
  }
  for (let start = 0; ;) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(row.http.query || {})) if (fill(v) !== '') q.set(k, decodeURIComponent(fill(v)));
    q.set(p.start_param, String(start));
    q.set(p.limit_param, String(p.max_limit));
    const page = await sb(`${path}?${q}`, { headers });
    const got = p.items === '.' ? page : page[p.items];
    assert.ok(Array.isArray(got), `${row.name}: the site's page: ${JSON.stringify(page).slice(0, 300)}`);
    items.push(...got);
    start += got.length;
    const last = p.style === 'start' ? page.isLastPage : p.style === 'startAt' ? start >= page.total : got.length < p.max_limit;
    if (last || got.length === 0) return items;
  }
}

// An item's identity in both forms, the site's raw item and the tool's
// compact one (create fields: fieldId in both; knowledge base articles:
// source.pageId raw, pageId compact;
// a status history entry is its status at a time: statusDate raw, date compact).
const when = (x) => (x.statusDate ? x.statusDate.epochMillis : x.date !== undefined ? Date.parse(x.date) : undefined);
const ident = (x) => String(x.fieldId ?? x.key ?? x.id ?? x.accountId ?? x.issueKey ?? x.pageId ?? x.source?.pageId ??
  (when(x) !== undefined ? `${x.status}@${when(x)}` : JSON.stringify(x)));

test('paging to the end of every paged list tool: every item of the site once, over more than one page', async () => {
  const c = full.client;
  // Limits under what the site has, so that every tool pages (asserted below).
  const args = {
    list_all_jira_service_management_search_issues: { jql: 'project = HW ORDER BY created ASC', limit: 40 },
    list_all_jira_service_management_issue_comments: { id: 'ITSM-994', limit: 2 },
    list_all_jira_service_management_queues: { service_desk_id: '2', limit: 3 },
    list_all_jira_service_management_queue_issues: { service_desk_id: '3', queue_id: '24', limit: 3 },
    list_all_jira_service_management_user_search: { query: 'a', limit: 1 },
    list_all_jira_service_management_service_desks: { limit: 1 },
    list_all_jira_service_management_request_types: { service_desk_id: '2', limit: 2 },
    list_all_jira_service_management_customer_requests: { service_desk_id: '3', limit: 4 },
    list_all_jira_service_management_request_comments: { id: 'ITSM-994', limit: 2 },
    list_all_jira_service_management_request_slas: { id: 'ITSM-994', limit: 1 },
    list_all_jira_service_management_request_approvals: { id: null, limit: 1 },
    list_all_jira_service_management_request_participants: { id: 'ITSM-7', limit: 1 },
    list_all_jira_service_management_customers: { service_desk_id: '2', limit: 10 },
    list_all_jira_service_management_organizations: { limit: 2 },
    list_all_jira_service_management_organization_users: { id: null, limit: 2 },
    list_all_jira_service_management_issue_worklogs: { id: null, limit: 2 },
    list_all_jira_service_management_knowledge_base_articles: { query: 'the', limit: 2 },
    list_all_jira_service_management_request_transitions: { id: 'ITSM-994', limit: 1 },
    list_all_jira_service_management_issue_changelog: { id: 'HW-7', limit: 1 },
    list_all_jira_service_management_request_status_history: { id: 'HW-7', limit: 2 },
    list_all_jira_service_management_issue_types: { project_key: 'ITSM', limit: 2 },
    list_all_jira_service_management_issue_type_fields: { project_key: 'ITSM', issue_type_id: null, limit: 4 },
    list_all_jira_service_management_projects: { limit: 1 },
  };
  args.list_all_jira_service_management_issue_type_fields.issue_type_id = (await call(c, 'list_all_jira_service_management_issue_types', { project_key: 'ITSM' })).issue_types[0].id;
  const orgs = await call(c, 'list_all_jira_service_management_organizations', {});
  args.list_all_jira_service_management_organization_users.id = String(orgs.organizations[0].id);
  // A request with a two-stage approval (the sandbox seeds some).
  for (let i = 1; i < 400 && !args.list_all_jira_service_management_request_approvals.id; i++)
    if ((await sb(`/rest/servicedeskapi/request/ITSM-${i}/approval`)).values?.length >= 2)
      args.list_all_jira_service_management_request_approvals.id = `ITSM-${i}`;
  // Three participants on ITSM-7, added at the site.
  const people = (await sb('/rest/servicedeskapi/servicedesk/2/customer?limit=3', { headers: { 'X-ExperimentalApi': 'opt-in' } })).values;
  await sb('/rest/servicedeskapi/request/ITSM-7/participant', { method: 'POST', body: JSON.stringify({ accountIds: people.map((u) => u.accountId) }) });
  // Three worklogs on ITSM-7, logged at the site.
  for (let i = 0; i < 3; i++)
    await sb('/rest/api/3/issue/ITSM-7/worklog', { method: 'POST', body: JSON.stringify({ timeSpentSeconds: 1800 * (i + 1) }) });
  args.list_all_jira_service_management_issue_worklogs.id = 'ITSM-7';
  const paged = CATALOG.filter((r) => r.paging).map((r) => r.name);
  assert.deepEqual(Object.keys(args).sort(), [...paged].sort(), 'every paged list tool is walked');
  for (const name of paged) {
    const row = CATALOG.find((r) => r.name === name);
    const key = row.output.key;
    const limit = args[name].limit;
    assert.ok(Object.values(args[name]).every((v) => v !== null), `${name}: the seed has what it needs: ${JSON.stringify(args[name])}`);
    const want = (await siteItems(row, args[name])).map(ident);
    assert.ok(want.length > limit, `${name}: the site has ${want.length} items, not more than a page of ${limit}`);
    const seen = [];
    let cursor;
    let pages = 0;
    do {
      const page = await call(c, name, { ...args[name], ...(cursor ? { next_cursor: cursor } : {}) });
      assert.ok(page[key].length <= limit, `${name}: a page of ${page[key].length} over the limit ${limit}`);
      seen.push(...page[key].map(ident));
      cursor = page.next_cursor;
      assert.ok(++pages < 200, `${name}: too many pages`);
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, `${name}: no item twice (${seen.length} over ${pages} pages)`);
    assert.deepEqual([...seen].sort(), [...want].sort(), `${name}: every item of the site, and only those`);
    // A bare array (offset style) says nothing of what follows: a full last
    // page is followed by an empty one.
    const pagesWanted = row.paging.style === 'offset' ? Math.floor(want.length / limit) + 1 : Math.ceil(want.length / limit);
    assert.equal(pages, pagesWanted, `${name}: ${want.length} items in pages of ${limit}`);
  }
  // The hard cap: a limit over the maximum is refused by the schema.
  await argsRefused(c, { name: 'list_all_jira_service_management_search_issues', arguments: { jql: 'project = HW', limit: 101 } }, /limit/);
  await argsRefused(c, { name: 'list_all_jira_service_management_queues', arguments: { service_desk_id: '2', next_cursor: 'forged' } }, /next_cursor/);
  // A start past Jira's 32-bit startAt was never one of ours: refused, not sent upstream.
  const big = Buffer.from('s:99999999999999999999').toString('base64url');
  await argsRefused(c, { name: 'list_all_jira_service_management_queues', arguments: { service_desk_id: '2', next_cursor: big } }, /next_cursor/);
  const max = Buffer.from('s:2147483647').toString('base64url');
  assert.ok((await c.callTool({ name: 'list_all_jira_service_management_queues', arguments: { service_desk_id: '2', next_cursor: max } })) !== undefined, 'the largest startAt is a cursor');
});

test('JQL with field names: custom field names become ids, unknown names list the closest', async () => {
  const c = full.client;
  const fields = await call(c, 'list_all_jira_service_management_fields', {});
  const rt = fields.fields.find((f) => f.name === 'Request Type');
  assert.ok(rt && rt.custom, 'Request Type is a custom field');
  const byId = await call(c, 'list_all_jira_service_management_search_issues', { jql: `project = ITSM AND cf[${rt.id.replace('customfield_', '')}] is not EMPTY ORDER BY key ASC`, limit: 10 });
  const byName = await call(c, 'list_all_jira_service_management_search_issues', { jql: 'project = ITSM AND "request type" is not EMPTY ORDER BY key ASC', limit: 10 });
  assert.ok(byName.issues.length > 0);
  assert.deepEqual(byName.issues.map((i) => i.key), byId.issues.map((i) => i.key));
  const bad = await call(c, 'list_all_jira_service_management_search_issues', { jql: 'project = ITSM AND "Reqest Type" = x' }, { error: true });
  assert.match(bad.content[0].text, /unknown field "Reqest Type".*closest fields: "Request Type"/);
  const count = await call(c, 'get_single_jira_service_management_issue_count', { jql: '"Request Type" is not EMPTY AND project = HW' });
  assert.ok(count.count > 0);
});

test('config.projects scopes JQL and issue keys', async () => {
  const c = await serverClient('projects', { methods: ['read'], projects: ['HW'] });
  const r = await call(c, 'list_all_jira_service_management_search_issues', { jql: 'project = ITSM OR project = HW ORDER BY created ASC', limit: 20 });
  assert.ok(r.issues.length > 0 && r.issues.every((i) => i.key.startsWith('HW-')), r.issues.map((i) => i.key).join());
  const e = await call(c, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' }, { error: true });
  assert.match(e.content[0].text, /limited to the projects/);
  const sdOk = await call(c, 'list_all_jira_service_management_issue_comments', { id: 'HW-7' });
  assert.ok(Array.isArray(sdOk.comments));
  const q = await call(c, 'list_all_jira_service_management_queues', { service_desk_id: '3' });
  assert.ok(q.queues.length > 0, 'desk 3 is HW');
  const other = await call(c, 'list_all_jira_service_management_queue_issues', { service_desk_id: '2', queue_id: '13' }, { error: true });
  assert.match(other.content[0].text, /service desk 2 belongs to another project/);
  // Lists that would span the whole site need a desk of an allowed project.
  for (const name of ['list_all_jira_service_management_customer_requests', 'list_all_jira_service_management_organizations']) {
    const wide = await call(c, name, {}, { error: true });
    assert.match(wide.content[0].text, /service_desk_id is required: this MCP server is limited to the projects/, name);
  }
  const hwReqs = await call(c, 'list_all_jira_service_management_customer_requests', { service_desk_id: '3', limit: 50 });
  assert.ok(hwReqs.requests.length > 0 && hwReqs.requests.every((r) => r.issueKey.startsWith('HW-')), JSON.stringify(hwReqs).slice(0, 300));
  await call(c, 'list_all_jira_service_management_customer_requests', { service_desk_id: '2' }, { error: true });
  // The desk list shows only the allowed projects' desks (the unscoped server sees more).
  const desks = await call(c, 'list_all_jira_service_management_service_desks', { limit: 50 });
  assert.deepEqual(desks.service_desks.map((d) => d.projectKey), ['HW']);
  const all = await call(full.client, 'list_all_jira_service_management_service_desks', { limit: 50 });
  assert.ok(all.service_desks.length > 1);
  // What cannot be tied to a project (an organization by id and its users,
  // an attachment by id) is not offered, and a call says why.
  const listed = (await listAllTools(c)).map((t) => t.name);
  for (const name of ['get_single_jira_service_management_organization_by_id',
    'list_all_jira_service_management_organization_users', 'get_single_jira_service_management_attachment_by_id']) {
    assert.ok(!listed.includes(name), `${name} is not listed`);
    assert.ok((await listAllTools(full.client)).some((t) => t.name === name), `${name} is listed without projects`);
    await assert.rejects(c.callTool({ name, arguments: { id: '1' } }), /-32602.*limited to some projects/, name);
  }
  assert.ok(listed.includes('list_all_jira_service_management_organizations'), 'the desk-scoped list stays');
  // Creating an issue: only in an allowed project.
  const w = await serverClient('projects-write', { projects: ['HW'] });
  const denied = await call(w, 'create_a_jira_service_management_issue', { project_key: 'ITSM', summary: 'scoped?', issue_type: 'Incident' }, { error: true });
  assert.match(denied.content[0].text, /project_key: this MCP server is limited to the projects in its config.projects; "ITSM" is not one of them/);
  const made = await call(w, 'create_a_jira_service_management_issue', { project_key: 'HW', summary: 'scoped', issue_type: 'Incident' });
  assert.match(made.key, /^HW-/);
});

test('bad arguments per tool: missing required, unknown property, wrong type', async () => {
  const c = full.client;
  for (const row of CATALOG) {
    const props = row.inputSchema.properties;
    const req = row.inputSchema.required || [];
    if (req.length) await argsRefused(c, { name: row.name, arguments: {} }, new RegExp(`missing required property '${req[0]}'`));
    await argsRefused(c, { name: row.name, arguments: { surprise: 1 } }, /Invalid arguments/, `${row.name}: unknown property`);
    const [p0, sch] = Object.entries(props)[0] || [];
    if (p0) {
      const wrong = sch.type === 'string' ? 42 : 'nope';
      await argsRefused(c, { name: row.name, arguments: { [p0]: wrong } }, /Invalid arguments/, `${row.name}: ${p0} of the wrong type`);
    }
  }
  const amb = await call(c, 'update_a_jira_service_management_issue_status_by_id', { id: 'ITSM-994', transition_name: 'no such transition' }, { error: true });
  assert.match(amb.content[0].text, /no transition matches "no such transition"; candidates: /);
  const nouser = await call(c, 'update_a_jira_service_management_issue_assignee_by_id', { id: 'ITSM-994', user: 'nobody-at-all@nowhere.test' }, { error: true });
  assert.match(nouser.content[0].text, /no user has the email address "nobody-at-all@nowhere.test": the address is wrong, or the user hides it/);
  const noname = await call(c, 'update_a_jira_service_management_issue_assignee_by_id', { id: 'ITSM-994', user: 'Nobody At All' }, { error: true });
  assert.match(noname.content[0].text, /no user matches "Nobody At All"/);
  const users = await call(c, 'list_all_jira_service_management_user_search', { query: 'a', limit: 100 });
  const first = users.users.map((u) => u.name.split(' ')[0]);
  const dup = first.find((n, i) => first.indexOf(n) !== i);
  const ambiguous = await call(c, 'update_a_jira_service_management_issue_assignee_by_id', { id: 'ITSM-994', user: dup }, { error: true });
  assert.match(ambiguous.content[0].text, new RegExp(`user "${dup}" is ambiguous: it matches .*Pass account_id instead`));
});

test('discovery exposure: three tools, search, schema, call', async () => {
  const c = await serverClient('discovery', { tool_exposure: 'discovery', methods: ['read'] });
  const tools = await listAllTools(c);
  assert.deepEqual(tools.map((t) => t.name).sort(), ['call_tool', 'get_tool_schema', 'search_tools']);
  const found = await call(c, 'search_tools', { query: 'queue issues' });
  assert.equal(found.tools[0].name, 'list_all_jira_service_management_queue_issues');
  const schema = await call(c, 'get_tool_schema', { name: 'get_single_jira_service_management_issue_by_id' });
  assert.deepEqual(schema.inputSchema.required, ['id']);
  const res = await c.callTool({ name: 'call_tool', arguments: { name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } } });
  assert.equal(res.structuredContent.key, 'ITSM-994');
  await assert.rejects(c.callTool({ name: 'call_tool', arguments: { name: 'create_a_jira_service_management_internal_note', arguments: { id: 'ITSM-994', body: 'x' } } }), /-32602.*Unknown tool/);
  await assert.rejects(c.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } }), /-32602.*Unknown tool/);
});

test('idempotency_key: a retried write creates one comment', async () => {
  const c = full.client;
  const before = (await sb('/rest/servicedeskapi/request/HW-7/comment?limit=100')).size;
  const args = { id: 'HW-7', body: 'We are on it.', idempotency_key: `k-${process.pid}` };
  const a = await call(c, 'create_a_jira_service_management_customer_reply', args);
  const b = await call(c, 'create_a_jira_service_management_customer_reply', args);
  assert.deepEqual(b, a, 'the retry answers with the first result');
  assert.equal((await sb('/rest/servicedeskapi/request/HW-7/comment?limit=100')).size, before + 1);
  await argsRefused(c, { name: 'create_a_jira_service_management_customer_reply', arguments: { ...args, body: 'other' } }, /different arguments/);
  const fresh = await call(c, 'create_a_jira_service_management_customer_reply', { ...args, idempotency_key: `k2-${process.pid}` });
  assert.notEqual(fresh.id, a.id);
});

test('compact by default, raw on request; sizes for BENCHMARKS.md', async () => {
  const c = full.client;
  const size = async (name, args) => {
    const r = await c.callTool({ name, arguments: args });
    assert.ok(!r.isError);
    return { bytes: Buffer.byteLength(JSON.stringify(r)), sc: r.structuredContent };
  };
  const figures = {};
  for (const id of ['ITSM-994', 'ITSM-1042']) {
    const compact = await size('get_single_jira_service_management_issue_by_id', { id });
    const raw = await size('get_single_jira_service_management_issue_by_id', { id, raw: true });
    assert.ok(raw.sc.raw.fields?.comment || raw.sc.raw.fields?.attachment, 'raw: the full JSM payload (*all fields)');
    figures[`get-issue ${id}`] = { compact: compact.bytes, raw: raw.bytes, ratio: +(raw.bytes / compact.bytes).toFixed(1) };
  }
  const sc = await size('list_all_jira_service_management_search_issues', { jql: 'project = ITSM ORDER BY created ASC', limit: 25 });
  const sr = await size('list_all_jira_service_management_search_issues', { jql: 'project = ITSM ORDER BY created ASC', limit: 25, raw: true });
  figures['search 25'] = { compact: sc.bytes, raw: sr.bytes, ratio: +(sr.bytes / sc.bytes).toFixed(1) };
  // Issue 22's tools (and include on the search: description and the latest comments in one pass).
  const types = await call(c, 'list_all_jira_service_management_issue_types', { project_key: 'ITSM' });
  const change = types.issue_types.find((t) => t.name === 'Change').id;
  const more = [
    ['search 25 + include', 'list_all_jira_service_management_search_issues', { jql: 'project = ITSM ORDER BY created ASC', limit: 25, include: ['description', 'comments'] }],
    ['knowledge base (vpn)', 'list_all_jira_service_management_knowledge_base_articles', { query: 'vpn', limit: 10 }],
    ['changelog ITSM-994', 'list_all_jira_service_management_issue_changelog', { id: 'ITSM-994', limit: 100 }],
    ['status history HW-7', 'list_all_jira_service_management_request_status_history', { id: 'HW-7' }],
    ['links ITSM-994', 'list_all_jira_service_management_issue_links', { id: 'ITSM-994' }],
    ['watchers ITSM-994', 'list_all_jira_service_management_issue_watchers', { id: 'ITSM-994' }],
    ['attachments ITSM-1042', 'list_all_jira_service_management_issue_attachments', { id: 'ITSM-1042' }],
    ['portal transitions ITSM-994', 'list_all_jira_service_management_request_transitions', { id: 'ITSM-994' }],
    ['link types', 'list_all_jira_service_management_issue_link_types', {}],
    ['issue types ITSM', 'list_all_jira_service_management_issue_types', { project_key: 'ITSM' }],
    ['create fields ITSM Change', 'list_all_jira_service_management_issue_type_fields', { project_key: 'ITSM', issue_type_id: change, limit: 50 }],
    ['projects', 'list_all_jira_service_management_projects', {}],
    ['user + groups', 'get_single_jira_service_management_user_by_id', { id: '5b10ac8d82e05b22cc7d4ef5', include: ['groups'] }],
  ];
  for (const [label, name, args] of more) {
    const cc = await size(name, args);
    const rr = await size(name, { ...args, raw: true });
    figures[label] = { compact: cc.bytes, raw: rr.bytes, ratio: +(rr.bytes / cc.bytes).toFixed(1) };
  }
  const listBytes = async (client) => Buffer.byteLength(JSON.stringify(await listAllTools(client)));
  figures['tools/list bytes'] = {
    full: await listBytes(full.client),
    read_only: await listBytes(await serverClient('readonly', { methods: ['read'] })),
    discovery: await listBytes(await serverClient('discovery', { tool_exposure: 'discovery', methods: ['read'] })),
  };
  console.log(`# catalog figures ${JSON.stringify(figures)}`);
  // get-issue must be at least 5x smaller than the full JSM issue JSON (all fields).
  const full994 = await sb('/rest/api/3/issue/ITSM-994');
  const compact994 = (await c.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'ITSM-994' } })).content[0].text;
  assert.ok(Buffer.byteLength(JSON.stringify(full994)) >= 5 * Buffer.byteLength(compact994), `${JSON.stringify(full994).length} vs ${compact994.length}`);
});

test('W3C traceparent: the client\'s trace reaches JSM under the worker\'s own span, and the worker\'s log line', async () => {
  const trace = randomBytes(16).toString('hex');
  const parent = randomBytes(8).toString('hex');
  const c = await connect(s.mcpUrl, { headers: { traceparent: `00-${trace}-${parent}-01` } });
  await call(c.client, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' });
  await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'NOPE-404' } });
  // A malformed traceparent is ignored: the call gets a trace of its own.
  const bad = await connect(s.mcpUrl, { headers: { traceparent: `00-${'0'.repeat(32)}-${parent}-01` } });
  await call(bad.client, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-993' });
  await close(bad);
  await close(c);
  const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json();
  const mine = log.entries.filter((e) => e.path === '/rest/api/3/issue/ITSM-994' && e.traceparent.includes(trace));
  assert.ok(mine.length >= 1, `no JSM request carried trace ${trace}`);
  for (const e of mine) {
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(e.traceparent);
    assert.ok(m, `traceparent upstream: ${e.traceparent}`);
    assert.notEqual(m[2], parent, 'the worker sends its own span id, not the client\'s');
  }
  const other = log.entries.filter((e) => e.path === '/rest/api/3/issue/ITSM-993');
  assert.ok(other.length >= 1 && other.every((e) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/.test(e.traceparent) && !e.traceparent.includes('0'.repeat(32))),
    `an invalid traceparent starts a new trace: ${JSON.stringify(other.map((e) => e.traceparent))}`);
  // The failed call's log line names the trace (the log reaches the file through a pipe: poll).
  let line;
  for (let i = 0; i < 100 && !line; i++) {
    line = readFileSync(s.worker.logPath, 'utf8').split('\n').find((l) => l.includes('"tool call failed"') && l.includes(`"trace_id":"${trace}"`));
    if (!line) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(line, 'no "tool call failed" line with the trace id');
});

test('X-Request-Id goes upstream; one audit entry per call in <prefix>audit', async () => {
  const rid = `trace-${process.pid}`;
  const c = await connect(s.mcpUrl, { headers: { 'X-Request-Id': rid } });
  await call(c.client, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' });
  await c.client.callTool({ name: 'get_single_jira_service_management_issue_by_id', arguments: { id: 'NOPE-1' } });
  await close(c);
  const log = await (await fetch(`${s.sandboxUrl}/__sandbox/requests?limit=1000`)).json();
  assert.ok(log.entries.some((e) => e.requestId === rid && e.path === '/rest/api/3/issue/ITSM-994'), 'sandbox saw our X-Request-Id');
  // The admin API drains the stream into PostgreSQL; its calls endpoint
  // (newest first: these two are the newest) shows exactly one record per
  // call, waited for (the drain runs every 200 ms; 60 s at most).
  const callsOf = async () => {
    const r = await api(s, s.key, 'GET', `/integrated-account/${s.accountId}/mcp/${s.serverId}/calls`);
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json?.result), r.text);
    return r.json.result.filter((e) => e.request_id === rid);
  };
  let mine = [];
  await waitFor(async () => (mine = await callsOf()).length >= 2, `the audit records of ${rid}`, 60000);
  assert.equal(mine.length, 2, `one record per call: ${JSON.stringify(mine)}`);
  for (const e of mine) assert.equal(e.tool, 'get_single_jira_service_management_issue_by_id');
  const ok = mine.find((e) => e.upstream_status === 200);
  const nf = mine.find((e) => e.upstream_status === 404);
  assert.ok(ok && nf, JSON.stringify(mine));
  assert.equal(ok.error_class ?? '', '');
  assert.equal(nf.error_class, 'upstream_4xx');
  // SHA-256 of the arguments as compact JSON with sorted keys, for both calls.
  assert.equal(ok.args_sha256, createHash('sha256').update('{"id":"ITSM-994"}').digest('hex'));
  assert.equal(nf.args_sha256, createHash('sha256').update('{"id":"NOPE-1"}').digest('hex'));
  assert.ok(Number(ok.latency_ms) > 0);
  assert.ok(ok.ratelimit?.limit > 0 && ok.ratelimit.remaining >= 0, 'X-RateLimit-* of the upstream answer');
  assert.equal(ok.upstream_request_id, rid, 'the upstream request id (the sandbox echoes ours)');
});
