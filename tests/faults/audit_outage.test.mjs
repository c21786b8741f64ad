// make faults: a PostgreSQL outage longer than the audit stream used to
// hold (issue 21). Workers added their records with XADD MAXLEN ~ 1000000,
// so once a million records waited for the drain, older ones were trimmed
// before the API had copied them to PostgreSQL, silently. Now the stream
// is trimmed only below what the drain acknowledged (XTRIM MINID).
//   1. PostgreSQL refuses the API's connections (ALLOW_CONNECTIONS false).
//   2. Tagged tool calls: their records wait in the stream.
//   3. AUDIT_OUTAGE_SYNTHETIC (default 1,000,100) valid records are added
//      to the stream in Redis itself (Lua, in chunks): the backlog of a long
//      outage at a high call rate.
//   4. More tagged tool calls (a capped XADD would trim the oldest now).
//   5. PostgreSQL is back: every tagged call must be in tool_calls, once.
// Takes a few minutes (the drain inserts every synthetic record too).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mcpSession, sleep, toolCall } from './lib.mjs';
import { requireStack, startStack, stopStack } from '../node/lib/mcp_stack.mjs';

requireStack(); // a missing binary fails the suite (issue 19), it does not skip
const N = Number(process.env.AUDIT_OUTAGE_SYNTHETIC || 1000100);
const READ = ['get_single_jira_service_management_issue_by_id', { id: 'ITSM-994' }];
const psql = (url, sql) => {
  const r = spawnSync('psql', [url, '-tAc', sql], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};
const rcli = (...args) => spawnSync('redis-cli', ['-u', process.env.JSMCP_TEST_REDIS_URL, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout.trim();

const FILL = `local n = tonumber(ARGV[1]); local base = tonumber(ARGV[2])
for i = 1, n do
  redis.call('XADD', KEYS[1], '*', 'ts_ms', ARGV[3], 'workspace_id', ARGV[4], 'account_id', ARGV[5],
    'server_id', ARGV[6], 'tool', 'synthetic_outage_record', 'call_id', string.format('%016x%016x', 4207849484, base + i))
end
return n`;

test(`PostgreSQL outage with ${N} records waiting: nothing lost`, { timeout: 1800000 }, async () => {
  const s = await startStack({ workers: 1, env: { JSMCP_AUDIT_DRAIN_MS: '100', JSM_SANDBOX_LATENCY_MS: '0' } });
  const admin = process.env.JSMCP_TEST_PG_URL;
  const db = new URL(s.env.JSMCP_DATABASE_URL).pathname.slice(1);
  const stream = `${s.env.JSMCP_REDIS_PREFIX}audit`;
  const t0 = Date.now();
  try {
    const sid = await mcpSession(s.mcpUrl);
    psql(admin, `alter database ${db} allow_connections false`);
    psql(admin, `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db}'`);
    const calls = [];
    for (let i = 0; i < 50; i++) calls.push(await toolCall(s.mcpUrl, sid, ...READ, { tag: 'outage-early' }));
    for (let done = 0; done < N;) {
      const n = Math.min(100000, N - done);
      assert.equal(rcli('EVAL', FILL, '1', stream, String(n), String(done), String(Date.now()), s.workspaceId, s.accountId, s.serverId), String(n));
      done += n;
    }
    for (let i = 0; i < 50; i++) calls.push(await toolCall(s.mcpUrl, sid, ...READ, { tag: 'outage-late' }));
    assert.ok(calls.every((c) => c.outcome === 'ok'), 'tool calls do not need PostgreSQL');
    const xlen = Number(rcli('XLEN', stream));
    psql(admin, `alter database ${db} allow_connections true`);
    const want = calls.map((c) => `'${c.rid}'`).join(',');
    let got = 0;
    const lateIds = calls.filter((c) => c.rid.startsWith('outage-late')).map((c) => `'${c.rid}'`).join(',');
    for (let i = 0; i < 3000; i++) { // up to 10 minutes for the drain
      if (Number(psql(s.env.JSMCP_DATABASE_URL, `select count(*) from tool_calls where request_id in (${lateIds})`)) === 50) break;
      await sleep(200);
    }
    got = Number(psql(s.env.JSMCP_DATABASE_URL, `select count(distinct request_id) from tool_calls where request_id in (${want})`));
    const rows = Number(psql(s.env.JSMCP_DATABASE_URL, 'select count(*) from tool_calls'));
    console.log(`faults: audit outage: ${JSON.stringify({ synthetic: N, stream_length_before: xlen, tagged: calls.length, tagged_in_postgres: got, rows, seconds: Math.round((Date.now() - t0) / 1000) })}`);
    assert.equal(got, calls.length, `tagged calls lost: ${calls.length - got}`);
  } finally {
    psql(admin, `alter database ${db} allow_connections true`);
    await stopStack(s);
  }
});
