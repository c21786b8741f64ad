// The worker's audit spool (worker/wk_spool.h): a tool call is answered as
// soon as its audit record is in the worker process's local spool file,
// before Redis has it. Here Redis takes no writes (CLIENT PAUSE WRITE: reads
// still work, so calls are served, but no XADD gets in) while calls are
// answered; then the worker process is killed with -9, or stopped with
// SIGTERM. Another worker process takes the spool file over and sends the
// records once Redis is back: every answered call ends up exactly once in
// tool_calls (the API's drain keeps one row per call_id), and no spool file
// is left afterwards. A Redis that answers writes with -OOM (or LOADING,
// READONLY...) is an outage too: its records are sent again, not dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { children, freePort, mcpSession, startRedis, toolCall } from '../faults/lib.mjs';
import {
  holdSandbox, metricSum, releaseSandbox, requireStack, sandboxHeld, startProc, startStack, stopProc, stopStack,
  waitFor,
} from './lib/mcp_stack.mjs';

requireStack();
const TOOL = 'get_single_jira_service_management_issue_by_id';
const ARGS = { id: 'ITSM-994' };
const CALLS = 6;

// Every spool file under dir (dir/<destination>/audit-*.spool) with its content.
function spoolFiles(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const sub of readdirSync(dir)) {
    for (const f of readdirSync(path.join(dir, sub))) {
      const p = path.join(dir, sub, f);
      out.push({ path: p, text: readFileSync(p, 'latin1') });
    }
  }
  return out;
}

function sql(s, q) {
  const r = spawnSync('psql', [s.env.JSMCP_DATABASE_URL, '-tAc', q], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function redisCli(port, ...args) {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// Calls in flight when Redis stops taking writes: the sandbox holds them
// until all CALLS are there (so they did their Redis writes before the
// pause), Redis is paused, then they are let go: each is answered, its XADD
// waits.
async function callsWhilePaused(s, port, tag) {
  const sid = await mcpSession(s.mcpUrl);
  const warm = await toolCall(s.mcpUrl, sid, TOOL, ARGS, { tag: `${tag}-warm` });
  assert.equal(warm.outcome, 'ok', warm.detail);
  await holdSandbox(s, `/rest/api/3/issue/${ARGS.id}`);
  const calls = Array.from({ length: CALLS }, () => toolCall(s.mcpUrl, sid, TOOL, ARGS, { tag, timeoutMs: 120000 }));
  await waitFor(async () => (await sandboxHeld(s)) === CALLS, `all ${CALLS} calls to reach the JSM site`);
  assert.equal(redisCli(port, 'CLIENT', 'PAUSE', '60000', 'WRITE'), 'OK');
  assert.equal(await releaseSandbox(s), CALLS);
  const results = await Promise.all(calls);
  for (const r of results) assert.equal(r.outcome, 'ok', `answered while Redis takes no writes: ${r.detail}`);
  return { warm, results };
}

// Waits until every rid has its row; then checks there is exactly one each.
async function assertExactlyOnce(s, rids) {
  const list = rids.map((r) => `'${r}'`).join(',');
  let n = 0;
  await waitFor(() => {
    n = Number(sql(s, `select count(distinct request_id) from tool_calls where request_id in (${list})`));
    return n >= rids.length;
  }, 'every answered call in tool_calls', 60000).catch(() => {});
  assert.equal(n, rids.length, 'every answered call has its audit record');
  assert.equal(Number(sql(s, `select count(*) from tool_calls where request_id in (${list})`)), rids.length,
    'no record twice');
  assert.equal(sql(s, 'select count(*) = count(distinct call_id) and count(call_id) = count(*) from tool_calls'), 't',
    'every row has its own call_id');
}

// waitFor of lib/mcp_stack.mjs, as a boolean for an assertion of its own.
const eventually = (fn, what) => waitFor(fn, what).then(() => true, () => false);

// Runs body(t) on a stack with one worker process, a private Redis and its
// own spool directory (t: {s, port, spool, killed}); then stops everything
// (even after a failed assertion) and checks the exit statuses and that a
// clean stop left no spool file.
async function withStack(body) {
  const t = { port: await freePort(), spool: mkdtempSync(path.join(tmpdir(), 'jsmcp-spool-')), killed: false };
  const redis = await startRedis(t.port);
  let failure = null;
  try {
    t.s = await startStack({
      workers: 1,
      env: { JSMCP_REDIS_URL: `redis://127.0.0.1:${t.port}/0`, JSMCP_AUDIT_SPOOL_DIR: t.spool,
        JSMCP_AUDIT_DRAIN_MS: '100' },
    });
    await body(t);
  } catch (e) {
    failure = e;
  }
  spawnSync('redis-cli', ['-p', String(t.port), 'CLIENT', 'UNPAUSE']);
  if (t.s) await releaseSandbox(t.s).catch(() => {});
  let got = null;
  let left = [];
  try {
    if (t.s) got = await stopStack(t.s);
    left = spoolFiles(t.spool).map((f) => f.path);
  } finally {
    rmSync(t.spool, { recursive: true, force: true });
    redis.kill('SIGTERM');
    await redis.exited;
  }
  if (failure) throw failure; // the first error, not one it caused
  // The master reports a child that died uncleanly in its own exit status.
  if (got) assert.deepEqual(got, { worker: t.killed ? 1 : 0, api: 0, sandbox: 0 }, 'exit statuses');
  assert.deepEqual(left, [], 'no spool file left after a clean stop');
}

test('kill -9 of a worker while Redis takes no writes: the next process replays its spool, each record once',
  { timeout: 180000 }, () => withStack(async (t) => {
    const { s, port, spool } = t;
    const { warm, results } = await callsWhilePaused(s, port, 'spool-kill');
    const rids = results.map((r) => r.rid);
    // On disk before Redis has them, and not in PostgreSQL yet.
    const text = spoolFiles(spool).map((f) => f.text).join('');
    for (const rid of rids) assert.ok(text.includes(rid), `${rid} is in the spool`);
    assert.equal(sql(s, `select count(*) from tool_calls where request_id like 'spool-kill-%' and request_id <> '${warm.rid}'`), '0');
    const [pid] = children(s.worker.pid);
    process.kill(pid, 'SIGKILL');
    t.killed = true;
    assert.ok(await eventually(() => { const c = children(s.worker.pid); return c.length === 1 && c[0] !== pid; },
      'the master to restart the worker'), 'the master restarted the worker');
    assert.equal(redisCli(port, 'CLIENT', 'UNPAUSE'), 'OK');
    await assertExactlyOnce(s, [warm.rid, ...rids]);
    // The log reaches its file through a pipe: wait for the line rather than read once.
    assert.ok(await waitFor(() => /replaying audit records/.test(readFileSync(s.worker.logPath, 'utf8'))),
      'the new process replayed the file');
    // The dead process's file goes once Redis has its records; the live
    // process keeps one (empty of unacknowledged records).
    assert.ok(await eventually(() => spoolFiles(spool).length === 1, 'one spool file left'),
      `files: ${spoolFiles(spool).map((f) => f.path)}`);
  }));

test('SIGTERM while Redis takes no writes: the records stay in the spool for the next worker, none dropped',
  { timeout: 180000 }, () => withStack(async (t) => {
    const { s, port, spool } = t;
    const { warm, results } = await callsWhilePaused(s, port, 'spool-term');
    const rids = results.map((r) => r.rid);
    // The drain gives up on Redis after its bounded wait: a clean exit.
    const log = s.worker.logPath;
    assert.equal(await stopProc(s.worker), 0, 'worker exit status');
    assert.match(readFileSync(log, 'utf8'), /stay in the spool/);
    const text = spoolFiles(spool).map((f) => f.text).join('');
    for (const rid of rids) assert.ok(text.includes(rid), `${rid} stayed in the spool`);
    assert.equal(redisCli(port, 'CLIENT', 'UNPAUSE'), 'OK');
    s.worker = await startProc('worker_spool2', 'jsmcp-worker', [], s.env, s.workerUrl);
    await assertExactlyOnce(s, [warm.rid, ...rids]);
    assert.ok(await eventually(() => spoolFiles(spool).length === 1, 'one spool file left'),
      `files: ${spoolFiles(spool).map((f) => f.path)}`);
  }));

test('Redis refusing writes (OOM) is an outage, not a bad record: the records are sent again once it takes them',
  { timeout: 180000 }, () => withStack(async (t) => {
    const { s, port } = t;
    const sid = await mcpSession(s.mcpUrl);
    // noeviction (the default) with a limit below what Redis uses: every
    // write that may grow memory gets "-OOM ...", reads still work.
    assert.equal(redisCli(port, 'CONFIG', 'SET', 'maxmemory', '1'), 'OK');
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await toolCall(s.mcpUrl, sid, TOOL, ARGS, { tag: 'spool-oom' }));
    for (const r of results) assert.equal(r.outcome, 'ok', `answered while Redis refuses writes: ${r.detail}`);
    // The records are refused and kept for another try (/metrics is
    // published once a second: waited for, not slept on).
    const retried = await eventually(async () => (await metricSum(s.metricsUrl, 'jsmcp_worker_audit_retried_total')) >= results.length,
      'the refused records to be retried');
    assert.ok(retried, `records were refused and kept for another try (${await metricSum(s.metricsUrl, 'jsmcp_worker_audit_retried_total')})`);
    assert.equal(redisCli(port, 'CONFIG', 'SET', 'maxmemory', '0'), 'OK');
    await assertExactlyOnce(s, results.map((r) => r.rid));
    assert.doesNotMatch(readFileSync(s.worker.logPath, 'utf8'), /Redis refused an audit record/);
  }));
