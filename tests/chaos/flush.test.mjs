// Chaos 2: Redis FLUSHALL (mode=flush) or a restart without persistence
// (mode=restart) while 4 clients make tool calls. Reports what the worker
// answers in between, how long until every server, account and API key
// record is back (the invariant checker, pub_check), whether calls recover
// without a restart of anything, and which answered calls have no audit row.
//   CHAOS_MODE=flush|restart node --test tests/chaos/flush.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  drive, freePort, lostAudit, mcpSession, startRedis, tally, toolCall, until,
} from '../faults/lib.mjs';
import { api, metricSum, startProc, startStack, stopStack } from '../node/lib/mcp_stack.mjs';

const MODE = process.env.CHAOS_MODE || 'flush';
const TOOL = 'get_single_jira_service_management_issue_by_id';
const ARGS = { id: 'ITSM-994' };

function pubCheck(s) {
  const r = spawnSync(path.join(process.env.JSMCP_BIN_DIR, 'bench/pub_check'), [], {
    env: { ...process.env, ...s.env, JSMCP_TEST_REDIS_URL: s.env.JSMCP_REDIS_URL }, encoding: 'utf8',
  });
  return { ok: r.status === 0, out: (r.stdout + r.stderr).slice(0, 2000) };
}

test(`Redis ${MODE} under load`, { timeout: 120000 }, async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const s = await startStack({
    workers: 2,
    env: { JSMCP_REDIS_URL: `redis://127.0.0.1:${port}/0`, JSMCP_AUDIT_DRAIN_MS: '100', JSM_SANDBOX_LATENCY_MS: '10' },
  });
  // An API key and a server that requires it: the wskey: record must come back too.
  const k2 = await api(s, s.env.JSMCP_BOOTSTRAP_KEY, 'POST', `/workspaces/${s.workspaceId}/api-keys`, { name: 'second' });
  assert.equal(k2.status, 201);
  let stop = false;
  const sids = [];
  try {
    for (let i = 0; i < 4; i++) sids[i] = await mcpSession(s.mcpUrl);
    const run = drive(4, async (i) => {
      let r = await toolCall(s.mcpUrl, sids[i], TOOL, ARGS, { tag: 'flush' });
      if (r.outcome === 'http_404' && /[Ss]ession/.test(r.detail)) {
        r.reinit = true;
        try { sids[i] = await mcpSession(s.mcpUrl); } catch (e) { r.detail += ` | reinit: ${e.message}`; }
      }
      return r;
    }, () => stop);
    await until(() => run.results.filter((r) => r.outcome === 'ok').length >= 20, 'calls before');
    const mark = run.now();
    if (MODE === 'pgbacklog') {
      // PostgreSQL stopped while calls go on (a backlog in the stream), then
      // started and restarted (fast) while the drain copies the backlog.
      const tmp = process.env.JSMCP_TEST_TMP;
      const ctl = (...a) => spawnSync('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', `${tmp}/pg`, '-l', `${tmp}/pg.log`, ...a], { stdio: 'ignore' });
      assert.equal(ctl('-m', 'fast', '-w', 'stop').status, 0);
      const before = run.results.length;
      await until(() => run.results.length >= before + 300, 'calls while PostgreSQL is down');
      const opts = `-p ${process.env.JSMCP_TEST_PG_PORT} -k ${tmp}/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
      assert.equal(ctl('-w', '-o', opts, 'start').status, 0);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(ctl('-m', 'fast', '-w', 'restart').status, 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(ctl('-m', 'immediate', '-w', 'restart').status, 0);
    } else if (MODE === 'killapi') {
      // The API (the audit drain, the usage fold) killed -9 at random
      // moments five times and restarted, while calls go on.
      for (let i = 0; i < 5; i++) {
        const before = run.results.length;
        await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 700)));
        s.api.kill('SIGKILL');
        await s.api.exited;
        s.api = await startProc('api', 'jsmcp-api', [], s.env, s.apiUrl);
        await until(() => run.results.length >= before + 20, 'calls between kills');
      }
    } else if (MODE === 'pg') {
      // PostgreSQL restarted (fast: sessions killed, 57P01) three times while
      // calls go on; the drain must neither lose nor double a record.
      const tmp = process.env.JSMCP_TEST_TMP;
      for (let i = 0; i < 3; i++) {
        const before = run.results.length;
        const args = ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', `${tmp}/pg`, '-l', `${tmp}/pg.log`, '-m', 'fast', '-w', 'restart'];
        const r = spawnSync('runuser', args, { stdio: 'ignore' });
        assert.equal(r.status, 0, 'pg_ctl restart');
        await until(() => run.results.length >= before + 30, 'calls between restarts');
      }
    } else if (MODE === 'flush') {
      spawnSync('redis-cli', ['-p', String(port), 'flushall']);
    } else {
      spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
      await redis.exited;
      spawnSync('rm', ['-f', path.join(redis.dir, 'appendonly.aof'), path.join(redis.dir, 'dump.rdb')]);
      spawnSync('rm', ['-rf', path.join(redis.dir, 'appendonlydir')]);
      redis = await startRedis(port, redis.dir);
    }
    const t0 = Date.now();
    await until(() => pubCheck(s).ok, 'every record back (pub_check)', 60000);
    const restoredMs = Date.now() - t0;
    const back = run.now();
    await until(() => run.results.filter((r) => r.s > back && r.outcome === 'ok').length >= 40, 'calls after', 60000);
    stop = true;
    const results = await run;
    const between = results.filter((r) => r.s >= mark && r.s <= back);
    const after = results.filter((r) => r.s > back + 3000);
    const lost = await lostAudit(s.env.JSMCP_DATABASE_URL, results);
    const byDetail = {};
    for (const r of between.filter((x) => x.outcome !== 'ok')) {
      const k = `${r.outcome} ${String(r.detail).slice(0, 120)}`;
      byDetail[k] = (byDetail[k] || 0) + 1;
    }
    console.log(`chaos ${MODE}: ${JSON.stringify({ all: tally(results), restored_ms: restoredMs, between: tally(between).by, between_detail: byDetail, after: tally(after).by, lost: lost.length, lost_sample: lost.slice(0, 5) })}`);
    const refused = await metricSum(s.apiMetricsUrl, 'jsmcp_api_audit_errors_total').catch(() => 'n/a');
    console.log('api audit errors', refused);
    assert.ok(after.every((r) => r.outcome === 'ok'), `after: ${JSON.stringify(tally(after))}`);
    const q = (sql) => spawnSync('psql', [s.env.JSMCP_DATABASE_URL, '-XtAc', sql], { encoding: 'utf8' }).stdout.trim();
    await until(() => q('select count(*) from tool_calls') === q('select coalesce(sum(calls),0) from usage_all'), 'usage equal to rows', 20000).catch(() => {});
    const dups = q("select count(*) from (select request_id from tool_calls group by 1 having count(*) > 1) d");
    console.log('rows', q('select count(*) from tool_calls'), 'usage calls', q('select coalesce(sum(calls),0) from usage_all'), 'dup request ids', dups,
      'pending entries', spawnSync('redis-cli', ['-p', String(port), 'xpending', `${s.env.JSMCP_REDIS_PREFIX}audit`, 'jsmcp-api'], { encoding: 'utf8' }).stdout.replace(/\n/g, ' '));
    assert.equal(dups, '0', 'no record doubled');
    assert.equal(q('select count(*) from tool_calls'), q('select coalesce(sum(calls),0) from usage_all'), 'usage counts each row once');
    assert.deepEqual(lost, [], 'no answered call without its audit row');
  } finally {
    stop = true;
    await stopStack(s);
    redis.kill('SIGTERM');
    await redis.exited;
  }
});
