// MCP client helpers for the worker tests: the official SDK client over
// Streamable HTTP or legacy SSE, and the six JSM tools exercised against
// the sandbox's seeded data.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnTied } from './spawn.mjs';

export const SIX = [
  'list_all_jira_service_management_search_issues',
  'get_single_jira_service_management_issue_by_id',
  'list_all_jira_service_management_issue_comments',
  'list_all_jira_service_management_queues',
  'list_all_jira_service_management_queue_issues',
  'get_single_jira_service_management_user_by_id',
];

export async function connect(url, { sse = false, headers = {} } = {}) {
  const client = new Client({ name: 'jsmcp-tests', version: '1.0.0' }, { capabilities: {} });
  const requestInit = { headers };
  const transport = sse
    ? new SSEClientTransport(new URL(`${url}/sse`), { requestInit })
    : new StreamableHTTPClientTransport(new URL(url), { requestInit });
  await client.connect(transport);
  return { client, transport };
}

// A tool call whose arguments the tool refuses before any request: an
// isError result (reason invalid_arguments) whose text names what to fix,
// for the model to correct itself (MCP 2025-11-25, SEP-1303), not a JSON-RPC
// error. Returns the result.
export async function argsRefused(client, params, re, what = params.name) {
  const r = await client.callTool(params);
  assert.equal(r.isError, true, `${what}: ${JSON.stringify(r)}`);
  assert.equal(r.structuredContent?.error?.reason, 'invalid_arguments', `${what}: ${JSON.stringify(r)}`);
  assert.match(r.content[0].text, re, what);
  return r;
}

export async function close({ client, transport }) {
  if (transport.terminateSession) await transport.terminateSession().catch(() => {});
  await client.close();
}

export async function listAllTools(client) {
  const out = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    out.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function call(client, name, args) {
  const res = await client.callTool({ name, arguments: args });
  assert.ok(!res.isError, `${name} failed: ${JSON.stringify(res.content)}`);
  assert.equal(res.content[0].type, 'text');
  assert.deepEqual(JSON.parse(res.content[0].text), res.structuredContent, 'text mirrors structuredContent');
  return res.structuredContent;
}

// Calls each of the six tools the way an agent would chain them; returns
// what it saw for further checks.
export async function exerciseSix(client) {
  const tools = await listAllTools(client);
  for (const name of SIX) assert.ok(tools.find((t) => t.name === name), `${name} listed`);
  for (const t of tools) {
    assert.ok(t.description && t.inputSchema?.type === 'object', t.name);
    assert.equal(t.annotations?.readOnlyHint, true, t.name);
  }
  const search = await call(client, SIX[0], { jql: 'project = ITSM ORDER BY created ASC', limit: 3 });
  assert.equal(search.issues.length, 3);
  assert.ok(search.next_cursor, 'more than 3 ITSM issues: a next page');
  const page2 = await call(client, SIX[0], { jql: 'project = ITSM ORDER BY created ASC', limit: 3, next_cursor: search.next_cursor });
  assert.equal(page2.issues.length, 3);
  assert.notEqual(page2.issues[0].key, search.issues[0].key);

  const issue = await call(client, SIX[1], { id: 'ITSM-994' });
  assert.equal(issue.key, 'ITSM-994');
  assert.ok(issue.summary && issue.status);
  assert.ok(issue.reporter?.accountId, 'reporter with accountId');

  const comments = await call(client, SIX[2], { id: 'ITSM-994', limit: 50 });
  assert.ok(comments.comments.length > 0, 'ITSM-994 has a comment thread');
  assert.ok(comments.comments[0].body !== undefined && comments.comments[0].author);

  const queues = await call(client, SIX[3], { service_desk_id: '2' });
  const outages = queues.queues.find((q) => q.name === 'Network Outages');
  assert.ok(outages, `queue "Network Outages" in desk 2: ${JSON.stringify(queues.queues.map((q) => q.name))}`);

  const qi = await call(client, SIX[4], { service_desk_id: '2', queue_id: String(outages.id), limit: 5 });
  assert.ok(Array.isArray(qi.issues));

  const user = await call(client, SIX[5], { id: issue.reporter.accountId });
  assert.equal(user.accountId, issue.reporter.accountId);
  assert.ok(user.name);
  return { issue, user };
}

// The article's two workflows, as an agent runs them (worker_catalog.test.mjs
// on a local stack, tests/compose/stack.test.mjs through the compose stack's
// load balancer), on a server with every tool.
// 1. Incident triage on ITSM-994: the issue, its comment thread, the
//    reporter's time zone.
export async function articleTriage(client) {
  const issue = await call(client, 'get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' });
  assert.match(issue.summary, /VPN/i);
  assert.ok(issue.status && issue.priority && issue.created && issue.description !== undefined);
  assert.equal(issue.reporter.accountId, '5b10ac8d82e05b22cc7d4ef5');
  assert.equal(issue.reporter.timeZone, 'Europe/Berlin', 'time zone without a second call');
  const comments = await call(client, 'list_all_jira_service_management_issue_comments', { id: 'ITSM-994', limit: 50 });
  assert.equal(comments.comments.length, 7);
  assert.ok(comments.comments.some((x) => x.public === false), 'internal notes flagged');
  assert.ok(comments.comments.every((x) => typeof x.body === 'string' && x.author?.name && x.created));
  const user = await call(client, 'get_single_jira_service_management_user_by_id', { id: issue.reporter.accountId });
  assert.equal(user.timeZone, 'Europe/Berlin');
}

// 2. The 5 oldest unresolved issues of the "Network Outages" queue of desk
//    2, from the queue's pages and again through JQL.
export async function articleOldestOutages(client) {
  const desks = await call(client, 'list_all_jira_service_management_service_desks', {});
  const desk = desks.service_desks.find((d) => d.id === '2' || d.id === 2);
  assert.equal(desk.projectKey, 'ITSM');
  const queues = await call(client, 'list_all_jira_service_management_queues', { service_desk_id: String(desk.id) });
  const q = queues.queues.find((x) => x.name === 'Network Outages');
  assert.ok(q && q.jql && typeof q.issueCount === 'number');
  const all = [];
  let cursor;
  do {
    const page = await call(client, 'list_all_jira_service_management_queue_issues', { service_desk_id: '2', queue_id: String(q.id), limit: 50, ...(cursor ? { next_cursor: cursor } : {}) });
    all.push(...page.issues);
    cursor = page.next_cursor;
  } while (cursor);
  assert.equal(all.length, q.issueCount);
  const oldest = all.filter((i) => !i.resolution).sort((a, b) => a.created.localeCompare(b.created)).slice(0, 5);
  assert.equal(oldest.length, 5);
  // The same answer through JQL: the queue's filter, unresolved, oldest first.
  const where = q.jql.replace(/\s+ORDER BY.*$/i, '');
  const viaJql = await call(client, 'list_all_jira_service_management_search_issues', { jql: `${where} AND resolution = EMPTY ORDER BY created ASC`, limit: 5 });
  assert.deepEqual(viaJql.issues.map((i) => i.key), oldest.map((i) => i.key));
  return oldest;
}

// Drives mcp-remote (stdio <-> the URL) with newline-delimited JSON-RPC.
export async function viaMcpRemote(url, messages, extraArgs = []) {
  const bin = path.resolve('tests/node/node_modules/.bin/mcp-remote');
  const p = spawnTied(bin, [url, ...extraArgs], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: process.env.JSMCP_TEST_ARTIFACTS || '/tmp' } });
  let buf = '';
  let stderr = '';
  const replies = new Map();
  p.stderr.on('data', (d) => { stderr += d; });
  p.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try {
        const m = JSON.parse(line);
        if (m.id !== undefined) replies.set(m.id, m);
      } catch { /* a log line */ }
    }
  });
  const wait = async (id) => {
    for (let i = 0; i < 300; i++) {
      if (replies.has(id)) return replies.get(id);
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`mcp-remote: no reply to ${id}; stderr:\n${stderr.slice(-2000)}`);
  };
  const out = [];
  try {
    for (const m of messages) {
      p.stdin.write(`${JSON.stringify(m)}\n`);
      if (m.id !== undefined) out.push(await wait(m.id));
    }
  } finally {
    p.kill('SIGTERM');
  }
  return out;
}
