// deploy/grafana/jsmcp.json (issue 26): a dashboard Grafana can import
// (a Prometheus datasource variable, unique panel ids, panels inside the
// 24-column grid and not overlapping), whose every query names only
// metrics the binaries export: a renamed or removed metric fails here
// instead of leaving an empty panel.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dash = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/jsmcp.json'), 'utf8'));

function exported() {
  const names = new Set();
  for (const dir of ['api', 'worker', 'common']) {
    for (const f of readdirSync(path.join(ROOT, dir))) {
      if (!f.endsWith('.c')) continue;
      for (const m of readFileSync(path.join(ROOT, dir, f), 'utf8').matchAll(/"(jsmcp_[a-z_]+)"/g)) names.add(m[1]);
    }
  }
  return names;
}

test('the dashboard is importable and laid out on the grid', () => {
  assert.equal(dash.uid, 'jsmcp-overview');
  assert.ok(dash.templating.list.some((v) => v.type === 'datasource' && v.name === 'datasource' && v.query === 'prometheus'));
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const cells = new Set();
  for (const p of dash.panels) {
    const g = p.gridPos;
    assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title}: outside the grid`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    if (p.type !== 'row') assert.equal(p.datasource.uid, '${datasource}', `${p.title}: the datasource variable`);
  }
});

test('every query names metrics the binaries export', () => {
  const names = exported();
  assert.ok(names.has('jsmcp_api_requests_total') && names.has('jsmcp_worker_tool_calls_total'), 'the source scan works');
  let n = 0;
  for (const p of dash.panels) {
    for (const t of p.targets || []) {
      const used = [...t.expr.matchAll(/\b(jsmcp_[a-z_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''));
      assert.ok(used.length > 0, `${p.title}: a query without a jsmcp metric`);
      for (const u of used) {
        assert.ok(names.has(u), `${p.title}: ${u} is not exported by api/, worker/ or common/`);
        n++;
      }
    }
  }
  assert.ok(n >= 30, `${n} metric references`);
});
