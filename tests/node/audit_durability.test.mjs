// The audit log never fails open (issue 21): a tool call is answered only
// once its record is durable, in Redis or in the worker's spool file,
// whatever Redis answers. A private Redis is made to refuse writes while it
// still serves reads, as it does when it is out of memory under noeviction
// (CONFIG SET maxmemory) and during a failover (REPLICAOF a loopback port
// nothing listens on: READONLY). Read and write tools are called meanwhile,
// the worker processes are then killed (kill -9: whatever was only in their
// memory is gone), Redis takes writes again, and every call that was
// answered with a result must have exactly one tool_calls row.
// A PostgreSQL outage keeps every record in the stream until it is drained
// (the stream is trimmed only below what the drain acknowledged); the
// longer variant (past the million entries the stream used to be capped
// at) is tests/faults/audit_outage.test.mjs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { children, freePort, mcpSession, sleep, startRedis, toolCall } from '../faults/lib.mjs';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';
import { unrecorded } from './lib/checker.mjs';

requireStack(); // a missing binary fails the suite (issue 19), it does not skip
const READ = ['get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' }];
const WRITE = ['create_a_jira_service_management_internal_note', { id: 'ITSM-994', body: 'audit durability' }];

const rcli = (port, ...args) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
const psql = (url, sql) => {
  const r = spawnSync('psql', [url, '-tAc', sql], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

async function metric(metricsUrl, name) {
  const t = await (await fetch(`${metricsUrl}/metrics`)).text();
  return t.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

async function refusedWrites(kind, spool) {
  const port = await freePort();
  const deadPort = await freePort(); // nothing listens there: a master that never answers
  const redis = await startRedis(port);
  const s = await startStack({
    workers: 1,
    server: { config: { methods: ['read', 'write'] } },
    env: {
      JSMCP_REDIS_URL: `redis://127.0.0.1:${port}/0`, JSMCP_AUDIT_DRAIN_MS: '100', JSM_SANDBOX_LATENCY_MS: '5',
      ...(spool ? {} : { JSMCP_AUDIT_SPOOL_DIR: 'off' }),
    },
  });
  let killed = false;
  try {
    const sid = await mcpSession(s.mcpUrl);
    const warm = await toolCall(s.mcpUrl, sid, ...READ, { tag: `${kind}-warm` });
    assert.equal(warm.outcome, 'ok', JSON.stringify(warm));
    if (kind === 'oom') {
      assert.equal(rcli(port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction'), 'OK');
      assert.equal(rcli(port, 'CONFIG', 'SET', 'maxmemory', '1'), 'OK');
      assert.match(rcli(port, 'SET', 'probe', 'x'), /OOM/);
    } else {
      assert.equal(rcli(port, 'REPLICAOF', '127.0.0.1', String(deadPort)), 'OK');
      assert.match(rcli(port, 'SET', 'probe', 'x'), /READONLY/);
    }
    // Calls while Redis refuses writes, reads and writes alike.
    const calls = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      toolCall(s.mcpUrl, sid, ...(i % 2 ? WRITE : READ), { tag: `${kind}-${spool ? 'spool' : 'nospool'}`, timeoutMs: 4000 })));
    const refused = await metric(s.metricsUrl, 'jsmcp_worker_audit_refused_total');
    // Without a spool, once the worker knows Redis refuses writes, a new call
    // is not started at all: an error, and nothing upstream.
    let door = null;
    if (!spool) {
      door = await toolCall(s.mcpUrl, sid, ...WRITE, { tag: `${kind}-door`, timeoutMs: 4000 });
      assert.equal(door.outcome, 'rpc_error', `a call with no durable place for its record: ${JSON.stringify(door)}`);
      assert.match(door.detail, /nothing was done/);
      assert.ok(await metric(s.metricsUrl, 'jsmcp_worker_audit_calls_refused_total') >= 1);
    }
    // Whatever the worker holds only in memory dies with it.
    for (const pid of children(s.worker.pid)) process.kill(pid, 'SIGKILL');
    killed = true;
    if (kind === 'oom') assert.equal(rcli(port, 'CONFIG', 'SET', 'maxmemory', '0'), 'OK');
    else assert.equal(rcli(port, 'REPLICAOF', 'NO', 'ONE'), 'OK');
    const answered = calls.filter((c) => c.executed);
    const bad = await unrecorded(s.env.JSMCP_DATABASE_URL, answered);
    console.log(`audit ${kind} spool=${spool}: ${JSON.stringify(calls.map((c) => c.outcome))}, refused=${refused}, unrecorded=${JSON.stringify(bad)}`);
    assert.deepEqual(bad, [], 'calls answered with a result whose audit record is not in PostgreSQL exactly once');
    assert.ok(refused > 0, 'jsmcp_worker_audit_refused_total counts the records Redis refused');
    if (spool) assert.ok(answered.length > 0, 'with a spool, calls are answered while Redis refuses writes');
  } finally {
    const codes = await stopStack(s);
    assert.equal(codes.api, 0, 'api exit status');
    if (!killed) assert.equal(codes.worker, 0, 'worker exit status');
    redis.kill('SIGKILL');
    await redis.exited;
  }
}

test('Redis out of memory (noeviction), no spool: no answer without a record in Redis', { timeout: 90000 },
  () => refusedWrites('oom', false));
test('Redis READONLY (a replica of a dead master), no spool: no answer without a record in Redis', { timeout: 90000 },
  () => refusedWrites('readonly', false));
test('Redis out of memory with the spool: answers from the spool, replayed after kill -9', { timeout: 90000 },
  () => refusedWrites('oom', true));
test('Redis READONLY with the spool: answers from the spool, replayed after kill -9', { timeout: 90000 },
  () => refusedWrites('readonly', true));

test('PostgreSQL outage: every record stays in the stream until drained, then the stream is trimmed', { timeout: 120000 }, async () => {
  const s = await startStack({ workers: 1, env: { JSMCP_AUDIT_DRAIN_MS: '100', JSM_SANDBOX_LATENCY_MS: '0' } });
  const admin = process.env.JSMCP_TEST_PG_URL;
  const db = new URL(s.env.JSMCP_DATABASE_URL).pathname.slice(1);
  const stream = `${s.env.JSMCP_REDIS_PREFIX}audit`;
  const shared = Number(new URL(process.env.JSMCP_TEST_REDIS_URL).port);
  try {
    const sid = await mcpSession(s.mcpUrl);
    psql(admin, `alter database ${db} allow_connections false`);
    psql(admin, `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db}'`);
    const calls = [];
    for (let i = 0; i < 60; i++) calls.push(await toolCall(s.mcpUrl, sid, ...READ, { tag: 'pgout' }));
    assert.ok(calls.every((c) => c.outcome === 'ok'), 'tool calls do not need PostgreSQL');
    assert.ok(Number(rcli(shared, 'XLEN', stream)) >= 60, 'the records wait in the stream');
    psql(admin, `alter database ${db} allow_connections true`);
    const bad = await unrecorded(s.env.JSMCP_DATABASE_URL, calls, 30000);
    assert.deepEqual(bad, [], 'records lost across the outage');
    let len = Infinity;
    for (let i = 0; i < 100 && len > 0; i++) { await sleep(200); len = Number(rcli(shared, 'XLEN', stream)); }
    assert.equal(len, 0, `drained entries are trimmed from the stream (XLEN ${len})`);
    const apiMetrics = await (await fetch(`${s.apiMetricsUrl}/metrics`)).text();
    assert.match(apiMetrics, /jsmcp_api_audit_backlog_age_seconds \d/, 'the API exposes the backlog age');
  } finally {
    psql(admin, `alter database ${db} allow_connections true`);
    const codes = await stopStack(s);
    assert.equal(codes.api, 0);
    assert.equal(codes.worker, 0);
  }
});
