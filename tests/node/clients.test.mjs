// Real MCP clients from npm (tests/clients, installed by make test through
// scripts/install-deps.sh --clients) connect with the URL the admin API
// hands out, against the real worker, API and sandbox:
//   - the MCP Inspector CLI 2.x (on Node 22) over Streamable HTTP and SSE:
//     it picks the transport from the URL's last segment (/mcp or /sse) and
//     refuses a URL ending in the token unless --transport is given; the
//     worker answers <url>/mcp like <url> (the second documented form);
//   - the MCP Inspector CLI 0.15 (what Node 20 users still run): it replaces
//     a path that does not end in /mcp or /sse with /mcp ("No such
//     endpoint" with the bare URL), so it needs <url>/mcp or <url>/sse;
//   - Claude Code: `claude mcp add --transport http` then `claude mcp list`,
//     whose health check connects without a model account.
// The client libraries (the AI SDK's, LangChain's) are in clients_more.test.mjs.
// Every client runs with a proxy on loopback that refuses and records any
// connection it tries beyond loopback: tests send traffic nowhere else.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnTied } from './lib/spawn.mjs';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLIENTS = path.join(ROOT, 'tests/clients/node_modules');
const NODE22 = path.join(ROOT, 'tests/node/node_modules/.bin/node');
const INSPECTOR = path.join(CLIENTS, '@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const INSPECTOR_V0 = path.join(CLIENTS, 'inspector-v0/cli/build/cli.js');
const CLAUDE = path.join(CLIENTS, '@anthropic-ai/claude-code/bin/claude.exe');

// Not installed is a failure, not a skip: make test installs them.
const notInstalled = [INSPECTOR, INSPECTOR_V0, CLAUDE].filter((p) => !existsSync(p));
requireStack();

let s;
let home;
let proxy;
const outside = [];

before(async () => {
  assert.deepEqual(notInstalled, [], 'the real clients are installed (scripts/install-deps.sh --clients)');
  home = mkdtempSync(path.join(tmpdir(), 'jsmcp-clients-'));
  proxy = http.createServer((req, res) => {
    outside.push(`${req.method} ${req.url}`);
    res.writeHead(403).end();
  });
  proxy.on('connect', (req, sock) => {
    outside.push(`CONNECT ${req.url}`);
    sock.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  s = await startStack({ workers: 2, server: { config: { methods: ['read'] } } });
});

after(async () => {
  if (proxy) await new Promise((r) => proxy.close(r));
  if (home) rmSync(home, { recursive: true, force: true });
  if (s) {
    const codes = await stopStack(s);
    assert.equal(codes.worker, 0, 'worker exits clean');
  }
  assert.deepEqual(outside, [], 'no client tried to reach beyond loopback');
});

// Runs a client to its end; {code, out, err}.
function run(cmd, args, { timeout = 90000 } = {}) {
  const proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
  const env = {
    ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'),
    HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, http_proxy: proxyUrl, https_proxy: proxyUrl,
    NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost',
    // Claude Code: no telemetry, no update check, no error reporting.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1', CI: '1',
  };
  return new Promise((resolve, reject) => {
    const p = spawnTied(cmd, args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('error', reject);
    p.on('close', (code, sig) => {
      clearTimeout(t);
      resolve({ code: sig ? 128 : code, out, err });
    });
  });
}

const inspector = (url, ...args) => run(NODE22, [INSPECTOR, '--cli', url, ...args]);
const inspectorV0 = (url, ...args) => run(process.execPath, [INSPECTOR_V0, '--cli', url, ...args]);

function json(r, what) {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.out.slice(-1500)}\n${r.err.slice(-1500)}`);
  return JSON.parse(r.out);
}

const ISSUE_TOOL = 'get_single_jira_service_management_issue_by_id';

test('Inspector CLI 2.x over Streamable HTTP: the handed-out URL with --transport http lists the tools; <url>/mcp calls one', async () => {
  const bare = await inspector(s.mcpUrl, '--method', 'tools/list');
  assert.notEqual(bare.code, 0, 'a URL ending in the token needs --transport (or the /mcp form)');
  assert.match(bare.err, /Transport type not specified/);

  const list = json(await inspector(s.mcpUrl, '--transport', 'http', '--method', 'tools/list'), 'tools/list');
  const names = list.tools.map((t) => t.name);
  assert.ok(names.includes(ISSUE_TOOL) && names.includes('list_all_jira_service_management_queues'), names.join(' '));
  assert.ok(!names.some((n) => n.startsWith('create_') || n.startsWith('delete_')), 'a read server lists no write tool');

  const call = json(await inspector(`${s.mcpUrl}/mcp`, '--method', 'tools/call', '--tool-name', ISSUE_TOOL,
    '--tool-arg', 'id=ITSM-994'), 'tools/call');
  assert.ok(!call.isError, JSON.stringify(call));
  const issue = JSON.parse(call.content[0].text);
  assert.equal(issue.key, 'ITSM-994');
  assert.match(issue.summary, /VPN/);
});

test('Inspector CLI 2.x: a prompt and a resource with the /mcp form', async () => {
  const got = json(await inspector(`${s.mcpUrl}/mcp`, '--method', 'prompts/get', '--prompt-name', 'incident_triage',
    '--prompt-args', 'issue_key=ITSM-994'), 'prompts/get');
  const text = got.messages.map((m) => m.content.text || '').join('\n');
  assert.match(text, /ITSM-994/);
  assert.match(text, new RegExp(ISSUE_TOOL), 'the prompt names the tools to call');

  const res = json(await inspector(`${s.mcpUrl}/mcp`, '--method', 'resources/read', '--uri', 'jsm://issue/ITSM-994'),
    'resources/read');
  assert.equal(res.contents[0].uri, 'jsm://issue/ITSM-994');
  assert.equal(JSON.parse(res.contents[0].text).key, 'ITSM-994');
});

test('Inspector CLI 2.x over SSE (<url>/sse): the desks and queues in scope as resources', async () => {
  const res = json(await inspector(`${s.mcpUrl}/sse`, '--method', 'resources/list'), 'resources/list over SSE');
  const uris = res.resources.map((r) => r.uri);
  assert.ok(uris.some((u) => /^jsm:\/\/desk\/\d+$/.test(u)), uris.join(' '));
  assert.ok(uris.some((u) => /^jsm:\/\/desk\/\d+\/queue\/\d+\/issues$/.test(u)), uris.join(' '));
});

test('Inspector CLI 0.15: the bare URL fails with "No such endpoint"; <url>/mcp and <url>/sse work', async () => {
  const bare = await inspectorV0(s.mcpUrl, '--transport', 'http', '--method', 'tools/list');
  assert.notEqual(bare.code, 0);
  assert.match(bare.err, /No such endpoint/, 'it posts to /mcp at the root, which the worker refuses');

  const call = json(await inspectorV0(`${s.mcpUrl}/mcp`, '--method', 'tools/call', '--tool-name', ISSUE_TOOL,
    '--tool-arg', 'id=ITSM-994'), 'tools/call');
  assert.equal(JSON.parse(call.content[0].text).key, 'ITSM-994');
  const sse = json(await inspectorV0(`${s.mcpUrl}/sse`, '--method', 'prompts/list'), 'prompts/list over SSE');
  assert.ok(sse.prompts.find((p) => p.name === 'queue_dispatch'), sse.prompts.map((p) => p.name).join(' '));
});

test('Claude Code: claude mcp add --transport http, then claude mcp list connects', async () => {
  const add = await run(CLAUDE, ['mcp', 'add', '--transport', 'http', 'jira-service-management', s.mcpUrl]);
  assert.equal(add.code, 0, `${add.out}\n${add.err}`);
  const list = await run(CLAUDE, ['mcp', 'list']);
  assert.equal(list.code, 0, `${list.out}\n${list.err}`);
  const line = list.out.split('\n').find((l) => l.startsWith('jira-service-management:'));
  assert.ok(line, list.out);
  assert.ok(line.includes(s.mcpUrl) && /Connected/.test(line) && !/Failed/.test(line), line);
});
