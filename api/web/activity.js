// Tool-call activity: charts over a time window (GET /calls/series) and the
// call listing, for one MCP server (its audit log, GET .../mcp/:mcp_id/calls)
// and for the whole workspace (GET /calls with filters), with exports of the
// calls as CSV or ndjson (GET /calls with Accept: text/csv | application/x-ndjson).
import { call, download, q } from './api.js';
import { callCharts } from './chart.js';
import { announce, choices, field, formError, h, when } from './ui.js';
import { enc, failed, heading, main, onSubmit, pager } from './page.js';

const WINDOWS = [['3600000', 'last hour'], ['86400000', 'last 24 hours', true], ['604800000', 'last 7 days']];
// Intervals per chart: the window's length / 24 is the series' step.
const CHART_BUCKETS = 24;
// The search's outcome filter (GET /calls?outcome=); the upstream status
// (2xx .. 5xx, none, or a code) is a filter of its own.
const OUTCOMES = [['', 'any'], ['ok', 'succeeded'], ['tool_error', 'tool error'], ['rate_limited', 'rate-limited'],
  ['cancelled', 'cancelled'], ['declined', 'declined']];

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const CALL_HEADERS = ['Time', 'Tool', 'Upstream status', 'Latency', 'Rate limit left', 'Error', 'Request id'];
function callCells(c) {
  return [when(c.ts), h('code', {}, c.tool), String(c.upstream_status ?? '—'),
    c.latency_ms != null ? `${Number(c.latency_ms).toFixed(1)} ms` : '—',
    c.ratelimit?.remaining != null ? String(c.ratelimit.remaining) : '—',
    c.error_class || '—', h('code', {}, c.request_id || '—')];
}

function windowSelect() {
  return h('select', { name: 'window' }, WINDOWS.map(([v, t, sel]) => h('option', { value: v, selected: sel || null }, t)));
}

// Draws the charts of the window into box from the series PostgreSQL
// computes (GET /calls/series with the filters, every call of the window
// counted, however many).
async function drawCharts(box, prefix, filters, windowMs) {
  const to = Date.now();
  const from = to - windowMs;
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading the charts…'));
  let series;
  try {
    series = await call('GET', `/calls/series${q({ ...filters, since: iso(from), until: iso(to),
      step: Math.ceil(windowMs / 1000 / CHART_BUCKETS) })}`);
  } catch (e) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No charts: the calls could not be read.'));
    throw e;
  }
  const n = series.buckets.reduce((a, x) => a + x.calls, 0);
  box.replaceChildren(
    h('p', { class: 'muted', dataset: { calls: String(n) } }, `${n} call${n === 1 ? '' : 's'} in the window.`),
    callCharts(prefix, series));
}

// Export buttons: the calls that filters() selects, as a file.
function exportButtons(filters) {
  const go = (accept, ext) => async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    try {
      await download(`/calls${q(filters())}`, accept, `calls-${iso(Date.now()).replace(/[:]/g, '')}.${ext}`);
      announce(`Export (${ext}) saved.`);
    } catch (e) {
      failed(e);
    } finally {
      btn.disabled = false;
    }
  };
  return h('div', { class: 'row', role: 'group', 'aria-label': 'Export calls' },
    h('span', { class: 'muted' }, 'Export calls:'),
    h('button', { type: 'button', class: 'secondary', onclick: go('text/csv', 'csv') }, 'Export CSV'),
    h('button', { type: 'button', class: 'secondary', onclick: go('application/x-ndjson', 'ndjson') }, 'Export ndjson'));
}

// #/accounts/<id>/servers/<sid>/calls: one server's charts and calls.
export async function serverActivity(id, sid) {
  const s = await call('GET', `/integrated-account/${id}/mcp/${sid}`).catch((e) => {
    if (e.status === 404) return { name: 'a deleted server' }; // the audit log outlives the server
    throw e;
  });
  heading(`Recent tool calls of ${s.name}`);
  const win = windowSelect();
  const charts = h('div', { 'aria-live': 'polite' });
  const box = h('div', {});
  const base = `/integrated-account/${id}/mcp/${sid}/calls`;
  const list = pager(box, {
    path: (cursor) => `${base}${q({ next_cursor: cursor, limit: 50 })}`,
    caption: 'Recent tool calls', headers: CALL_HEADERS, row: callCells, more: 'Show older',
    empty: 'No tool calls recorded yet (they appear a few seconds after they happen).',
  });
  const redraw = () => drawCharts(charts, 'server', { account_id: id, server_id: sid }, Number(win.value));
  win.addEventListener('change', () => redraw().catch(failed));
  main.append(h('p', { class: 'row' }, h('a', { href: `#/accounts/${id}` }, '← MCP servers'),
    h('button', { type: 'button', class: 'secondary', onclick: () => Promise.all([list.reload(), redraw()]).then(() => announce('Calls refreshed.'), failed) }, 'Refresh')),
  h('h2', {}, 'Charts'), field('Time window', 'window', win), charts,
  h('h2', {}, 'Calls'), exportButtons(() => ({ server_id: sid, since: iso(Date.now() - Number(win.value)) })), box);
  await Promise.all([list.reload(), redraw()]);
}

// #/activity: the workspace's calls, searched, charted and exported.
export async function activity() {
  heading('Activity');
  const win = windowSelect();
  const account = h('input', { type: 'text', name: 'account_id', autocomplete: 'off', placeholder: 'any' });
  const server = h('input', { type: 'text', name: 'server_id', autocomplete: 'off', placeholder: 'any' });
  const tool = h('input', { type: 'text', name: 'tool', autocomplete: 'off', placeholder: 'any' });
  const status = h('input', { type: 'text', name: 'upstream_status', autocomplete: 'off', placeholder: 'any' });
  const form = h('form', { 'aria-label': 'Filter calls' },
    field('Time window', 'since', win),
    field('Account id', 'account_id', account), field('Server id', 'server_id', server), field('Tool', 'tool', tool),
    choices('Outcome', 'outcome', 'radio', 'outcome', OUTCOMES.map(([v, t], i) => [v, t, i === 0])),
    field('Upstream status', 'upstream_status', status, '2xx, 3xx, 4xx, 5xx, a code such as 404, or none (no answer from JSM).'),
    formError(), h('button', { type: 'submit' }, 'Apply filters'));
  const charts = h('div', { 'aria-live': 'polite' });
  const box = h('div', {});
  const filters = () => ({ account_id: account.value.trim(), server_id: server.value.trim(), tool: tool.value.trim(),
    outcome: form.querySelector('input[name=outcome]:checked')?.value, upstream_status: status.value.trim(),
    since: iso(Date.now() - Number(win.value)) });
  const list = pager(box, {
    path: (cursor) => `/calls${q({ ...filters(), next_cursor: cursor, limit: 100 })}`,
    caption: 'Tool calls', headers: ['Server', ...CALL_HEADERS], more: 'Show older',
    row: (c) => [c.server_id ? h('a', { href: `#/accounts/${enc(c.account_id)}/servers/${enc(c.server_id)}/calls` }, c.server_name || c.server_id.slice(0, 8)) : '—', ...callCells(c)],
    empty: 'No tool calls match these filters in this window.',
  });
  const redraw = () => {
    const f = { ...filters(), since: undefined }; // the series has its own window
    return drawCharts(charts, 'workspace', f, Number(win.value));
  };
  main.append(form, h('h2', {}, 'Charts'), charts, h('h2', {}, 'Calls'), exportButtons(filters), box);
  onSubmit(form, () => Promise.all([list.reload(), redraw()]));
  await Promise.all([list.reload(), redraw()]);
}
