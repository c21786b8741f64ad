// make load (issue 9): LOAD_CLIENTS (64) concurrent MCP clients for
// LOAD_SECONDS (60) through two worker pools (two jsmcp-worker masters on
// two ports, like two pods behind a load balancer: each client's calls
// alternate between them, so one MCP session is served by both), against
// the sandbox with JSM-like latency (LOAD_UPSTREAM_MS, 20 ms). Meanwhile
// LOAD_SLOW (40) slowloris clients trickle headers and LOAD_SLOW_BODY (20)
// trickle a body; the workers must cut them off (header timeout 10 s, body
// timeout 30 s) without a single error for the real clients. Prints sent,
// failed (by outcome), lost audit records, calls/s and latency percentiles;
// exits 1 unless failed == 0, lost == 0 and every slow client was cut off.
// Run through bench/load.sh (it starts PostgreSQL and Redis).
import net from 'node:net';
import {
  drive, freePort, keepAliveAgent, lostAudit, mcpSession, sleep, tally, toolCall,
} from '../tests/faults/lib.mjs';
import { startProc, startStack, stopProc, stopStack } from '../tests/node/lib/mcp_stack.mjs';

const CLIENTS = Number(process.env.LOAD_CLIENTS || 64);
const SECONDS = Number(process.env.LOAD_SECONDS || 60);
const SLOW = Number(process.env.LOAD_SLOW || 40);
const SLOW_BODY = Number(process.env.LOAD_SLOW_BODY || 20);
const TOOL = 'get_single_jira_service_management_issue_by_id';

function slowClient(port, body, t0) {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  let timer;
  if (body) {
    c.write('POST /mcp/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
    timer = setInterval(() => c.write(' '), 1000); // a byte a second: never done within the body timeout
  } else {
    c.write('POST /mcp/x HTTP/1.1\r\nHost: a\r\n');
    timer = setInterval(() => c.write('X'), 1000);
  }
  return { sock: c, closed: new Promise((r) => c.on('close', () => { clearInterval(timer); r(Date.now() - t0); })) };
}

const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];

const s = await startStack({
  workers: 1,
  env: { JSMCP_WORKERS: '1', JSM_SANDBOX_LATENCY_MS: String(process.env.LOAD_UPSTREAM_MS ?? 20), JSM_SANDBOX_RATE_LIMIT: '0', JSMCP_LOG_LEVEL: 'warn' },
});
let rc = 1;
let worker2;
try {
  const port2 = await freePort();
  const url2 = `http://127.0.0.1:${port2}`;
  worker2 = await startProc('worker2', 'jsmcp-worker', [], { ...s.env, JSMCP_WORKER_LISTEN: `127.0.0.1:${port2}` }, url2);
  const mcp = [s.mcpUrl, s.mcpUrl.replace(s.workerUrl, url2)];
  const ports = [Number(new URL(s.workerUrl).port), port2];
  const t0 = Date.now();
  const slow = [];
  for (let i = 0; i < SLOW; i++) slow.push(slowClient(ports[i % 2], false, t0));
  for (let i = 0; i < SLOW_BODY; i++) slow.push(slowClient(ports[i % 2], true, t0));
  // One session per client, initialized on one pool and used on both.
  const sids = [];
  for (let i = 0; i < CLIENTS; i++) sids.push(await mcpSession(mcp[i % 2]));
  const n = new Array(CLIENTS).fill(0);
  const end = Date.now() + SECONDS * 1000;
  const results = await drive(CLIENTS, (i) => toolCall(mcp[n[i]++ % 2], sids[i], TOOL, { id: `ITSM-${1 + ((i * 7 + n[i]) % 900)}` },
    { tag: 'load', via: keepAliveAgent }), () => Date.now() >= end);
  const wall = (Date.now() - t0) / 1000;
  const cut = await Promise.race([Promise.all(slow.map((x) => x.closed)), sleep(5000).then(() => null)]);
  for (const x of slow) x.sock.destroy();
  const t = tally(results);
  const lost = await lostAudit(s.env.JSMCP_DATABASE_URL, results, 60000);
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const failures = results.filter((r) => r.outcome !== 'ok').slice(0, 5).map((r) => `${r.outcome} ${r.detail}`);
  console.log(`load: ${JSON.stringify({
    clients: CLIENTS, seconds: SECONDS, sent: t.sent, failed: t.failed, by: t.by, lost: lost.length,
    calls_per_s: Math.round(t.sent / SECONDS), p50_ms: pct(ms, 0.5), p99_ms: pct(ms, 0.99), max_ms: ms.at(-1),
    slow_clients: slow.length, slow_cut: cut ? slow.length : 'not all', slow_cut_ms: cut && [Math.min(...cut), Math.max(...cut)], wall_s: wall,
  })}`);
  if (failures.length) console.log(`load: first failures: ${failures.join(' | ')}`);
  rc = t.failed === 0 && lost.length === 0 && cut ? 0 : 1;
} finally {
  const w2 = await stopProc(worker2);
  const codes = await stopStack(s);
  console.log(`load: exit statuses ${JSON.stringify({ ...codes, worker2: w2 })}`);
  if (w2 !== 0 || Object.values(codes).some((c) => c !== 0)) rc = 1;
}
process.exit(rc);
