// Where real JSM Cloud differs from what the catalog assumed (issue 22,
// worker side), and the capabilities agents asked for: every tool through
// the real workers with the official SDK client (which checks each
// structuredContent against the tool's outputSchema), against the sandbox
// in strict mode (a request Cloud would misread fails the suite). Each
// test names the numbered item of the issue and would fail on the catalog
// as it was: see the comment "old:" in each.
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { argsRefused, close, connect, listAllTools } from './lib/mcp_client.mjs';
import { api, createServer, requireStack, startStack, startWorker, stopProc, stopStack } from './lib/mcp_stack.mjs';

requireStack();
const T = 'list_all_jira_service_management_';
const G = 'get_single_jira_service_management_';
const C = 'create_a_jira_service_management_';
const U = 'update_a_jira_service_management_';
const BASIC = `Basic ${Buffer.from('agent@sandbox.test:sandbox-api-token').toString('base64')}`;
const CAP = 256 * 1024; // JSMCP_UPSTREAM_MAX_BYTES of the second worker pool
let s;
let full; // SDK client on a server with every tool
let capped; // the same server through a worker pool whose upstream answers are capped at CAP
let cappedProc;
let fields; // the site's fields (GET /rest/api/3/field)
const clients = [];

before(async () => {
  s = await startStack({
    workers: 1,
    server: { config: {} },
    env: (st) => ({ JSMCP_OAUTH_AUTH_URL: st.sandboxUrl, JSMCP_OAUTH_API_URL: st.sandboxUrl }),
  });
  full = await connect(s.mcpUrl);
  clients.push(full);
  const w = await startWorker(s, 'worker_cloud_capped', { JSMCP_UPSTREAM_MAX_BYTES: String(CAP) });
  cappedProc = w.proc;
  capped = await connect(`${w.url}${new URL(s.mcpUrl).pathname}`);
  clients.push(capped);
  fields = await sb('/rest/api/3/field');
});
after(async () => {
  if (!s) return;
  for (const c of clients) await close(c);
  const w2 = await stopProc(cappedProc);
  const codes = await stopStack(s);
  assert.equal(w2, 0, 'the capped worker exits cleanly');
  assert.deepEqual(codes, { worker: 0, api: 0, sandbox: 0 }, 'clean exits (no sanitizer reports)');
});

async function sb(p, init = {}) {
  const r = await fetch(`${s.sandboxUrl}${p}`, { ...init, headers: { Authorization: BASIC, 'Content-Type': 'application/json', ...(init.headers || {}) } });
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}
const ctl = (p, body, method = 'PUT') => sb(p, { method, body: JSON.stringify(body) });
const lastSeq = async () => (await sb('/__sandbox/requests?limit=1')).lastSeq;
const since = async (seq) => (await sb(`/__sandbox/requests?since=${seq}&limit=1000`)).entries;
const writes = async () => (await sb('/__sandbox/counters')).writes;
const field = (name, pred = () => true) => fields.find((f) => f.name === name && pred(f));

async function call(client, name, args, { error = false } = {}) {
  const res = await client.callTool({ name, arguments: args });
  if (error) {
    assert.equal(res.isError, true, `${name} should fail: ${JSON.stringify(res.content).slice(0, 400)}`);
    return res.structuredContent.error;
  }
  assert.ok(!res.isError, `${name}(${JSON.stringify(args).slice(0, 200)}) failed: ${JSON.stringify(res.content).slice(0, 600)}`);
  assert.deepEqual(JSON.parse(res.content[0].text), res.structuredContent, 'text mirrors structuredContent');
  return res.structuredContent;
}
const c = () => full.client;

// ITSM issues (not used by another test yet) whose workflow offers a
// transition named name now.
const taken = new Set();
async function openIssues(n, name = 'Resolve this issue') {
  const out = [];
  const page = await sb('/rest/api/3/search/jql?jql=project%3DITSM%20AND%20statusCategory%20!%3D%20Done%20ORDER%20BY%20key%20ASC&maxResults=100&fields=status');
  for (const i of page.issues) {
    if (out.length === n) break;
    if (taken.has(i.key)) continue;
    const tr = await sb(`/rest/api/3/issue/${i.key}/transitions`);
    if (tr.transitions.some((t) => t.name === name)) {
      taken.add(i.key);
      out.push(i.key);
    }
  }
  assert.equal(out.length, n, `${n} open ITSM issues offering "${name}"`);
  return out;
}

// A value nowhere null: projections leave missing members out.
function noNulls(v, where) {
  if (v === null) assert.fail(`null at ${where}`);
  if (Array.isArray(v)) v.forEach((x, i) => noNulls(x, `${where}/${i}`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) noNulls(x, `${where}/${k}`);
}

test('1. a transition with a screen: required fields reported before any write; resolution by name and a comment', async () => {
  // old: no resolution/comment arguments (-32602), and the bare POST went upstream.
  const [k1, k2] = await openIssues(2);
  const tr = await call(c(), `${T}issue_transitions`, { id: k1 });
  const resolve = tr.transitions.find((t) => t.name === 'Resolve this issue');
  assert.ok(resolve, JSON.stringify(tr));
  assert.equal(resolve.hasScreen, true);
  assert.deepEqual(resolve.fields.map((f) => [f.id, f.required]), [['resolution', true]]);
  assert.ok(resolve.fields[0].allowedValues.includes("Won't Do"));
  assert.ok(tr.transitions.some((t) => t.hasScreen === false && t.fields.length === 0), 'transitions without a screen say so');
  const w0 = await writes();
  let seq = await lastSeq();
  const e = await call(c(), `${U}issue_status_by_id`, { id: k1, transition_name: 'resolve this issue' }, { error: true });
  assert.match(e.message, /"Resolve this issue" \(51\) has a screen with required fields this call does not give: Resolution \(resolution; one of: Done, Won't Do/);
  assert.ok((await since(seq)).every((r) => r.method === 'GET'), 'only the transitions were read');
  assert.equal(await writes(), w0, 'nothing written');
  const bad = await call(c(), `${U}issue_status_by_id`, { id: k1, transition_id: '51', resolution: 'Fixed it' }, { error: true });
  assert.match(bad.message, /"Fixed it" is not a resolution of this site; one of: Done, Won't Do, Duplicate, Cannot Reproduce/);
  const nope = await call(c(), `${U}issue_status_by_id`, { id: k1, transition_id: '21', resolution: 'Done' }, { error: true });
  assert.match(nope.message, /transition "Start progress" \(21\) cannot set a resolution: it has no screen/);
  const gone = await call(c(), `${U}issue_status_by_id`, { id: k1, transition_id: '81' }, { error: true });
  assert.match(gone.message, /transition_id 81 is not available now; candidates: /);
  assert.equal(await writes(), w0, 'still nothing written');
  seq = await lastSeq();
  await call(c(), `${U}issue_status_by_id`, { id: k1, transition_name: 'Resolve this issue', resolution: "won't do", comment: 'Duplicate of the VPN outage' });
  const posted = (await since(seq)).filter((r) => r.method === 'POST');
  assert.equal(posted.length, 1, 'one transition POST');
  const issue = await sb(`/rest/api/3/issue/${k1}?fields=status,resolution,comment`);
  assert.equal(issue.fields.status.name, 'Resolved');
  assert.equal(issue.fields.resolution.name, "Won't Do", 'the screen\'s spelling of the name given');
  assert.ok(issue.fields.comment.comments.some((x) => JSON.stringify(x.body).includes('Duplicate of the VPN outage')), 'the comment went with the transition');
  // A screen field by name in fields counts as given.
  await call(c(), `${U}issue_status_by_id`, { id: k2, transition_id: '51', fields: { Resolution: { name: 'Done' } } });
  assert.equal((await sb(`/rest/api/3/issue/${k2}?fields=resolution`)).fields.resolution.name, 'Done');
});

test('2. requestFieldValues picked by fieldId: a form that does not start with the summary', async () => {
  // old: summary was requestFieldValues.0.value, here the Device select (an object).
  const device = field('Device'), manager = field('Line manager');
  const made = await call(c(), `${C}customer_request`, {
    service_desk_id: '2', request_type_id: '13', summary: 'A laptop for the new starter',
    fields: { [device.id]: { value: 'Laptop' }, [manager.id]: '5b10ac8d82e05b22cc7d4ef5' },
  });
  assert.equal(made.summary, 'A laptop for the new starter');
  const raw = await sb(`/rest/servicedeskapi/request/${made.issueKey}`);
  assert.equal(raw.requestFieldValues[0].fieldId, device.id, 'the form puts Device first');
  const got = await call(c(), `${G}customer_request_by_id`, { id: made.issueKey });
  assert.equal(got.summary, 'A laptop for the new starter');
  const byId = Object.fromEntries(got.fields.map((f) => [f.fieldId, f]));
  assert.equal(byId[device.id].value, 'Laptop', 'a select as its value');
  assert.equal(byId[manager.id].value, 'Lena Hoffmann', 'a user picker as the name');
  assert.equal(got.fields[0].fieldId, device.id, 'in the form\'s order');
  const list = await call(c(), `${T}customer_requests`, { service_desk_id: '2', ownership: 'OWNED_REQUESTS', limit: 50 });
  assert.equal(list.requests.find((r) => r.issueKey === made.issueKey).summary, 'A laptop for the new starter');
});

test('3. raise_on_behalf_of takes accountIds; an email is looked up among the desk\'s customers or refused clearly', async () => {
  // old: the argument was an accountId pattern described as "accountId or email": an email was refused (-32602).
  const customers = (await sb('/rest/servicedeskapi/servicedesk/1/customer?limit=100', { headers: { 'X-ExperimentalApi': 'opt-in' } })).values;
  const visible = customers.find((u) => u.emailAddress);
  const made = await call(c(), `${C}customer_request`, { service_desk_id: '1', request_type_id: '1', summary: 'On behalf, by email', raise_on_behalf_of_email: visible.emailAddress.toUpperCase() });
  assert.equal((await sb(`/rest/servicedeskapi/request/${made.issueKey}`)).reporter.accountId, visible.accountId, 'the customer with that email');
  const w0 = await writes();
  const hidden = await call(c(), `${C}customer_request`, { service_desk_id: '1', request_type_id: '1', summary: 'x', raise_on_behalf_of_email: 'customer02@customer.example.com' }, { error: true });
  assert.match(hidden.message, /no customer of this service desk has the email address "customer02@customer.example.com": the address is wrong, or the user hides it/);
  assert.equal(await writes(), w0, 'nothing raised');
  await argsRefused(c(), { name: `${C}customer_request`, arguments: { service_desk_id: '1', request_type_id: '1', summary: 'x', raise_on_behalf_of: 'lena.hoffmann@example.com' } }, /raise_on_behalf_of.*pattern/);
  const tool = (await listAllTools(c())).find((t) => t.name === `${C}customer_request`);
  assert.match(tool.description, /Jira takes accountIds only/);
});

test('4. SLAs: the ongoing cycle, else the most recent completed one', async () => {
  // old: breached and goal fell back to completedCycles.0, the oldest (HW-8: breached).
  const ttr = async (key) => (await call(c(), `${T}request_slas`, { id: key })).slas.find((x) => x.name === 'Time to resolution');
  const hw8 = await ttr('HW-8');
  assert.equal(hw8.breached, false, 'the latest completed cycle met its goal (the first breached)');
  assert.equal(hw8.completedCycles, 2);
  assert.equal(hw8.lastCompleted.breached, false);
  assert.equal(hw8.remaining, undefined, 'nothing ongoing');
  const hw7 = await ttr('HW-7');
  assert.equal(hw7.breached, false, 'the ongoing cycle');
  assert.ok(hw7.remaining && hw7.breachTime, JSON.stringify(hw7));
  assert.equal(hw7.completedCycles, 2);
});

test('5. custom field names several fields share: refused with the candidates unless one applies', async () => {
  // old: the first field of that name was taken silently (JQL and write arguments).
  const impact = fields.filter((f) => f.name === 'Impact');
  const select = impact.find((f) => f.schema.type === 'option'), number = impact.find((f) => f.schema.type === 'number');
  const e = await call(c(), `${T}search_issues`, { jql: 'Impact = "Significant / Large"' }, { error: true });
  assert.match(e.message, new RegExp(`"Impact" is ambiguous: 2 fields have it: ${select.id} \\(option; all projects\\), ${number.id} \\(number; projects HW\\)`));
  // A server limited to ITSM: only the global select applies there.
  const itsm = await connect((await createServer(s, { name: 'itsm', config: { methods: ['read'], projects: ['ITSM'] } })).url);
  clients.push(itsm);
  const r = await call(itsm.client, `${T}search_issues`, { jql: 'Impact is not EMPTY ORDER BY key ASC', limit: 5 });
  const byId = await call(itsm.client, `${T}search_issues`, { jql: `cf[${select.id.slice(12)}] is not EMPTY ORDER BY key ASC`, limit: 5 });
  assert.ok(r.issues.length > 0);
  assert.deepEqual(r.issues.map((i) => i.key), byId.issues.map((i) => i.key));
  // Urgency: a global select and HELP's team-managed field.
  const urgency = fields.filter((f) => f.name === 'Urgency');
  const team = urgency.find((f) => f.scope);
  const ue = await call(c(), `${G}issue_count`, { jql: 'Urgency is EMPTY' }, { error: true });
  assert.match(ue.message, new RegExp(`${team.id} \\(option; projects HELP\\)`), 'a team-managed field\'s project');
  // Write arguments: the issue's project settles it, or not.
  const made = await call(c(), `${C}issue`, { project_key: 'ITSM', summary: 'Impact by name', issue_type: 'Incident', fields: { Impact: { value: 'Significant / Large' } } });
  assert.equal((await sb(`/rest/api/3/issue/${made.key}?fields=${select.id}`)).fields[select.id].value, 'Significant / Large');
  const w0 = await writes();
  const amb = await call(c(), `${C}issue`, { project_key: 'HW', summary: 'x', issue_type: 'Incident', fields: { Impact: 3 } }, { error: true });
  assert.match(amb.message, new RegExp(`fields: the field name "Impact" is ambiguous: .*${number.id} \\(number; projects HW\\); more than one applies to HW`));
  assert.equal(await writes(), w0);
  const viaId = await call(c(), `${C}issue`, { project_key: 'HW', summary: 'Impact by id', issue_type: 'Incident', fields: { [number.id]: 3 } });
  assert.equal((await sb(`/rest/api/3/issue/${viaId.key}?fields=${number.id}`)).fields[number.id], 3);
});

test('6. worklogs: started given is kept, absent is said', async () => {
  // old: no started argument (-32602).
  const a = await call(c(), `${C}issue_worklog`, { id: 'ITSM-40', time_spent_seconds: 900, started: '2026-01-05T10:30:00+01:00' });
  assert.equal(a.started, '2026-01-05T09:30:00Z');
  assert.equal(a.notes, undefined);
  const logs = await sb('/rest/api/3/issue/ITSM-40/worklog?maxResults=100');
  assert.equal(logs.worklogs.find((w) => w.id === a.id).started, '2026-01-05T09:30:00.000+0000', 'in the form Jira insists on');
  const b = await call(c(), `${C}issue_worklog`, { id: 'ITSM-40', time_spent_seconds: 600 });
  assert.deepEqual(b.notes, ['started was not given: Jira recorded the work as started at the time of this call']);
  await argsRefused(c(), { name: `${C}issue_worklog`, arguments: { id: 'ITSM-40', time_spent_seconds: 600, started: 'yesterday' } }, /started/);
});

test('7. requestOwnership exposed and described: the default is the user\'s own requests, not the desk\'s', async () => {
  // old: no ORGANIZATION, no organization_id, and a description that did not say.
  const me = (await sb('/rest/api/3/myself')).accountId;
  const own = await call(c(), `${T}customer_requests`, { service_desk_id: '3', limit: 50 });
  assert.ok(own.requests.every((r) => r.reporter.accountId === me), 'without ownership: the agent\'s own');
  const all = await call(c(), `${T}customer_requests`, { service_desk_id: '3', limit: 50, ownership: ['ALL_REQUESTS'] });
  assert.ok(all.requests.some((r) => r.reporter.accountId !== me), 'ALL_REQUESTS: the desk\'s');
  const orgs = (await sb('/rest/servicedeskapi/servicedesk/3/organization?limit=50')).values;
  const seq = await lastSeq();
  await call(c(), `${T}customer_requests`, { ownership: 'ORGANIZATION', organization_id: String(orgs[0].id), limit: 5 });
  const q = (await since(seq)).find((r) => r.path === '/rest/servicedeskapi/request').query;
  assert.match(q, new RegExp(`requestOwnership=ORGANIZATION.*organizationId=${orgs[0].id}|organizationId=${orgs[0].id}.*requestOwnership=ORGANIZATION`));
  const tool = (await listAllTools(c())).find((t) => t.name === `${T}customer_requests`);
  assert.match(tool.description, /Without it Jira lists only the connected user's own requests/);
});

test('8. user search is described as prefix matching, as it matches', async () => {
  // old: "part of their name or email".
  const tool = (await listAllTools(c())).find((t) => t.name === `${T}user_search`);
  assert.match(tool.description, /prefixes, not substrings/);
  const names = async (q) => (await call(c(), `${T}user_search`, { query: q })).users.map((u) => u.name);
  assert.ok((await names('hoff')).includes('Lena Hoffmann'));
  assert.ok(!(await names('offmann')).includes('Lena Hoffmann'));
});

test('9. privacy: outputs without hidden emails and time zones; the assignee lookup says why an email cannot match', async () => {
  // old: "no user matches" without the reason.
  const cust = await call(c(), `${T}customers`, { service_desk_id: '2', limit: 50 });
  assert.ok(cust.customers.some((u) => u.email === undefined) && cust.customers.some((u) => u.timeZone === undefined));
  const orgs = await call(c(), `${T}organizations`, { limit: 50 });
  const outs = [
    cust,
    await call(c(), `${T}user_search`, { query: 'a', limit: 100 }),
    await call(c(), `${T}organization_users`, { id: String(orgs.organizations[0].id), limit: 50 }),
    await call(c(), `${T}issue_watchers`, { id: 'ITSM-994' }),
    await call(c(), `${T}request_participants`, { id: 'ITSM-994' }),
    await call(c(), `${G}issue_by_id`, { id: 'ITSM-994' }),
    await call(c(), `${G}user_by_id`, { id: (await sb('/rest/api/3/issue/ITSM-994?fields=assignee')).fields.assignee.accountId }),
    await call(c(), `${T}search_issues`, { jql: 'project = HELP ORDER BY key ASC', limit: 20, include: ['comments'] }),
  ];
  outs.forEach((o, i) => noNulls(o, `#${i}`));
  const hidden = cust.customers.find((u) => u.email === undefined);
  const e = await call(c(), `${U}issue_assignee_by_id`, { id: 'ITSM-994', user: 'ben.mensah@example.com' }, { error: true });
  assert.match(e.message, /no user has the email address "ben.mensah@example.com": the address is wrong, or the user hides it/);
  assert.match(e.hint, /hidden by its owner cannot be looked up/);
  const ok = await call(c(), `${U}issue_assignee_by_id`, { id: 'ITSM-41', user: 'LENA.HOFFMANN@example.com' });
  assert.equal(ok.assigned, true);
  assert.equal((await sb('/rest/api/3/issue/ITSM-41?fields=assignee')).fields.assignee.accountId, '5b10ac8d82e05b22cc7d4ef5');
  assert.ok(hidden.accountId, 'a customer with a hidden email still has an accountId');
});

// A raw GET of the sandbox: fetch always decompresses, this one shows the wire.
function wire(p) {
  return new Promise((resolve, reject) => {
    http.get(`${s.sandboxUrl}${p}`, { headers: { Authorization: BASIC, 'Accept-Encoding': 'gzip' } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ headers: res.headers, bytes: Buffer.concat(chunks).length }));
    }).on('error', reject);
  });
}

test('10a. transport: the response-size cap counts decompressed bytes, end to end with gzip', async () => {
  // old: the sandbox never compressed, so this path was never taken.
  const q = '/rest/api/3/search/jql?jql=project%3DITSM%20ORDER%20BY%20key&fields=*all&maxResults=100';
  const w = await wire(q);
  const plain = Buffer.byteLength(JSON.stringify(await sb(q)));
  assert.equal(w.headers['content-encoding'], 'gzip');
  assert.ok(w.bytes < CAP && plain > CAP, `compressed ${w.bytes} < ${CAP} < decompressed ${plain}`);
  const args = { jql: 'project = ITSM ORDER BY key', limit: 100, raw: true };
  const e = await call(capped.client, `${T}search_issues`, args, { error: true });
  assert.equal(e.message, 'response too large');
  assert.match(e.hint, /JSMCP_UPSTREAM_MAX_BYTES, counted after decompression\)\. Ask for less/);
  // Under the cap the same worker decompresses and answers.
  const small = await call(capped.client, `${T}search_issues`, { jql: 'project = ITSM ORDER BY key', limit: 5 });
  assert.equal(small.issues.length, 5);
  assert.ok((await call(full.client, `${T}search_issues`, args)).raw.issues.length === 100, 'the uncapped pool takes it');
  assert.ok(gzipSync(JSON.stringify(await sb(q))).length < CAP, 'consistency of the figures');
});

test('10b. transport: the gateway\'s 429 without Retry-After, the HTML 429, a 503 with Retry-After', async () => {
  // old: retry_after_s 1 invented for the gateway 429, HTML markup in the error, no retry hint on a 503.
  const tool = `${G}issue_by_id`;
  await ctl('/__sandbox/faults', { rate429: 1, style429: 'gateway', pathPrefix: '/rest/api/3/issue/ITSM-42', count: 1 });
  let e = await call(c(), tool, { id: 'ITSM-42' }, { error: true });
  assert.equal(e.status, 429);
  assert.equal(e.retry_after_s, 2, 'Atlassian\'s first backoff step');
  assert.equal(e.retry_after_known, false);
  assert.match(e.hint, /without a Retry-After: wait retry_after_s seconds, then double the wait/);
  await ctl('/__sandbox/faults', { rate429: 1, style429: 'html', retryAfter429: 0, pathPrefix: '/rest/api/3/issue/ITSM-42', count: 1 });
  const res = await c().callTool({ name: tool, arguments: { id: 'ITSM-42' } });
  e = res.structuredContent.error;
  assert.equal(e.status, 429);
  assert.equal(e.body, '(an HTML error page, not shown)');
  assert.ok(!res.content[0].text.includes('<html') && !res.content[0].text.includes('error429'), 'no markup for the agent');
  await ctl('/__sandbox/faults', { errorRate: 1, errorStatus: 503, retryAfterError: 7, pathPrefix: '/rest/api/3/issue/ITSM-42', count: 1 });
  e = await call(c(), tool, { id: 'ITSM-42' }, { error: true });
  assert.equal(e.status, 503);
  assert.equal(e.retry_after_s, 7);
  assert.match(e.hint, /Do not retry before retry_after_s seconds/);
  await ctl('/__sandbox/faults', {}, 'DELETE');
  assert.equal((await call(c(), tool, { id: 'ITSM-42' })).key, 'ITSM-42');
});

test('10e. an odd 2xx (array, scalar, 204 without a body) of a get or list tool is a tool error, not {}', async () => {
  // old: a get answered {} as a success (the model read "it exists and is
  // empty"), a list without its items array answered no items.
  const tool = `${G}issue_by_id`;
  const odd = async (name, args, prefix, answerStatus, answerBody, what) => {
    await ctl('/__sandbox/faults', { answerRate: 1, answerStatus, answerBody, pathPrefix: prefix, count: 1 });
    const res = await c().callTool({ name, arguments: args });
    assert.equal(res.isError, true, `${name} given ${answerStatus} ${answerBody}: ${JSON.stringify(res).slice(0, 400)}`);
    const e = res.structuredContent.error;
    assert.equal(e.reason, 'unexpected_answer');
    assert.equal(e.status, answerStatus);
    assert.ok(e.message.includes(what), `${e.message} names ${what}`);
    assert.match(res.content[0].text, new RegExp(`JSM answered HTTP ${answerStatus} with an unexpected shape`));
  };
  await odd(tool, { id: 'ITSM-42' }, '/rest/api/3/issue/ITSM-42', 200, '[1,2]', 'a JSON array where a JSON object');
  await odd(tool, { id: 'ITSM-42' }, '/rest/api/3/issue/ITSM-42', 200, '42', 'a JSON number where a JSON object');
  await odd(tool, { id: 'ITSM-42' }, '/rest/api/3/issue/ITSM-42', 204, '', 'an empty body where a JSON object');
  await odd(`${T}issue_comments`, { id: 'ITSM-42' }, '/rest/api/3/issue/ITSM-42/comment', 200, '{"startAt":0,"total":2}',
    'a JSON object without the array comments');
  await odd(`${T}fields`, {}, '/rest/api/3/field', 200, '{"id":"summary"}', 'a JSON object where a JSON array');
  // An object is still a result (the fault was for one request only).
  assert.equal((await call(c(), tool, { id: 'ITSM-42' })).key, 'ITSM-42');
  await ctl('/__sandbox/faults', {}, 'DELETE');
});

test('10c. transport: Jira\'s quota signals (NearLimit, RateLimit r/t) pace the account\'s next calls', async () => {
  // old: the signals were ignored; every call went upstream until Jira's 429.
  const app = await api(s, s.key, 'PUT', '/oauth-app', {
    client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret',
    scopes: ['read:jira-work', 'write:jira-work'], redirect_url: `${s.apiUrl}/oauth/callback`,
  });
  assert.equal(app.status, 200, app.text);
  const con = await api(s, s.key, 'POST', '/integrated-account/connect', { tenant_id: 'quota-cust' });
  const auth = await fetch(con.json.authorization_url, { redirect: 'manual' });
  const acct = await (await fetch(auth.headers.get('location'), { redirect: 'manual' })).json();
  const srv = await api(s, s.key, 'POST', `/integrated-account/${acct.id}/mcp`, { name: 'quota', config: { methods: ['read'] } });
  const oc = await connect(srv.json.url);
  clients.push(oc);
  await ctl('/__sandbox/limits', { enabled: true, quotaPoints: 20 });
  try {
    // Below 80% of the quota nothing is said and nothing is paced.
    let near = false;
    for (let i = 0; i < 20 && !near; i++) {
      await call(oc.client, `${G}myself`, {});
      near = (await sb('/__sandbox/limits')).quotaUsed >= 17;
    }
    assert.ok(near, 'the quota is nearly spent');
    // The answer that said so made the worker pace this account: at most one
    // more call goes upstream (the bucket's one token), the next is held.
    const seq = await lastSeq();
    const r1 = await oc.client.callTool({ name: `${G}myself`, arguments: {} });
    const r2 = await oc.client.callTool({ name: `${G}myself`, arguments: {} });
    const held = [r1, r2].filter((r) => r.isError);
    assert.ok(held.length >= 1, JSON.stringify([r1, r2].map((r) => r.structuredContent)).slice(0, 600));
    const e = held[held.length - 1].structuredContent.error;
    assert.equal(e.status, 429);
    assert.equal(e.rate_limit_reason, 'jsmcp-pacing-jira-quota');
    assert.match(e.message, /quota is nearly spent/);
    assert.ok(e.retry_after_s > 1, `the time left spread over the quota left: ${e.retry_after_s}`);
    const up = (await since(seq)).filter((x) => x.path.endsWith('/rest/api/3/myself'));
    assert.ok(up.length <= 1, `held calls made no request (${up.length})`);
    // The API-token account of the same site is not paced (API tokens have no points quota).
    assert.ok((await call(c(), `${G}myself`, {})).accountId);
  } finally {
    await ctl('/__sandbox/limits', { quotaPoints: 0 });
  }
});

test('10d. labels: Cloud\'s rules (no spaces, 255 characters), not a count of 20', async () => {
  // old: maxItems 20 refused 25 labels, and a label with a space reached Jira.
  const many = Array.from({ length: 25 }, (_, i) => `l-${i}`);
  await call(c(), `${U}issue_by_id`, { id: 'HELP-31', labels: many });
  assert.equal((await sb('/rest/api/3/issue/HELP-31?fields=labels')).fields.labels.length, 25);
  const seq = await lastSeq();
  await argsRefused(c(), { name: `${U}issue_by_id`, arguments: { id: 'HELP-31', labels: ['two words'] } }, /labels\/0.*pattern/);
  await argsRefused(c(), { name: `${C}issue`, arguments: { project_key: 'HELP', summary: 'x', issue_type: 'Incident', labels: ['x'.repeat(256)] } }, /labels\/0/);
  assert.deepEqual(await since(seq), [], 'refused before any request');
});

// ---- the new capabilities ----

test('knowledge base: site-wide and per desk; a server limited to projects needs the desk', async () => {
  const all = await call(c(), `${T}knowledge_base_articles`, { query: 'vpn', limit: 50 });
  assert.ok(all.articles.length >= 2 && all.articles.every((a) => a.title && a.url), JSON.stringify(all).slice(0, 300));
  assert.ok(new Set(all.articles.map((a) => a.spaceKey)).size > 1, 'several desks\' spaces');
  const desk = await call(c(), `${T}knowledge_base_articles`, { query: 'vpn', service_desk_id: '2', limit: 50 });
  assert.ok(desk.articles.length > 0 && desk.articles.length < all.articles.length);
  const paged = await call(c(), `${T}knowledge_base_articles`, { query: 'vpn', limit: 1 });
  assert.ok(paged.next_cursor);
  const ro = await connect((await createServer(s, { name: 'kb-scoped', config: { methods: ['read'], projects: ['ITSM'] } })).url);
  clients.push(ro);
  const e = await call(ro.client, `${T}knowledge_base_articles`, { query: 'vpn' }, { error: true });
  assert.match(e.message, /service_desk_id is required/);
  assert.ok((await call(ro.client, `${T}knowledge_base_articles`, { query: 'vpn', service_desk_id: '2' })).articles.length > 0);
});

test('portal transitions: list, and run one with a public additionalComment', async () => {
  const [key] = await openIssues(1, 'Cancel request');
  const tr = await call(c(), `${T}request_transitions`, { id: key });
  assert.ok(tr.transitions.length > 0, JSON.stringify(tr));
  const cancel = tr.transitions.find((t) => /cancel/i.test(t.name)) || tr.transitions[0];
  const seq = await lastSeq();
  await call(c(), `${U}request_status_by_id`, { id: key, transition_name: cancel.name.toUpperCase(), comment: 'Closing as agreed on the phone.' });
  const post = (await since(seq)).find((r) => r.method === 'POST');
  assert.equal(post.path, `/rest/servicedeskapi/request/${key}/transition`);
  const comments = (await sb(`/rest/servicedeskapi/request/${key}/comment?limit=100`)).values;
  const mine = comments.find((x) => x.body === 'Closing as agreed on the phone.');
  assert.ok(mine && mine.public === true, 'posted publicly');
  const e = await call(c(), `${U}request_status_by_id`, { id: key, transition_name: 'teleport' }, { error: true });
  assert.match(e.message, /no portal transition matches "teleport"; candidates:/);
});

test('attachments: upload (platform multipart and the JSM temporary file), list, read back; size caps', async () => {
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
  const up = await call(c(), `${C}issue_attachment`, { id: 'ITSM-44', filename: 'trace.bin', content_base64: bytes.toString('base64'), mime_type: 'application/octet-stream' });
  assert.equal(up.attachments[0].size, 3000);
  const back = await call(c(), `${G}attachment_content_by_id`, { issue: 'ITSM-44', id: String(up.attachments[0].id) });
  assert.equal(back.size, 3000);
  assert.ok(Buffer.from(back.contentBase64, 'base64').equals(bytes), 'the same bytes come back');
  const jsm = await call(c(), `${C}request_attachment`, { id: 'ITSM-44', filename: 'notes.txt', content_base64: Buffer.from('see attached\n').toString('base64'), mime_type: 'text/plain', comment: 'The notes you asked for' });
  assert.equal(jsm.public, true);
  assert.deepEqual(jsm.attachments.map((a) => a.filename), ['notes.txt']);
  const req = (await sb(`/rest/servicedeskapi/request/ITSM-44/comment/${jsm.commentId}`));
  assert.match(req.body, /The notes you asked for/);
  const list = await call(c(), `${T}issue_attachments`, { id: 'ITSM-44' });
  assert.deepEqual(list.attachments.map((a) => a.filename).sort(), ['notes.txt', 'trace.bin']);
  // An attachment of another issue is not read through this one.
  const other = await call(c(), `${G}attachment_content_by_id`, { issue: 'ITSM-45', id: String(up.attachments[0].id) }, { error: true });
  assert.match(other.message, /is not an attachment of this issue/);
  // A file above the read cap fails with its size.
  const big = (await call(c(), `${T}issue_attachments`, { id: 'ITSM-1042' })).attachments.find((a) => a.size > 262144);
  const e = await call(c(), `${G}attachment_content_by_id`, { issue: 'ITSM-1042', id: String(big.id) }, { error: true });
  assert.match(e.message, new RegExp(`the file is ${big.size} bytes; this tool returns files of at most 262144 bytes`));
  // Content that is not base64, a name with a path: refused before any request.
  const seq = await lastSeq();
  await argsRefused(c(), { name: `${C}issue_attachment`, arguments: { id: 'ITSM-44', filename: 'x.txt', content_base64: 'not base64!' } }, /content_base64: not base64/);
  await argsRefused(c(), { name: `${C}issue_attachment`, arguments: { id: 'ITSM-44', filename: '../x.txt', content_base64: 'eA==' } }, /filename/);
  // A name that reads otherwise than it is (a direction override: "exe.png"), or hides characters: refused.
  for (const filename of ['\u202egnp.exe', 'a\u200bb.txt', 'x\u0085y.txt', '\ufeffx.txt']) await argsRefused(c(), { name: `${C}issue_attachment`, arguments: { id: 'ITSM-44', filename, content_base64: 'eA==' } }, /filename: no control, invisible or direction-changing/, JSON.stringify(filename));
  await argsRefused(c(), { name: `${C}issue_attachment`, arguments: { id: 'ITSM-44', filename: 'x', content_base64: 'A'.repeat(699053) } }, /content_base64/);
  assert.deepEqual(await since(seq), []);
});

test('history and relations: changelog, watchers, links (with types), request status history', async () => {
  const [k46] = await openIssues(1, 'Start progress');
  await call(c(), `${U}issue_status_by_id`, { id: k46, transition_name: 'Start progress' });
  const log = await call(c(), `${T}issue_changelog`, { id: k46, limit: 100 });
  const last = log.changes[log.changes.length - 1];
  assert.deepEqual(last.items.find((i) => i.field === 'status').to, 'In Progress');
  const hist = await call(c(), `${T}request_status_history`, { id: k46 });
  assert.equal(hist.statuses[0].status, 'In Progress', 'most recent first');
  const me = (await sb('/rest/api/3/myself')).accountId;
  await call(c(), `${C}issue_watcher`, { id: k46, account_id: me });
  const w = await call(c(), `${T}issue_watchers`, { id: k46 });
  assert.ok(w.watchers.some((u) => u.accountId === me));
  const types = await call(c(), `${T}issue_link_types`, {});
  const blocks = types.link_types.find((t) => t.name === 'Blocks');
  assert.equal(blocks.outward, 'blocks');
  await call(c(), `${C}issue_link`, { link_type: 'Blocks', from_issue: k46, to_issue: 'ITSM-47', comment: 'the other must be fixed first' });
  await call(c(), `${C}issue_link`, { link_type: 'Relates', from_issue: k46, to_issue: 'HW-5' });
  const from = await call(c(), `${T}issue_links`, { id: k46 });
  const b = from.links.find((l) => l.type === 'Blocks');
  assert.equal(b.outwardIssue.key, 'ITSM-47');
  assert.equal(b.outward, 'blocks');
  assert.ok(from.links.some((l) => l.outwardIssue?.key === 'HW-5'));
  const to = await call(c(), `${T}issue_links`, { id: 'ITSM-47' });
  assert.equal(to.links.find((l) => l.type === 'Blocks').inwardIssue.key, k46);
  // On a server limited to ITSM the link to HW is left out.
  const ro = await connect((await createServer(s, { name: 'links-scoped', config: { methods: ['read'], projects: ['ITSM'] } })).url);
  clients.push(ro);
  const scoped = await call(ro.client, `${T}issue_links`, { id: k46 });
  assert.ok(scoped.links.length > 0 && !JSON.stringify(scoped).includes('HW-5'), JSON.stringify(scoped));
  const bad = await call(c(), `${C}issue_link`, { link_type: 'Is Friends With', from_issue: k46, to_issue: 'ITSM-47' }, { error: true });
  assert.equal(bad.status, 404);
});

test('create metadata and visible projects: the required custom field of a create screen', async () => {
  const types = await call(c(), `${T}issue_types`, { project_key: 'ITSM' });
  const change = types.issue_types.find((t) => t.name === 'Change');
  const f = [];
  let cursor;
  do {
    const page = await call(c(), `${T}issue_type_fields`, { project_key: 'ITSM', issue_type_id: change.id, limit: 5, ...(cursor ? { next_cursor: cursor } : {}) });
    f.push(...page.fields);
    cursor = page.next_cursor;
  } while (cursor);
  const risk = f.find((x) => x.name === 'Change risk');
  assert.ok(risk && risk.required && risk.fieldId.startsWith('customfield_') && risk.allowedValues.length > 0, JSON.stringify(risk));
  const e = await call(c(), `${C}issue`, { project_key: 'ITSM', summary: 'Firewall change', issue_type: 'Change' }, { error: true });
  assert.equal(e.status, 400);
  const ok = await call(c(), `${C}issue`, { project_key: 'ITSM', summary: 'Firewall change', issue_type: 'Change', fields: { [risk.fieldId]: { value: risk.allowedValues[0] } } });
  assert.match(ok.key, /^ITSM-/);
  const projects = await call(c(), `${T}projects`, {});
  assert.deepEqual(projects.projects.map((p) => p.key).sort(), ['HELP', 'HW', 'ITSM']);
  const sd = await call(c(), `${T}projects`, { query: 'hard', type: 'service_desk' });
  assert.deepEqual(sd.projects.map((p) => p.key), ['HW']);
  const ro = await connect((await createServer(s, { name: 'projects-scoped', config: { methods: ['read'], projects: ['HW'] } })).url);
  clients.push(ro);
  assert.deepEqual((await call(ro.client, `${T}projects`, {})).projects.map((p) => p.key), ['HW']);
  const other = await call(ro.client, `${T}issue_types`, { project_key: 'ITSM' }, { error: true });
  assert.match(other.message, /limited to the projects/);
});

test('organization management: an organization added to a desk, users added to an organization', async () => {
  const org = await call(c(), `${C}organization`, { name: `Contractors ${process.pid}` });
  await call(c(), `${C}service_desk_organization`, { service_desk_id: '2', organization_id: String(org.id) });
  const desk = await call(c(), `${T}organizations`, { service_desk_id: '2', limit: 50 });
  assert.ok(desk.organizations.some((o) => String(o.id) === String(org.id)));
  const cust = (await sb('/rest/servicedeskapi/servicedesk/2/customer?limit=5', { headers: { 'X-ExperimentalApi': 'opt-in' } })).values[0];
  await call(c(), `${C}organization_user`, { id: String(org.id), account_ids: [cust.accountId] });
  const users = await call(c(), `${T}organization_users`, { id: String(org.id) });
  assert.deepEqual(users.users.map((u) => u.accountId), [cust.accountId]);
});

test('search in a single pass: include description and the latest comments, with caps; the user lookup with groups', async () => {
  const plain = await call(c(), `${T}search_issues`, { jql: 'key = ITSM-994' });
  assert.equal(plain.issues[0].description, undefined);
  const seq = await lastSeq();
  const r = await call(c(), `${T}search_issues`, { jql: 'key = ITSM-994', include: ['description', 'comments'] });
  assert.equal((await since(seq)).length, 1, 'one request');
  const i = r.issues[0];
  assert.match(i.description, /VPN session from the Berlin office/);
  assert.equal(i.commentCount, 7);
  assert.equal(i.latestComments.length, 3);
  const all = (await sb('/rest/api/3/issue/ITSM-994/comment?maxResults=100')).comments;
  assert.deepEqual(i.latestComments.map((x) => x.id), all.slice(-3).map((x) => x.id), 'the latest three');
  const long = await call(c(), `${C}issue`, { project_key: 'ITSM', summary: 'long', issue_type: 'Incident', description: 'x'.repeat(5000) });
  const capped2 = await call(c(), `${T}search_issues`, { jql: `key = ${long.key}`, include: ['description'] });
  assert.equal(capped2.issues[0].description.length, 2003, '2,000 characters and "..."');
  const u = await call(c(), `${G}user_by_id`, { id: '5b10ac8d82e05b22cc7d4ef5', include: ['groups'] });
  assert.ok(u.groups.includes('network-team'), JSON.stringify(u));
  assert.equal((await call(c(), `${G}user_by_id`, { id: '5b10ac8d82e05b22cc7d4ef5' })).groups, undefined);
});
