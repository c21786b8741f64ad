// A real jsmcp stack for Node tests of the worker: a fresh PostgreSQL
// database, a unique Redis prefix, the JSM sandbox, the admin API and the
// worker pool (all binaries from $JSMCP_BIN_DIR), plus a workspace, an API
// key, an integrated account on the sandbox and an MCP server created
// through the admin API. Environment from tests/run.sh.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnTied } from './spawn.mjs';

const BIN = process.env.JSMCP_BIN_DIR;
const ART = process.env.JSMCP_TEST_ARTIFACTS || '/tmp';

// Every worker test runs the sandbox in strict mode (sandbox/sb_strict.h):
// a request Cloud would silently misread (a query parameter or body field
// the operation does not have, a wrong type) is refused, and stopStack
// fails the test on any refusal. Nothing is allow-listed.

// Throws (the test file fails, it is never skipped) when a binary the stack
// needs is not built in JSMCP_BIN_DIR.
export function requireStack({ sandbox = true } = {}) {
  const need = ['jsmcp-worker', 'jsmcp-api', ...(sandbox ? ['jsm-sandbox'] : [])];
  const missing = need.filter((b) => !BIN || !existsSync(path.join(BIN, b)));
  if (missing.length) throw new Error(`missing binaries in JSMCP_BIN_DIR (${BIN}): ${missing.join(', ')}; build them first (make SAN=1 all)`);
}

// A port nothing listens on, never one this process handed out before: a
// port is closed here and bound later by the process it is for, so two
// calls in a row (a worker's listener and its metrics listener) could get
// the same one from the kernel, and a worker binds both with SO_REUSEPORT,
// which then splits the connections between them (seen: MCP requests
// answered by the metrics listener).
const handedOut = new Set();
function onePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
export async function freePort() {
  for (let i = 0; i < 1000; i++) {
    const port = await onePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no port that was not handed out before');
}

const b64url = (n) => randomBytes(n).toString('base64url');

async function waitHealthy(url, proc, name) {
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} (see ${proc.logPath})`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become healthy at ${url} (see ${proc.logPath})`);
}

// Each process gets its own log (node_api.<pid>.log, node_api.2.<pid>.log, ...): a later
// stack in the same test file must not overwrite the log of a failed one.
const logSeq = new Map();
function freshLogPath(name) {
  const n = (logSeq.get(name) || 0) + 1;
  logSeq.set(name, n);
  return path.join(ART, `node_${name}${n > 1 ? `.${n}` : ''}.${process.pid}.log`);
}

export async function startProc(name, bin, args, env, url) {
  const logPath = freshLogPath(name);
  const log = createWriteStream(logPath);
  const p = spawnTied(path.join(BIN, bin), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.pipe(log);
  p.stderr.pipe(log);
  p.logPath = logPath;
  p.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve(sig ? 128 : code)));
  if (url) await waitHealthy(url, p, name);
  return p;
}

// SIGTERM and wait; returns the exit status (sanitizer reports make it non-zero).
export async function stopProc(p) {
  if (!p || p.exitCode !== null) return p?.exitCode ?? 0;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15000);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

function createDb() {
  const admin = process.env.JSMCP_TEST_PG_URL;
  if (!admin) throw new Error('JSMCP_TEST_PG_URL is not set (run through tests/run.sh)');
  const name = `wk_${process.pid}_${b64url(4).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`;
  const r = spawnSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-qc', `create database ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`create database failed: ${r.stderr}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function api(stack, key, method, p, body) {
  const r = await fetch(`${stack.apiUrl}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// Starts everything. opts.workers: worker processes (default 2);
// opts.env: extra environment for every process, or a function of the
// stack (s.sandboxUrl, s.apiUrl, s.workerUrl are set) returning it;
// opts.server: extra fields for the MCP server creation body;
// opts.sandbox: false = no sandbox (the account then points at an
// allowlisted address nothing listens on: for tests that make no tool calls).
export async function startStack(opts = {}) {
  const s = { procs: [] };
  const [apiPort, workerPort, sbPort, metricsPort, apiMetricsPort] =
    [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  s.apiUrl = `http://127.0.0.1:${apiPort}`;
  s.workerUrl = `http://127.0.0.1:${workerPort}`;
  // The worker's /metrics has its own listener (not the public port).
  s.metricsUrl = `http://127.0.0.1:${metricsPort}`;
  // So has the API's (JSMCP_API_METRICS_LISTEN).
  s.apiMetricsUrl = `http://127.0.0.1:${apiMetricsPort}`;
  s.sandboxUrl = `http://127.0.0.1:${sbPort}`;
  s.env = {
    JSMCP_DATABASE_URL: createDb(),
    JSMCP_REDIS_URL: process.env.JSMCP_TEST_REDIS_URL,
    JSMCP_REDIS_PREFIX: `n${process.pid}_${b64url(3)}:`,
    JSMCP_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    JSMCP_BOOTSTRAP_KEY: `jsb_${b64url(24)}`,
    JSMCP_PUBLIC_WORKER_URL: s.workerUrl,
    JSMCP_SITE_ALLOWLIST: `127.0.0.1:${sbPort}`,
    JSMCP_API_LISTEN: `127.0.0.1:${apiPort}`,
    JSMCP_API_METRICS_LISTEN: `127.0.0.1:${apiMetricsPort}`,
    JSMCP_WORKER_LISTEN: `127.0.0.1:${workerPort}`,
    JSMCP_WORKER_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    JSMCP_WORKERS: String(opts.workers ?? 2),
    // Every tool result is also computed from the fully parsed payload: a
    // difference (a path missing from a tool's keep set) is logged, and
    // stopStack fails on it.
    JSMCP_CHECK_KEEP: '1',
    JSM_SANDBOX_LISTEN: `127.0.0.1:${sbPort}`,
    JSM_SANDBOX_STRICT: '1',
    ...(typeof opts.env === 'function' ? opts.env(s) : (opts.env || {})),
  };
  try {
    if (opts.sandbox !== false) s.sandbox = await startProc('sandbox', 'jsm-sandbox', [], s.env, s.sandboxUrl);
    s.api = await startProc('api', 'jsmcp-api', [], s.env, s.apiUrl);
    s.worker = await startProc('worker', 'jsmcp-worker', [], s.env, s.workerUrl);
    const boot = s.env.JSMCP_BOOTSTRAP_KEY;
    const ws = await api(s, boot, 'POST', '/workspaces', { name: 'worker-tests' });
    if (ws.status !== 201) throw new Error(`workspace: ${ws.status} ${ws.text}`);
    s.workspaceId = ws.json.id;
    const key = await api(s, boot, 'POST', `/workspaces/${ws.json.id}/api-keys`, { name: 'tests' });
    if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.text}`);
    s.key = key.json.key;
    s.keyId = key.json.id;
    const acct = await api(s, s.key, 'POST', '/integrated-account', {
      tenant_id: 'cust-1', site_url: s.sandboxUrl,
      auth: { type: 'api_token', email: 'agent@sandbox.test', api_token: 'sandbox-api-token' },
    });
    if (acct.status !== 201) throw new Error(`account: ${acct.status} ${acct.text}`);
    s.accountId = acct.json.id;
    const srv = await createServer(s, opts.server || {});
    s.mcpUrl = srv.url;
    s.serverId = srv.id;
  } catch (e) {
    await stopStack(s);
    throw e;
  }
  return s;
}

// Another worker pool for the same stack, on its own port and metrics port:
// {proc, url, metricsUrl}.
export async function startWorker(s, name, env = {}) {
  const [port, mport] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const proc = await startProc(name, 'jsmcp-worker', [], {
    ...s.env, JSMCP_WORKER_LISTEN: `127.0.0.1:${port}`, JSMCP_WORKER_METRICS_LISTEN: `127.0.0.1:${mport}`, ...env,
  }, url);
  return { proc, url, metricsUrl: `http://127.0.0.1:${mport}` };
}

export async function createServer(s, fields = {}) {
  const srv = await api(s, s.key, 'POST', `/integrated-account/${s.accountId}/mcp`, {
    name: 'tests', config: { methods: ['read'] }, ...fields,
  });
  if (srv.status !== 201) throw new Error(`mcp server: ${srv.status} ${srv.text}`);
  return srv.json;
}

// The sandbox's strict-mode refusals so far ({refused, allowed, refusals}).
export async function strictReport(s) {
  const r = await fetch(`${s.sandboxUrl}/__sandbox/strict`);
  return r.json();
}

// Stops in reverse order; returns {name: exitStatus}. Throws when the worker
// logged a result that differs with its keep paths (JSMCP_CHECK_KEEP), or
// when the sandbox refused a request in strict mode.
export async function stopStack(s) {
  let strict;
  if (s.sandbox && s.sandbox.exitCode === null) {
    try {
      strict = await strictReport(s);
    } catch (e) {
      strict = { error: String(e) };
    }
  }
  const out = {};
  for (const name of ['worker', 'api', 'sandbox']) if (s[name]) out[name] = await stopProc(s[name]);
  const log = s.worker?.logPath && existsSync(s.worker.logPath) ? readFileSync(s.worker.logPath, 'utf8') : '';
  const bad = log.split('\n').filter((l) => l.includes('differs when the payload is parsed'));
  if (bad.length) throw new Error(`worker results differ with the keep paths:\n${bad.slice(0, 5).join('\n')}`);
  const list = (xs) => xs.map((x) => `  ${x.key} (x${x.count}): ${x.problem}`).join('\n');
  if (strict && !strict.error) console.log(`# sandbox strict mode: ${strict.checked} requests checked, ${strict.refused} refused, ${strict.allowed} allowed`);
  if (strict?.allowed) console.log(`# sandbox strict mode let through (temporary allow-list):\n${list(strict.refusals.filter((x) => x.allowed))}`);
  if (strict?.refused) throw new Error(`the sandbox refused worker requests in strict mode:\n${list(strict.refusals.filter((x) => !x.allowed))}`);
  return out;
}

// Polls fn (sync or async) every 50 ms until it returns something truthy,
// which it returns; throws naming what after timeoutMs. Tests wait on the
// state itself with this, never on a time: the machine may be busy, so the
// deadline is generous.
export async function waitFor(fn, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Sum of the samples of a /metrics family whose line contains every needle.
export async function metricSum(base, name, ...needles) {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n')) {
    if (l.startsWith(name) && (l[name.length] === '{' || l[name.length] === ' ') && needles.every((n) => l.includes(n)))
      sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

// The JSM sandbox holds every following API call under pathPrefix (a
// latency of 10 minutes) until releaseSandbox: a test knows its calls are in
// flight at the site (sandboxHeld) and lets them go when it chooses. The
// prefix should name the call's own request: a first call may also fetch
// the site's field list, which the next calls then wait for instead.
export async function holdSandbox(s, pathPrefix) {
  const r = await fetch(`${s.sandboxUrl}/__sandbox/faults`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ latencyMs: 600000, pathPrefix }),
  });
  if (r.status !== 200) throw new Error(`hold: ${r.status} ${await r.text()}`);
}

// How many requests the sandbox holds right now.
export async function sandboxHeld(s) {
  return (await (await fetch(`${s.sandboxUrl}/__sandbox/counters`)).json()).held;
}

// Ends the hold: later calls go through at once, held ones are answered now.
export async function releaseSandbox(s) {
  await fetch(`${s.sandboxUrl}/__sandbox/faults`, { method: 'DELETE' });
  const r = await fetch(`${s.sandboxUrl}/__sandbox/release`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`release: ${r.status} ${await r.text()}`);
  return (await r.json()).released;
}
