// Fault and load drivers shared by tests/node/faults.test.mjs (quick, in
// `make test`), tests/faults/*.mjs (longer, `make faults`) and bench/load.sh.
// No npm packages: node:http only, so the files run from any directory.
//
// Every request goes out on its own connection (no keep-alive) so a killed
// worker process fails exactly the calls it had in flight, not also idle
// pooled connections a later call would pick up.
import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { freePort, waitFor } from '../node/lib/mcp_stack.mjs';
import { spawnTied } from '../node/lib/spawn.mjs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
// For load runs: clients that keep their connection, like real MCP clients.
export const keepAliveAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep, freePort };

// One HTTP request; resolves {status, headers, text, json} or {error}
// (connection refused/reset, or no answer within timeoutMs).
export function request(url, { method = 'POST', headers = {}, body, timeoutMs = 20000, via = agent } = {}) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      agent: via, host: u.hostname, port: u.port, path: u.pathname + u.search, method,
      headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: parseBody(text) });
      });
      res.on('error', (e) => resolve({ error: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    if (data) req.write(data);
    req.end();
  });
}

// A JSON body, or the data: of an SSE-framed JSON-RPC answer.
function parseBody(text) {
  try { return JSON.parse(text); } catch { /* maybe SSE */ }
  const data = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
  try { return data ? JSON.parse(data) : null; } catch { return null; }
}

const MCP_HEADERS = { Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-06-18' };

// initialize + notifications/initialized; returns the session id.
export async function mcpSession(mcpUrl) {
  const r = await request(mcpUrl, {
    headers: MCP_HEADERS,
    body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'faults', version: '1' } } },
  });
  if (r.status !== 200 || !r.headers['mcp-session-id']) throw new Error(`initialize: ${r.status} ${r.error || r.text}`);
  const sid = r.headers['mcp-session-id'];
  await request(mcpUrl, { headers: { ...MCP_HEADERS, 'Mcp-Session-Id': sid }, body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
  return sid;
}

let seq = 0;
// One tools/call with a unique X-Request-Id. Outcome:
// ok | tool_error (result.isError: the upstream failed, clearly) |
// rpc_error | http_<status> | conn (refused/reset/timeout).
export async function toolCall(mcpUrl, sid, name, args, { timeoutMs = 20000, tag = 'c', via } = {}) {
  const rid = `${tag}-${process.pid}-${++seq}`;
  const t0 = Date.now();
  const r = await request(mcpUrl, {
    timeoutMs, via,
    headers: { ...MCP_HEADERS, 'Mcp-Session-Id': sid, 'X-Request-Id': rid },
    body: { jsonrpc: '2.0', id: seq, method: 'tools/call', params: { name, arguments: args } },
  });
  const ms = Date.now() - t0;
  if (r.error) return { rid, ms, outcome: 'conn', detail: r.error };
  if (r.status !== 200) return { rid, ms, outcome: `http_${r.status}`, detail: r.text.slice(0, 300) };
  const m = r.json;
  if (m?.result) {
    if (m.result.isError) return { rid, ms, outcome: 'tool_error', detail: JSON.stringify(m.result.content).slice(0, 400), executed: true };
    return { rid, ms, outcome: 'ok', executed: true };
  }
  return { rid, ms, outcome: 'rpc_error', detail: JSON.stringify(m?.error ?? r.text).slice(0, 300) };
}

// Runs `clients` loops calling fn() until stop() is true; resolves with
// every result, with the times it started (s) and ended (t), in ms since
// the start (run.t0). run.results grows while it runs and run.now() is the
// current time on that scale, so a test can wait on what the calls saw.
export function drive(clients, fn, stop) {
  const t0 = Date.now();
  const results = [];
  const run = Promise.all(Array.from({ length: clients }, async (_, i) => {
    while (!stop()) {
      const s = Date.now() - t0;
      const r = await fn(i);
      r.s = s;
      r.t = Date.now() - t0;
      results.push(r);
    }
  })).then(() => results);
  run.results = results;
  run.t0 = t0;
  run.now = () => Date.now() - t0;
  return run;
}

// waitFor of tests/node/lib/mcp_stack.mjs, with a minute to wait by default.
export const until = (fn, what, timeoutMs = 60000) => waitFor(fn, what, timeoutMs);

export function tally(results) {
  const by = {};
  for (const r of results) by[r.outcome] = (by[r.outcome] || 0) + 1;
  return { sent: results.length, failed: results.filter((r) => r.outcome !== 'ok').length, by };
}

// Request ids of tool calls found in the tool_calls table (the audit drain
// of the admin API), waiting up to waitMs for `want` of them to arrive.
export async function auditIds(dbUrl, want, waitMs = 15000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = spawnSync('psql', [dbUrl, '-tAc', 'select request_id from tool_calls'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`psql: ${r.error?.message || r.stderr}`);
    const ids = new Set(r.stdout.split('\n').filter(Boolean));
    if ([...want].every((id) => ids.has(id)) || Date.now() > deadline) return ids;
    await sleep(250);
  }
}

// Lost records: calls that were executed (the client saw a result) but
// have no audit record in PostgreSQL.
export async function lostAudit(dbUrl, results) {
  const want = new Set(results.filter((r) => r.executed).map((r) => r.rid));
  const ids = await auditIds(dbUrl, want);
  return [...want].filter((id) => !ids.has(id));
}

// The pids of a process's children (the forked workers of a master).
export function children(pid) {
  const f = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

// A private redis-server (not the shared one) on a free port, persisting to
// its own directory so a stop + start keeps the data, like a real restart.
export async function startRedis(port, dir = mkdtempSync(path.join(tmpdir(), 'jsmcp-faults-redis-'))) {
  const p = spawnTied('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
  p.dir = dir;
  p.exited = new Promise((r) => p.on('exit', r));
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return p;
    await sleep(50);
  }
  throw new Error('private redis did not start');
}

// A TCP proxy: "stopping" it closes every proxied connection and refuses new
// ones, which is what a stopped PostgreSQL looks like to a client.
export function tcpProxy(listenPort, host, port) {
  const socks = new Set();
  let server = null;
  const open = () => new Promise((resolve) => {
    server = net.createServer((c) => {
      const u = net.connect(port, host);
      socks.add(c); socks.add(u);
      c.pipe(u); u.pipe(c);
      const end = () => { c.destroy(); u.destroy(); socks.delete(c); socks.delete(u); };
      c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
    });
    server.listen(listenPort, '127.0.0.1', resolve);
    server.unref(); // never what keeps a test process alive
  });
  // Stops listening and cuts every proxied connection; does not wait.
  const close = async () => {
    server?.close();
    for (const s of socks) s.destroy();
    socks.clear();
  };
  return { open, close };
}
