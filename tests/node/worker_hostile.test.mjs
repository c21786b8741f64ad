// A hostile agent cannot leave its server's scope (issue 20). A table of
// adversarial tool calls, made with the official SDK client through the real
// workers against the JSM sandbox, on a server limited to ITSM and read only
// (and, for the write tools' id tricks, on an ITSM server that may write):
// JQL tricks of every kind, raw: true, path tricks, ids of other projects'
// issues, desks, queues, requests, request types and organizations, write
// tools on a read-only server, oversized and wrongly typed arguments.
//
// Every answer is checked for data of the other projects (HELP, HW): issue
// keys, project keys, their desks, queues, request types and the
// organization only their desks have. The sandbox's "writes" counter proves
// no write reached it, and its request log that no upstream path carried a
// dot segment and that arguments refused as malformed made no request.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { close, connect } from './lib/mcp_client.mjs';
import { createServer, requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack();
let s;
let ro; // SDK client: projects ["ITSM"], methods ["read"]
let rw; // SDK client: projects ["ITSM"], every method
const T = 'list_all_jira_service_management_';
const G = 'get_single_jira_service_management_';
const SEARCH = `${T}search_issues`;
const COUNT = `${G}issue_count`;
const FOREIGN = ['HELP', 'HW'];
const facts = {}; // ground truth read from the sandbox directly

const basic = `Basic ${Buffer.from('agent@sandbox.test:sandbox-api-token').toString('base64')}`;
const sb = async (p, init = {}) => {
  const r = await fetch(`${s.sandboxUrl}${p}`, { ...init, headers: { Authorization: basic, 'Content-Type': 'application/json', ...(init.headers || {}) } });
  const text = await r.text();
  return text ? JSON.parse(text) : null;
};
const writes = async () => (await sb('/__sandbox/counters')).writes;
const lastSeq = async () => (await sb('/__sandbox/requests?limit=1')).lastSeq;
const requestsSince = async (seq) => (await sb(`/__sandbox/requests?since=${seq}&limit=1000`)).entries;

before(async () => {
  s = await startStack({ workers: 2, server: { name: 'itsm-read', config: { methods: ['read'], projects: ['ITSM'] } } });
  ro = await connect(s.mcpUrl);
  const w = await createServer(s, { name: 'itsm-write', config: { projects: ['ITSM'] } });
  rw = await connect(w.url);

  const state = await sb('/__sandbox/state');
  const desk = (k) => state.desks.find((d) => d.projectKey === k);
  facts.itsmDesk = String(desk('ITSM').id);
  facts.foreignDesks = FOREIGN.map((k) => String(desk(k).id));
  facts.itsmQueues = desk('ITSM').queues.map((q) => String(q.id));
  facts.foreignQueues = FOREIGN.flatMap((k) => desk(k).queues.map((q) => String(q.id)));
  facts.foreignQueue = { desk: String(desk('HW').id), queue: facts.foreignQueues.find((q) => desk('HW').queues.some((x) => String(x.id) === q)) };
  const rts = async (d) => (await sb(`/rest/servicedeskapi/servicedesk/${d}/requesttype?limit=100`)).values.map((r) => String(r.id));
  facts.itsmRequestTypes = await rts(facts.itsmDesk);
  facts.foreignRequestTypes = (await Promise.all(facts.foreignDesks.map(rts))).flat().filter((id) => !facts.itsmRequestTypes.includes(id));
  const orgs = async (d) => (await sb(`/rest/servicedeskapi/servicedesk/${d}/organization?limit=100`)).values;
  const itsmOrgs = await orgs(facts.itsmDesk);
  facts.itsmOrgIds = itsmOrgs.map((o) => String(o.id));
  facts.foreignOrgs = (await Promise.all(facts.foreignDesks.map(orgs))).flat().filter((o) => !facts.itsmOrgIds.includes(String(o.id)));
  assert.ok(facts.foreignOrgs.length > 0, 'the seed has an organization only other desks have');
  facts.helpIssueId = String((await sb('/rest/api/3/issue/HELP-1?fields=summary')).id);
  facts.hwIssueId = String((await sb('/rest/api/3/issue/HW-2?fields=summary')).id);
  facts.itsmIssueId = String((await sb('/rest/api/3/issue/ITSM-994?fields=summary')).id);
  facts.reporter = (await sb('/rest/api/3/issue/ITSM-994?fields=reporter')).fields.reporter.accountId;
  facts.itsmTotal = (await sb('/rest/api/3/search/approximate-count', { method: 'POST', body: JSON.stringify({ jql: 'project = ITSM' }) })).count;
  // Issue 22: an ITSM issue linked to a HW issue (its links list must not
  // show the other end on an ITSM server), and an ITSM issue's attachment.
  await sb('/rest/api/3/issueLink', { method: 'POST', body: JSON.stringify({ type: { name: 'Relates' }, inwardIssue: { key: 'ITSM-900' }, outwardIssue: { key: 'HW-2' } }) });
  await sb('/rest/api/3/issueLink', { method: 'POST', body: JSON.stringify({ type: { name: 'Blocks' }, inwardIssue: { key: 'ITSM-900' }, outwardIssue: { key: 'ITSM-901' } }) });
  const withFiles = async (keys) => {
    for (const k of keys) {
      const a = (await sb(`/rest/api/3/issue/${k}?fields=attachment`)).fields.attachment;
      if (a.length) return { key: k, id: String(a[0].id) };
    }
    return null;
  };
  facts.itsmAttachment = await withFiles(Array.from({ length: 80 }, (_, i) => `ITSM-${i + 1}`));
  facts.hwAttachment = await withFiles(Array.from({ length: 80 }, (_, i) => `HW-${i + 1}`));
  assert.ok(facts.itsmAttachment && facts.hwAttachment, 'attachments in ITSM and HW');
});
after(async () => {
  if (!s) return;
  for (const c of [ro, rw]) if (c) await close(c);
  const codes = await stopStack(s);
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

// ---- what counts as a leak ----
const foreignKey = /\b(?:HELP|HW)-\d+\b/g;

// Data of another project in an answer: issue keys (not echoed from the
// arguments), project keys, other desks, their queues, request types and
// organizations, whether compact or raw.
function leaks(res, args) {
  const out = [];
  const text = JSON.stringify(res);
  const echoed = new Set(JSON.stringify(args).match(foreignKey) || []);
  for (const k of text.match(foreignKey) || []) if (!echoed.has(k)) out.push(`issue key ${k}`);
  for (const o of facts.foreignOrgs) if (text.includes(o.name)) out.push(`organization "${o.name}"`);
  const walk = (v, path) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}/${i}`));
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' || typeof x === 'number') {
        const sx = String(x);
        if (['project', 'projectKey'].includes(k) && FOREIGN.includes(sx)) out.push(`${path}/${k} = ${sx}`);
        if (k === 'key' && FOREIGN.includes(sx) && v.projectTypeKey !== undefined) out.push(`${path}/key = ${sx} (a project)`);
        if (k === 'serviceDeskId' && facts.foreignDesks.includes(sx)) out.push(`${path}/serviceDeskId = ${sx}`);
      }
      walk(x, `${path}/${k}`);
    }
  };
  walk(res.structuredContent, '');
  const sc = res.structuredContent || {};
  for (const d of sc.service_desks || []) if (d.projectKey !== 'ITSM') out.push(`desk ${d.id} (${d.projectKey})`);
  for (const q of sc.queues || []) if (!facts.itsmQueues.includes(String(q.id))) out.push(`queue ${q.id}`);
  for (const r of sc.request_types || []) if (!facts.itsmRequestTypes.includes(String(r.id))) out.push(`request type ${r.id}`);
  for (const o of sc.organizations || []) if (!facts.itsmOrgIds.includes(String(o.id))) out.push(`organization ${o.id}`);
  for (const p of sc.projects || []) if (p.key !== 'ITSM') out.push(`project ${p.key}`);
  for (const p of sc.raw?.values || []) if (p.key && p.projectTypeKey && p.key !== 'ITSM') out.push(`raw project ${p.key}`);
  for (const d of sc.raw?.values || []) if (d.projectKey && d.projectKey !== 'ITSM') out.push(`raw desk ${d.id} (${d.projectKey})`);
  return out;
}

// ---- the table ----
// srv: 'ro' (default) or 'rw'. expect: 'refused' (isError or a JSON-RPC
// error), 'ok' (a result, checked for leaks), or 'any' (either; leaks are
// checked). upstream: 0 = no request may reach the sandbox. check(res):
// extra assertions on a result.
const long = (n, unit) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
const deep = (n) => `${'('.repeat(n)}project = HELP${')'.repeat(n)}`;
const keysOnly = (res) => (res.structuredContent?.issues || []).forEach((i) => assert.match(i.key, /^ITSM-/, i.key));

const cases = () => [
  // JQL: parentheses and the project clause
  { what: 'the issue\'s repro: a stray ) closes the scope', tool: SEARCH, args: { jql: 'key = ITSM-994) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'count: a stray ) closes the scope', tool: COUNT, args: { jql: 'key = ITSM-994) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'project = HELP) OR (project = ITSM', tool: SEARCH, args: { jql: 'project = HELP) OR (project = ITSM' }, expect: 'refused', upstream: 0 },
  { what: 'two stray parens', tool: SEARCH, args: { jql: 'status = Open)) OR ((project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'leading )', tool: SEARCH, args: { jql: ') OR project = HELP OR (' }, expect: 'refused', upstream: 0 },
  { what: 'count: leading )', tool: COUNT, args: { jql: ') OR project = HW OR (' }, expect: 'refused', upstream: 0 },
  { what: 'unclosed (', tool: SEARCH, args: { jql: '(project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'a ) inside ORDER BY', tool: SEARCH, args: { jql: 'project = HELP ORDER BY created) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'ORDER BY then a clause', tool: SEARCH, args: { jql: 'key = ITSM-1 ORDER BY key ASC) OR (project = HW' }, expect: 'refused', upstream: 0 },
  { what: 'ORDER BY inside parentheses', tool: SEARCH, args: { jql: '(key = ITSM-1 ORDER BY key) OR project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'two ORDER BY', tool: SEARCH, args: { jql: 'project = HELP ORDER BY key ORDER BY created' }, expect: 'refused', upstream: 0 },
  { what: 'ORDER BY alone is scoped', tool: SEARCH, args: { jql: 'ORDER BY created DESC', limit: 20 }, expect: 'ok', check: keysOnly },
  { what: 'project = HELP is scoped', tool: SEARCH, args: { jql: 'project = HELP', limit: 20 }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.issues.length, 0) },
  { what: 'project in (HELP, HW) is scoped', tool: SEARCH, args: { jql: 'project in (HELP, HW) ORDER BY key', limit: 20 }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.issues.length, 0) },
  { what: 'OR across projects', tool: SEARCH, args: { jql: 'project = HELP OR project = ITSM OR project = HW ORDER BY created', limit: 50 }, expect: 'ok', check: keysOnly },
  { what: 'count: project = HELP', tool: COUNT, args: { jql: 'project = HELP' }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.count, 0) },
  { what: 'count: OR across projects', tool: COUNT, args: { jql: 'project = HW OR project = ITSM OR project = HELP' }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.count, facts.itsmTotal) },
  { what: 'issuekey in (...) with other projects\' keys', tool: SEARCH, args: { jql: 'issuekey in (HELP-1, HW-1, ITSM-994)' }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.issues.map((i) => i.key), ['ITSM-994']) },
  { what: 'key = HELP-1', tool: SEARCH, args: { jql: 'key = HELP-1' }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.issues.length, 0) },
  { what: 'NOT project = ITSM', tool: SEARCH, args: { jql: 'NOT project = ITSM' }, expect: 'ok', check: (r) => assert.equal(r.structuredContent.issues.length, 0) },
  { what: '|| and && as OR and AND', tool: SEARCH, args: { jql: 'key = ITSM-994 || project = HELP && project = HELP', limit: 50 }, expect: 'any', check: keysOnly },
  // JQL: quotes and escapes
  { what: 'escaped double quote keeps the string open', tool: SEARCH, args: { jql: 'summary ~ "x\\") OR (project = HELP"' }, expect: 'any', check: keysOnly },
  { what: 'escaped single quote keeps the string open', tool: SEARCH, args: { jql: "summary ~ 'x\\') OR (project = HELP'" }, expect: 'any', check: keysOnly },
  { what: 'escaped backslash then a real quote', tool: SEARCH, args: { jql: 'summary ~ "x\\\\") OR (project = HELP OR summary ~ ("' }, expect: 'refused', upstream: 0 },
  { what: 'unterminated string', tool: SEARCH, args: { jql: 'summary ~ "VPN) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'quote in the middle of a word', tool: SEARCH, args: { jql: 'key = ITSM-1"" ) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'unknown escape outside a string', tool: SEARCH, args: { jql: 'key = ITSM-1 \\) OR \\( project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'quoted field names', tool: SEARCH, args: { jql: '"project" = HELP) OR ("project" = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'custom field then a stray )', tool: SEARCH, args: { jql: 'cf[10010] is EMPTY) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'newline before the )', tool: SEARCH, args: { jql: 'key = ITSM-1\n) OR (\nproject = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'NUL byte', tool: SEARCH, args: { jql: 'key = ITSM-994\u0000) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  // JQL: unicode look-alikes
  { what: 'fullwidth parentheses', tool: SEARCH, args: { jql: 'key = ITSM-994 \uff09 OR \uff08 project = HELP' }, expect: 'any', check: keysOnly },
  { what: 'fullwidth project key', tool: SEARCH, args: { jql: 'project = \uff28\uff25\uff2c\uff30' }, expect: 'any', check: keysOnly },
  { what: 'small right parenthesis and no-break spaces', tool: SEARCH, args: { jql: 'key = ITSM-994\u00a0\ufe5a\u00a0OR\u00a0project = HELP' }, expect: 'any', check: keysOnly },
  { what: 'fullwidth quote', tool: SEARCH, args: { jql: 'summary ~ \uff02x\uff02) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  // JQL: functions and length
  { what: 'a function over another project', tool: SEARCH, args: { jql: 'issue in linkedIssues(HELP-1) OR project = HELP' }, expect: 'any', check: keysOnly },
  { what: 'a function with a stray )', tool: SEARCH, args: { jql: 'assignee = currentUser()) OR (project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'a function left open', tool: SEARCH, args: { jql: 'assignee in membersOf("x" OR project = HELP' }, expect: 'refused', upstream: 0 },
  { what: 'very long query ending with a )', tool: SEARCH, args: { jql: `${long(3900, 'key = ITSM-1 OR ')}key = ITSM-2) OR (project = HELP` }, expect: 'refused', upstream: 0 },
  { what: 'longer than the schema allows', tool: SEARCH, args: { jql: long(5000, 'project = HELP OR ') }, expect: 'refused', upstream: 0 },
  { what: 'count: longer than the schema allows', tool: COUNT, args: { jql: long(4001, 'project = HW OR ') }, expect: 'refused', upstream: 0 },
  { what: 'nesting 300 deep', tool: SEARCH, args: { jql: deep(300) }, expect: 'any', check: keysOnly },
  { what: 'JQL of the wrong type', tool: SEARCH, args: { jql: 42 }, expect: 'refused', upstream: 0 },
  { what: 'JQL as an array', tool: COUNT, args: { jql: ['project = HELP'] }, expect: 'refused', upstream: 0 },
  // raw: true
  { what: 'raw desks list (the issue\'s repro)', tool: `${T}service_desks`, args: { raw: true, limit: 50 }, expect: 'ok', check: (r) => assert.ok(r.structuredContent.raw.values.length >= 1) },
  { what: 'compact desks list', tool: `${T}service_desks`, args: { limit: 50 }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.service_desks.map((d) => d.projectKey), ['ITSM']) },
  { what: 'raw search for another project', tool: SEARCH, args: { jql: 'project = HW OR key = ITSM-994', raw: true }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.raw.issues.map((i) => i.key), ['ITSM-994']) },
  { what: 'raw get of another project\'s issue', tool: `${G}issue_by_id`, args: { id: 'HELP-1', raw: true }, expect: 'refused', upstream: 0 },
  { what: 'raw desk of another project', tool: `${G}service_desk_by_id`, args: { id: '3', raw: true }, expect: 'refused' },
  { what: 'raw customer requests of another desk', tool: `${T}customer_requests`, args: { service_desk_id: '1', raw: true }, expect: 'refused' },
  // other projects' issues and requests by key and by id
  { what: 'issue by key', tool: `${G}issue_by_id`, args: { id: 'HELP-1' }, expect: 'refused', upstream: 0 },
  { what: 'issue by numeric id', tool: `${G}issue_by_id`, args: { id: '{helpIssueId}' }, expect: 'refused' },
  { what: 'issue by lower-case key', tool: `${G}issue_by_id`, args: { id: 'help-1' }, expect: 'refused', upstream: 0 },
  { what: 'comments of another project\'s issue', tool: `${T}issue_comments`, args: { id: 'HW-2' }, expect: 'refused', upstream: 0 },
  { what: 'comments by numeric id', tool: `${T}issue_comments`, args: { id: '{hwIssueId}' }, expect: 'refused' },
  { what: 'transitions of another project\'s issue', tool: `${T}issue_transitions`, args: { id: 'HELP-2' }, expect: 'refused', upstream: 0 },
  { what: 'worklogs of another project\'s issue', tool: `${T}issue_worklogs`, args: { id: 'HW-3' }, expect: 'refused', upstream: 0 },
  { what: 'request by key', tool: `${G}customer_request_by_id`, args: { id: 'HELP-4' }, expect: 'refused', upstream: 0 },
  { what: 'request by numeric id', tool: `${G}customer_request_by_id`, args: { id: '{helpIssueId}' }, expect: 'refused' },
  { what: 'request comments', tool: `${T}request_comments`, args: { id: 'HW-4' }, expect: 'refused', upstream: 0 },
  { what: 'request SLAs', tool: `${T}request_slas`, args: { id: 'HELP-5' }, expect: 'refused', upstream: 0 },
  { what: 'request approvals', tool: `${T}request_approvals`, args: { id: 'HW-5' }, expect: 'refused', upstream: 0 },
  { what: 'request participants', tool: `${T}request_participants`, args: { id: 'HELP-6' }, expect: 'refused', upstream: 0 },
  // other projects' desks, queues, request types, organizations, customers
  { what: 'desk of another project', tool: `${G}service_desk_by_id`, args: { id: '{foreignDesk0}' }, expect: 'refused' },
  { what: 'queues of another desk', tool: `${T}queues`, args: { service_desk_id: '{foreignDesk0}' }, expect: 'refused' },
  { what: 'queues of the third desk', tool: `${T}queues`, args: { service_desk_id: '{foreignDesk1}' }, expect: 'refused' },
  { what: 'desk given as a project key', tool: `${T}queues`, args: { service_desk_id: 'HELP' }, expect: 'refused', upstream: 0 },
  { what: 'desk given as projectKey:HW', tool: `${T}queues`, args: { service_desk_id: 'projectKey:HW' }, expect: 'refused', upstream: 0 },
  { what: 'another desk\'s queue under the ITSM desk', tool: `${T}queue_issues`, args: { service_desk_id: '{itsmDesk}', queue_id: '{foreignQueue}' }, expect: 'refused' },
  { what: 'another desk\'s queue under its own desk', tool: `${T}queue_issues`, args: { service_desk_id: '{foreignQueueDesk}', queue_id: '{foreignQueue}' }, expect: 'refused' },
  { what: 'request types of another desk', tool: `${T}request_types`, args: { service_desk_id: '{foreignDesk0}' }, expect: 'refused' },
  { what: 'another desk\'s request type under ITSM', tool: `${T}request_type_fields`, args: { service_desk_id: '{itsmDesk}', request_type_id: '{foreignRequestType}' }, expect: 'refused' },
  { what: 'customer requests of another desk', tool: `${T}customer_requests`, args: { service_desk_id: '{foreignDesk1}' }, expect: 'refused' },
  { what: 'customer requests of the whole site', tool: `${T}customer_requests`, args: {}, expect: 'refused', upstream: 0 },
  { what: 'customers of another desk', tool: `${T}customers`, args: { service_desk_id: '{foreignDesk1}' }, expect: 'refused' },
  { what: 'organizations of the ITSM desk only', tool: `${T}organizations`, args: { service_desk_id: '{itsmDesk}', limit: 50 }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.organizations.map((o) => String(o.id)).sort(), [...facts.itsmOrgIds].sort()) },
  { what: 'raw organizations of the ITSM desk', tool: `${T}organizations`, args: { service_desk_id: '{itsmDesk}', limit: 50, raw: true }, expect: 'ok' },
  { what: 'organizations of another desk', tool: `${T}organizations`, args: { service_desk_id: '{foreignDesk0}' }, expect: 'refused' },
  { what: 'organizations of the whole site', tool: `${T}organizations`, args: {}, expect: 'refused', upstream: 0 },
  { what: 'an organization by id (not offered)', tool: `${G}organization_by_id`, args: { id: '{foreignOrg}' }, expect: 'refused', upstream: 0 },
  { what: 'an organization\'s users (not offered)', tool: `${T}organization_users`, args: { id: '{foreignOrg}' }, expect: 'refused', upstream: 0 },
  { what: 'an attachment by id (not offered)', tool: `${G}attachment_by_id`, args: { id: '10000' }, expect: 'refused', upstream: 0 },
  // path tricks: nothing malformed reaches a URL
  { what: 'queue_id ".." (the issue\'s repro)', tool: `${T}queue_issues`, args: { service_desk_id: '{itsmDesk}', queue_id: '..' }, expect: 'refused', upstream: 0 },
  { what: 'queue_id "."', tool: `${T}queue_issues`, args: { service_desk_id: '{itsmDesk}', queue_id: '.' }, expect: 'refused', upstream: 0 },
  { what: 'service_desk_id ".."', tool: `${T}queues`, args: { service_desk_id: '..' }, expect: 'refused', upstream: 0 },
  { what: 'request_type_id ".."', tool: `${T}request_type_fields`, args: { service_desk_id: '{itsmDesk}', request_type_id: '..' }, expect: 'refused', upstream: 0 },
  { what: 'issue id with a slash and dots', tool: `${G}issue_by_id`, args: { id: 'ITSM-1/../../HELP-1' }, expect: 'refused', upstream: 0 },
  { what: 'issue id percent-encoded dots', tool: `${T}issue_comments`, args: { id: 'ITSM-1%2F..%2FHELP-1' }, expect: 'refused', upstream: 0 },
  { what: 'issue id with a query', tool: `${G}issue_by_id`, args: { id: 'ITSM-994?fields=*all' }, expect: 'refused', upstream: 0 },
  { what: 'issue id with a fragment', tool: `${G}customer_request_by_id`, args: { id: 'ITSM-994#x' }, expect: 'refused', upstream: 0 },
  { what: 'issue id with CR LF', tool: `${G}issue_by_id`, args: { id: 'ITSM-994\r\nX-Evil: 1' }, expect: 'refused', upstream: 0 },
  { what: 'issue id with a trailing space', tool: `${G}issue_by_id`, args: { id: 'ITSM-994 ' }, expect: 'refused', upstream: 0 },
  { what: 'desk id with a plus', tool: `${T}queues`, args: { service_desk_id: '+2' }, expect: 'refused', upstream: 0 },
  { what: 'accountId with a path', tool: `${G}user_by_id`, args: { id: '../../myself' }, expect: 'refused', upstream: 0 },
  { what: 'accountId with an ampersand', tool: `${G}user_by_id`, args: { id: `${'5b10ac8d82e05b22cc7d4ef5'}&expand=groups` }, expect: 'refused', upstream: 0 },
  // write tools on the read-only server
  { what: 'create issue (read-only)', tool: 'create_a_jira_service_management_issue', args: { project_key: 'ITSM', summary: 'x', issue_type: 'Incident' }, expect: 'refused', upstream: 0 },
  { what: 'update issue (read-only)', tool: 'update_a_jira_service_management_issue_by_id', args: { id: 'ITSM-994', summary: 'x' }, expect: 'refused', upstream: 0 },
  { what: 'customer reply (read-only)', tool: 'create_a_jira_service_management_customer_reply', args: { id: 'ITSM-994', body: 'x' }, expect: 'refused', upstream: 0 },
  { what: 'internal note (read-only)', tool: 'create_a_jira_service_management_internal_note', args: { id: 'ITSM-994', body: 'x' }, expect: 'refused', upstream: 0 },
  { what: 'transition (read-only)', tool: 'update_a_jira_service_management_issue_status_by_id', args: { id: 'ITSM-994', transition_id: '21' }, expect: 'refused', upstream: 0 },
  { what: 'assign (read-only)', tool: 'update_a_jira_service_management_issue_assignee_by_id', args: { id: 'ITSM-994', account_id: '{reporter}' }, expect: 'refused', upstream: 0 },
  { what: 'customer request (read-only)', tool: 'create_a_jira_service_management_customer_request', args: { service_desk_id: '{itsmDesk}', request_type_id: '{itsmRequestType}', summary: 'x' }, expect: 'refused', upstream: 0 },
  { what: 'approval (read-only)', tool: 'update_a_jira_service_management_request_approval_by_id', args: { id: 'ITSM-994', approval_id: '1', decision: 'approve' }, expect: 'refused', upstream: 0 },
  { what: 'add participant (read-only)', tool: 'create_a_jira_service_management_request_participant', args: { id: 'ITSM-994', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  { what: 'remove participant (read-only)', tool: 'delete_a_jira_service_management_request_participant_by_id', args: { id: 'ITSM-994', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  { what: 'create customer (read-only)', tool: 'create_a_jira_service_management_customer', args: { email: 'x@example.com', display_name: 'X' }, expect: 'refused', upstream: 0 },
  { what: 'desk customer (read-only)', tool: 'create_a_jira_service_management_service_desk_customer', args: { service_desk_id: '{itsmDesk}', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  { what: 'create organization (read-only)', tool: 'create_a_jira_service_management_organization', args: { name: 'Evil Corp' }, expect: 'refused', upstream: 0 },
  { what: 'worklog (read-only)', tool: 'create_a_jira_service_management_issue_worklog', args: { id: 'ITSM-994', time_spent_seconds: 60 }, expect: 'refused', upstream: 0 },
  { what: 'a write through call_tool (read-only)', tool: 'call_tool', args: { name: 'create_a_jira_service_management_internal_note', arguments: { id: 'ITSM-994', body: 'x' } }, expect: 'refused', upstream: 0 },
  // write tools with other projects' ids or malformed ids (a server that may write)
  { srv: 'rw', what: 'reply on another project\'s request', tool: 'create_a_jira_service_management_customer_reply', args: { id: 'HELP-1', body: 'x' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'note on a numeric id of another project', tool: 'create_a_jira_service_management_internal_note', args: { id: '{helpIssueId}', body: 'x' }, expect: 'refused' },
  { srv: 'rw', what: 'note on ".."', tool: 'create_a_jira_service_management_internal_note', args: { id: '..', body: 'x' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'update with a path in the key', tool: 'update_a_jira_service_management_issue_by_id', args: { id: 'ITSM-1/../HELP-1', summary: 'x' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'transition another project\'s issue', tool: 'update_a_jira_service_management_issue_status_by_id', args: { id: 'HW-1', transition_id: '21' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'transition id ".."', tool: 'update_a_jira_service_management_issue_status_by_id', args: { id: 'ITSM-994', transition_id: '..' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'approval id ".."', tool: 'update_a_jira_service_management_request_approval_by_id', args: { id: 'ITSM-994', approval_id: '..', decision: 'approve' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'create issue in another project', tool: 'create_a_jira_service_management_issue', args: { project_key: 'HELP', summary: 'x', issue_type: 'Incident' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'create issue with a project in fields', tool: 'create_a_jira_service_management_issue', args: { project_key: 'ITSM', summary: 'x', issue_type: 'Incident', fields: { project: { key: 'HELP' } } }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'customer request in another desk', tool: 'create_a_jira_service_management_customer_request', args: { service_desk_id: '{foreignDesk0}', request_type_id: '{foreignRequestType}', summary: 'x' }, expect: 'refused' },
  { srv: 'rw', what: 'participants of another project\'s request', tool: 'create_a_jira_service_management_request_participant', args: { id: 'HW-1', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'a malformed accountId', tool: 'update_a_jira_service_management_issue_assignee_by_id', args: { id: 'ITSM-994', account_id: 'x\r\nX-Evil: 1' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'customers of another desk', tool: 'create_a_jira_service_management_service_desk_customer', args: { service_desk_id: '{foreignDesk1}', account_ids: ['{reporter}'] }, expect: 'refused' },
  { srv: 'rw', what: 'worklog on another project\'s issue', tool: 'create_a_jira_service_management_issue_worklog', args: { id: 'HELP-1', time_spent_seconds: 60 }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'an organization for the whole site', tool: 'create_a_jira_service_management_organization', args: { name: 'Evil Corp' }, expect: 'refused', upstream: 0 },
  // issue 22's tools: reads of other projects' data
  { what: 'knowledge base of the whole site', tool: `${T}knowledge_base_articles`, args: { query: 'vpn' }, expect: 'refused', upstream: 0 },
  { what: 'knowledge base of another desk', tool: `${T}knowledge_base_articles`, args: { query: 'vpn', service_desk_id: '{foreignDesk0}' }, expect: 'refused' },
  { what: 'knowledge base of the ITSM desk', tool: `${T}knowledge_base_articles`, args: { query: 'vpn', service_desk_id: '{itsmDesk}' }, expect: 'ok' },
  { what: 'portal transitions of another project\'s request', tool: `${T}request_transitions`, args: { id: 'HELP-6' }, expect: 'refused', upstream: 0 },
  { what: 'attachments of another project\'s issue', tool: `${T}issue_attachments`, args: { id: 'HW-2' }, expect: 'refused', upstream: 0 },
  { what: 'attachments by numeric id of another project', tool: `${T}issue_attachments`, args: { id: '{hwIssueId}' }, expect: 'refused' },
  { what: 'attachment content through another project\'s issue', tool: `${G}attachment_content_by_id`, args: { issue: '{hwAttachmentIssue}', id: '{hwAttachment}' }, expect: 'refused', upstream: 0 },
  { what: 'another project\'s attachment through an ITSM issue', tool: `${G}attachment_content_by_id`, args: { issue: '{itsmAttachmentIssue}', id: '{hwAttachment}' }, expect: 'refused' },
  { what: 'attachment content with a path in the id', tool: `${G}attachment_content_by_id`, args: { issue: 'ITSM-1', id: '../10000' }, expect: 'refused', upstream: 0 },
  { what: 'changelog of another project\'s issue', tool: `${T}issue_changelog`, args: { id: 'HW-3' }, expect: 'refused', upstream: 0 },
  { what: 'changelog by numeric id of another project', tool: `${T}issue_changelog`, args: { id: '{helpIssueId}' }, expect: 'refused' },
  { what: 'watchers of another project\'s issue', tool: `${T}issue_watchers`, args: { id: 'HELP-2' }, expect: 'refused', upstream: 0 },
  { what: 'links of another project\'s issue', tool: `${T}issue_links`, args: { id: 'HW-2' }, expect: 'refused', upstream: 0 },
  { what: 'links of an ITSM issue linked to HW (the HW end left out)', tool: `${T}issue_links`, args: { id: 'ITSM-900' }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.links.map((l) => l.outwardIssue?.key ?? l.inwardIssue?.key), ['ITSM-901']) },
  { what: 'raw links of an ITSM issue linked to HW', tool: `${T}issue_links`, args: { id: 'ITSM-900', raw: true }, expect: 'ok' },
  { what: 'links by numeric id of another project', tool: `${T}issue_links`, args: { id: '{hwIssueId}' }, expect: 'refused' },
  { what: 'status history of another project\'s request', tool: `${T}request_status_history`, args: { id: 'HW-4' }, expect: 'refused', upstream: 0 },
  { what: 'issue types of another project', tool: `${T}issue_types`, args: { project_key: 'HELP' }, expect: 'refused', upstream: 0 },
  { what: 'create fields of another project', tool: `${T}issue_type_fields`, args: { project_key: 'HW', issue_type_id: '10100' }, expect: 'refused', upstream: 0 },
  { what: 'create fields with a path in the project', tool: `${T}issue_type_fields`, args: { project_key: 'ITSM/../HELP', issue_type_id: '10100' }, expect: 'refused', upstream: 0 },
  { what: 'visible projects', tool: `${T}projects`, args: { limit: 100 }, expect: 'ok', check: (r) => assert.deepEqual(r.structuredContent.projects.map((p) => p.key), ['ITSM']) },
  { what: 'raw visible projects', tool: `${T}projects`, args: { limit: 100, raw: true }, expect: 'ok' },
  { what: 'search with comments and descriptions of other projects', tool: SEARCH, args: { jql: 'project in (HELP, HW, ITSM) ORDER BY key', include: ['description', 'comments'], limit: 20 }, expect: 'ok', check: keysOnly },
  // issue 22's write tools on the read-only server
  { what: 'resolve with a comment (read-only)', tool: 'update_a_jira_service_management_issue_status_by_id', args: { id: 'ITSM-994', transition_id: '51', resolution: 'Done', comment: 'x' }, expect: 'refused', upstream: 0 },
  { what: 'portal transition (read-only)', tool: 'update_a_jira_service_management_request_status_by_id', args: { id: 'ITSM-994', transition_id: '51' }, expect: 'refused', upstream: 0 },
  { what: 'attach a file (read-only)', tool: 'create_a_jira_service_management_issue_attachment', args: { id: 'ITSM-994', filename: 'x.txt', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { what: 'attach to a request (read-only)', tool: 'create_a_jira_service_management_request_attachment', args: { id: 'ITSM-994', filename: 'x.txt', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { what: 'add a watcher (read-only)', tool: 'create_a_jira_service_management_issue_watcher', args: { id: 'ITSM-994', account_id: '{reporter}' }, expect: 'refused', upstream: 0 },
  { what: 'link issues (read-only)', tool: 'create_a_jira_service_management_issue_link', args: { link_type: 'Relates', from_issue: 'ITSM-1', to_issue: 'ITSM-2' }, expect: 'refused', upstream: 0 },
  { what: 'desk organization (read-only)', tool: 'create_a_jira_service_management_service_desk_organization', args: { service_desk_id: '{itsmDesk}', organization_id: '{foreignOrg}' }, expect: 'refused', upstream: 0 },
  { what: 'organization users (read-only)', tool: 'create_a_jira_service_management_organization_user', args: { id: '{foreignOrg}', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  // issue 22's write tools with other projects' ids (a server that may write)
  { srv: 'rw', what: 'link to another project\'s issue', tool: 'create_a_jira_service_management_issue_link', args: { link_type: 'Relates', from_issue: 'ITSM-1', to_issue: 'HW-1' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'link from another project\'s issue', tool: 'create_a_jira_service_management_issue_link', args: { link_type: 'Relates', from_issue: 'HELP-1', to_issue: 'ITSM-1' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'link to a numeric id of another project', tool: 'create_a_jira_service_management_issue_link', args: { link_type: 'Relates', from_issue: 'ITSM-1', to_issue: '{helpIssueId}' }, expect: 'refused' },
  { srv: 'rw', what: 'attach a file to another project\'s issue', tool: 'create_a_jira_service_management_issue_attachment', args: { id: 'HELP-1', filename: 'x.txt', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'attach to another project\'s request', tool: 'create_a_jira_service_management_request_attachment', args: { id: 'HW-1', filename: 'x.txt', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'a file name with a path', tool: 'create_a_jira_service_management_issue_attachment', args: { id: 'ITSM-994', filename: '../../x.txt', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'a file name with CR LF', tool: 'create_a_jira_service_management_issue_attachment', args: { id: 'ITSM-994', filename: 'x.txt\r\nContent-Type: text/html', content_base64: 'eA==' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'content that is not base64', tool: 'create_a_jira_service_management_issue_attachment', args: { id: 'ITSM-994', filename: 'x.txt', content_base64: '<script>' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'watch another project\'s issue', tool: 'create_a_jira_service_management_issue_watcher', args: { id: 'HELP-3', account_id: '{reporter}' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'portal transition of another project\'s request', tool: 'update_a_jira_service_management_request_status_by_id', args: { id: 'HELP-7', transition_id: '51' }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'an organization added to another desk', tool: 'create_a_jira_service_management_service_desk_organization', args: { service_desk_id: '{foreignDesk0}', organization_id: '{foreignOrg}' }, expect: 'refused' },
  { srv: 'rw', what: 'users added to an organization (not offered)', tool: 'create_a_jira_service_management_organization_user', args: { id: '{foreignOrg}', account_ids: ['{reporter}'] }, expect: 'refused', upstream: 0 },
  { srv: 'rw', what: 'a transition setting the project', tool: 'update_a_jira_service_management_issue_status_by_id', args: { id: 'ITSM-994', transition_id: '51', fields: { project: { key: 'HELP' } } }, expect: 'refused' },
  { srv: 'rw', what: 'a raise on behalf of, by email, in another desk', tool: 'create_a_jira_service_management_customer_request', args: { service_desk_id: '{foreignDesk0}', request_type_id: '{foreignRequestType}', summary: 'x', raise_on_behalf_of_email: 'customer01@customer.example.com' }, expect: 'refused' },
  // oversized and wrongly typed arguments
  { what: 'issue id as a number', tool: `${G}issue_by_id`, args: { id: 994 }, expect: 'refused', upstream: 0 },
  { what: 'issue id as an array', tool: `${G}issue_by_id`, args: { id: ['ITSM-994', 'HELP-1'] }, expect: 'refused', upstream: 0 },
  { what: 'issue id as an object', tool: `${T}issue_comments`, args: { id: { key: 'HELP-1' } }, expect: 'refused', upstream: 0 },
  { what: 'issue id of 300 characters', tool: `${G}issue_by_id`, args: { id: `ITSM-${'9'.repeat(295)}` }, expect: 'refused', upstream: 0 },
  { what: 'desk id of 100 digits', tool: `${T}queues`, args: { service_desk_id: '2'.repeat(100) }, expect: 'refused', upstream: 0 },
  { what: 'desk id as a number', tool: `${T}queues`, args: { service_desk_id: 3 }, expect: 'refused', upstream: 0 },
  { what: 'limit of a billion', tool: SEARCH, args: { jql: 'project = HELP', limit: 1e9 }, expect: 'refused', upstream: 0 },
  { what: 'limit as a string', tool: SEARCH, args: { jql: 'project = HELP', limit: '100' }, expect: 'refused', upstream: 0 },
  { what: 'an extra project argument', tool: `${G}issue_by_id`, args: { id: 'ITSM-994', project: 'HELP' }, expect: 'refused', upstream: 0 },
  { what: 'a forged next_cursor', tool: `${T}customer_requests`, args: { service_desk_id: '{itsmDesk}', next_cursor: Buffer.from('s:-5').toString('base64url') }, expect: 'refused', upstream: 0 },
  { what: 'raw as a string', tool: `${T}service_desks`, args: { raw: 'true' }, expect: 'refused', upstream: 0 },
];

// Placeholders in arguments ({helpIssueId}, ...) from the facts.
function fill(v) {
  const map = {
    helpIssueId: facts.helpIssueId, hwIssueId: facts.hwIssueId, itsmDesk: facts.itsmDesk,
    foreignDesk0: facts.foreignDesks[0], foreignDesk1: facts.foreignDesks[1], foreignQueue: facts.foreignQueue.queue,
    foreignQueueDesk: facts.foreignQueue.desk, foreignRequestType: facts.foreignRequestTypes[0],
    itsmRequestType: facts.itsmRequestTypes[0], foreignOrg: String(facts.foreignOrgs[0].id), reporter: facts.reporter,
    hwAttachment: facts.hwAttachment?.id, hwAttachmentIssue: facts.hwAttachment?.key, itsmAttachmentIssue: facts.itsmAttachment?.key,
  };
  if (typeof v === 'string') return v.replace(/\{(\w+)\}/g, (m, k) => (k in map ? map[k] : m));
  if (Array.isArray(v)) return v.map(fill);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
  return v;
}

async function run(c) {
  const client = c.srv === 'rw' ? rw.client : ro.client;
  const args = fill(c.args);
  const seq = await lastSeq();
  let res;
  let rpcError = null;
  try {
    res = await client.callTool({ name: c.tool, arguments: args });
  } catch (e) {
    rpcError = e;
  }
  const ups = await requestsSince(seq);
  const problems = [];
  const refused = rpcError !== null || res?.isError === true;
  if (c.expect === 'refused' && !refused) problems.push(`not refused: ${JSON.stringify(res?.structuredContent).slice(0, 300)}`);
  if (c.expect === 'ok' && refused) problems.push(`refused: ${rpcError ? rpcError.message : JSON.stringify(res.content).slice(0, 300)}`);
  if (res) problems.push(...leaks(res, args).map((l) => `leak: ${l}`));
  if (rpcError) problems.push(...(rpcError.message.match(foreignKey) || []).filter((k) => !JSON.stringify(args).includes(k)).map((k) => `leak in error: ${k}`));
  if (!problems.length && res && !refused && c.check) {
    try { c.check(res); } catch (e) { problems.push(`check: ${e.message.split('\n')[0]}`); }
  }
  for (const u of ups) {
    const segs = u.path.split('/');
    if (segs.includes('..') || segs.includes('.') || /%2e/i.test(u.path)) problems.push(`dot segment upstream: ${u.method} ${u.path}`);
  }
  if (c.upstream === 0 && ups.length) problems.push(`${ups.length} upstream request(s): ${ups.map((u) => `${u.method} ${u.path}?${u.query}`).join(', ').slice(0, 300)}`);
  return problems;
}

test('the hostile-agent table: no data of other projects, no write, nothing malformed upstream', { timeout: 600000 }, async () => {
  const table = cases();
  assert.ok(table.length >= 60, `${table.length} cases`);
  const writesBefore = await writes();
  const failures = [];
  for (const [i, c] of table.entries()) {
    const problems = await run(c);
    if (problems.length) failures.push(`#${i} ${c.what} (${c.tool} ${JSON.stringify(c.args).slice(0, 120)}): ${problems.join('; ')}`);
  }
  const writesAfter = await writes();
  console.log(`# hostile table: ${table.length} calls, ${failures.length} failed, sandbox writes ${writesBefore} -> ${writesAfter}`);
  for (const f of failures) console.log(`# FAILED ${f}`);
  assert.deepEqual(failures, [], `${failures.length} of ${table.length} hostile calls got through:\n${failures.join('\n')}`);
  assert.equal(writesAfter, writesBefore, 'no write reached the sandbox');
});

test('the sandbox, like Cloud, ignores serviceDeskId on /organization; the desk\'s own list is scoped', async () => {
  // What the worker must not rely on (issue 20): the site-wide list does not
  // filter by a parameter the API does not have. Strict mode refuses the
  // parameter (that is how the worker's old call was caught); with strict
  // mode off the sandbox ignores it, as Cloud does.
  const probe = `/rest/servicedeskapi/organization?serviceDeskId=${facts.itsmDesk}&limit=100`;
  const strictBefore = (await sb('/__sandbox/strict')).refused;
  await sb('/__sandbox/strict', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
  let all;
  try {
    all = (await sb(probe)).values.map((o) => String(o.id));
  } finally {
    await sb('/__sandbox/strict', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
  }
  assert.equal((await sb('/__sandbox/strict')).refused, strictBefore, 'the probe made with strict mode off was not counted');
  const desk = (await sb(`/rest/servicedeskapi/servicedesk/${facts.itsmDesk}/organization?limit=100`)).values.map((o) => String(o.id));
  for (const o of facts.foreignOrgs) {
    assert.ok(all.includes(String(o.id)), `${o.name} in the site-wide list despite serviceDeskId`);
    assert.ok(!desk.includes(String(o.id)), `${o.name} not in the ITSM desk's list`);
  }
});

test('positive controls: in-scope reads answer, an in-scope write is counted', async () => {
  // The checks above can fail: the same tools with ITSM data answer, and
  // the write counter moves for a write that is allowed.
  const r = await ro.client.callTool({ name: SEARCH, arguments: { jql: 'project = ITSM ORDER BY key ASC', limit: 5 } });
  assert.ok(!r.isError && r.structuredContent.issues.length === 5, JSON.stringify(r.content).slice(0, 300));
  const q = await ro.client.callTool({ name: `${T}queues`, arguments: { service_desk_id: facts.itsmDesk } });
  assert.ok(!q.isError && q.structuredContent.queues.length > 0);
  const issue = await ro.client.callTool({ name: `${G}issue_by_id`, arguments: { id: 'ITSM-994' } });
  assert.equal(issue.structuredContent.key, 'ITSM-994');
  // A numeric id of an allowed project's issue passes the issue pre-check.
  const byId = await ro.client.callTool({ name: `${T}issue_comments`, arguments: { id: facts.itsmIssueId } });
  assert.ok(!byId.isError && byId.structuredContent.comments.length > 0, JSON.stringify(byId.content).slice(0, 300));
  // The answer checks pass in-scope answers, compact and raw.
  const raw = await ro.client.callTool({ name: `${G}issue_by_id`, arguments: { id: 'ITSM-994', raw: true } });
  assert.equal(raw.structuredContent.raw.key, 'ITSM-994');
  const req = await ro.client.callTool({ name: `${G}customer_request_by_id`, arguments: { id: 'ITSM-994' } });
  assert.equal(req.structuredContent.issueKey, 'ITSM-994', JSON.stringify(req.content).slice(0, 300));
  const desk = await ro.client.callTool({ name: `${G}service_desk_by_id`, arguments: { id: facts.itsmDesk } });
  assert.equal(desk.structuredContent.projectKey, 'ITSM');
  const reqs = await ro.client.callTool({ name: `${T}customer_requests`, arguments: { service_desk_id: facts.itsmDesk, limit: 10 } });
  assert.ok(reqs.structuredContent.requests.length > 0 && reqs.structuredContent.requests.every((r) => r.issueKey.startsWith('ITSM-')));
  // A queue's issues (whose fields have no project) are checked by their keys: none is lost.
  for (const queue of facts.itsmQueues) {
    const direct = (await sb(`/rest/servicedeskapi/servicedesk/${facts.itsmDesk}/queue/${queue}/issue?limit=10`)).values.length;
    const qi = await ro.client.callTool({ name: `${T}queue_issues`, arguments: { service_desk_id: facts.itsmDesk, queue_id: queue, limit: 10 } });
    assert.equal(qi.structuredContent.issues.length, direct, `queue ${queue}: ${JSON.stringify(qi.content).slice(0, 300)}`);
  }
  const before = await writes();
  const n = await rw.client.callTool({ name: 'create_a_jira_service_management_internal_note', arguments: { id: 'ITSM-1042', body: 'in scope' } });
  assert.ok(!n.isError, JSON.stringify(n.content).slice(0, 300));
  assert.equal(await writes(), before + 1, 'the sandbox counts a write');
  // An unscoped server on the same site sees the other projects (so the
  // leak checks look at data that exists).
  const all = await createServer(s, { name: 'unscoped', config: { methods: ['read'] } });
  const u = await connect(all.url);
  const other = await u.client.callTool({ name: `${G}issue_by_id`, arguments: { id: 'HELP-1' } });
  assert.ok(leaks(other, {}).length > 0 || other.structuredContent.key === 'HELP-1');
  const desks = await u.client.callTool({ name: `${T}service_desks`, arguments: { raw: true, limit: 50 } });
  assert.ok(leaks(desks, {}).length > 0, 'the leak check sees other desks');
  await close(u);
});

test('an error that quotes an argument cut inside a character keeps its message (valid UTF-8, never an empty result)', async () => {
  // The JQL error quotes an unknown field's name to 80 bytes: 79 x and an
  // "e" with an accent put the cut inside the accented letter.
  const r = await ro.client.callTool({ name: SEARCH, arguments: { jql: `${'x'.repeat(79)}é = 1` } });
  assert.equal(r.isError, true, JSON.stringify(r));
  assert.match(r.content[0].text, /unknown field "x{79}/, JSON.stringify(r));
  // A tools/call whose unknown tool name is cut the same way is answered
  // (an error, at once), not left without a response.
  await assert.rejects(ro.client.callTool({ name: `${'a'.repeat(127)}é`, arguments: {} }), /Unknown tool: a{127}/);
});

test('a JQL Jira refuses on a project-limited server: the error gives the query as sent, where Jira\'s positions count', async () => {
  const r = await ro.client.callTool({ name: SEARCH, arguments: { jql: 'issue in linkedIssues(ITSM-424242)' } });
  assert.equal(r.isError, true, JSON.stringify(r));
  const e = r.structuredContent?.error;
  assert.equal(e?.status, 400, JSON.stringify(r));
  assert.match(e.jql_sent, /^project in \("ITSM"\) AND \(/, JSON.stringify(e));
  assert.match(e.hint, /count in jql_sent/);
});
