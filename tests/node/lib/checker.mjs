// The audit half of issue 21's invariant checker (the publication half,
// PostgreSQL against Redis, is tests/support/tc.h): every tool call that
// was answered with a result has exactly one tool_calls row.
import { spawnSync } from 'node:child_process';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rows per request id: {rid: count}.
function rowsByRequest(dbUrl, rids) {
  if (!rids.length) return {};
  const list = rids.map((r) => `'${r.replace(/'/g, "''")}'`).join(',');
  const r = spawnSync('psql', [dbUrl, '-tAc', `select request_id, count(*) from tool_calls where request_id in (${list}) group by 1`],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => { const [k, v] = l.split('|'); return [k, Number(v)]; }));
}

// answered: calls ({rid}) the client got a result for. Waits (up to waitMs)
// for the drain, then returns those without exactly one row: [{rid, rows}].
export async function unrecorded(dbUrl, answered, waitMs = 20000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const rows = rowsByRequest(dbUrl, answered.map((r) => r.rid));
    const bad = answered.filter((r) => rows[r.rid] !== 1).map((r) => ({ rid: r.rid, rows: rows[r.rid] || 0 }));
    if (!bad.length || Date.now() > deadline) return bad;
    await sleep(200);
  }
}
