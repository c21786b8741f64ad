// #/usage: the per-day usage rollup (GET /usage?from=&to=&group_by=),
// summed per account, server or tool over the chosen days: what an
// operator bills from. The columns follow what the API returns, figures
// it names in a known way first.
import { ApiError, call, q } from './api.js';
import { choices, field, formError, h, table } from './ui.js';
import { heading, main, onSubmit } from './page.js';

const GROUPS = [['account', 'account', true], ['server', 'server'], ['tool', 'tool']];
// Known columns in their order, with their headings; any other field the
// rows have follows them.
const KNOWN = [
  ['day', 'Day'], ['account_id', 'Account id'], ['tenant_id', 'Tenant ID'], ['server_id', 'Server id'],
  ['server_name', 'Server'], ['name', 'Name'], ['tool', 'Tool'], ['calls', 'Calls'], ['errors', 'Errors'],
  ['rate_limited', 'Rate-limited'], ['upstream_ms', 'Upstream time (ms)'], ['bytes_to_model', 'Bytes to the model'],
];
const day = (d) => d.toISOString().slice(0, 10);

function columns(rows) {
  const keys = new Set(rows.flatMap((r) => Object.keys(r)));
  const cols = KNOWN.filter(([k]) => keys.has(k));
  for (const k of keys) if (!KNOWN.some(([x]) => x === k)) cols.push([k, k]);
  return cols;
}

function cell(v) {
  if (v == null) return '—';
  if (typeof v === 'number') return v.toLocaleString('en-US');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// The group a row belongs to (the API names it by id, or the tool).
const groupOf = (r, group) => String(group === 'tool' ? r.tool : r[`${group}_id`] ?? r.tool ?? '?');

function render(box, r, group) {
  const rows = Array.isArray(r) ? r : (r.result || []);
  if (!rows.length) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No usage in these days.'));
    return;
  }
  const cols = columns(rows);
  const numeric = cols.filter(([k]) => rows.every((x) => x[k] == null || typeof x[k] === 'number')).map(([k]) => k);
  const total = Object.fromEntries(numeric.map((k) => [k, rows.reduce((a, x) => a + (x[k] || 0), 0)]));
  // Calls per group (summed over days) as horizontal bars, top 20.
  const per = new Map();
  for (const x of rows) per.set(groupOf(x, group), (per.get(groupOf(x, group)) || 0) + (x.calls || 0));
  const top = [...per].sort((a, b) => b[1] - a[1]).slice(0, 20);
  const max = Math.max(1, ...top.map(([, n]) => n));
  const bars = h('figure', { class: 'hbars', id: 'usage-bars' },
    h('figcaption', {}, `Calls by ${group} (top ${top.length})`),
    h('ol', {}, top.map(([g, n]) => h('li', {}, h('span', { class: 'hb-label' }, g),
      h('meter', { min: '0', max: String(max), value: String(n), 'aria-label': `${g}: ${n} calls` }),
      h('span', { class: 'hb-value' }, cell(n))))));
  box.replaceChildren(
    r.truncated ? h('p', { class: 'panel' }, 'More rows than the API returns at once: narrow the days or group more coarsely.') : '',
    bars,
    table(`Usage by ${group}`, cols.map(([, t]) => t),
      [...rows.map((x) => cols.map(([k]) => cell(x[k]))),
        cols.map(([k], i) => (i === 0 ? h('strong', {}, 'Total') : k in total ? h('strong', { dataset: { total: k } }, cell(total[k])) : ''))]));
}

export async function usage() {
  heading('Usage');
  const now = new Date();
  const from = h('input', { type: 'date', name: 'from', value: day(new Date(now.getTime() - 6 * 86400000)) });
  const to = h('input', { type: 'date', name: 'to', value: day(now) });
  const perDay = h('input', { type: 'checkbox', name: 'granularity' });
  const form = h('form', { 'aria-label': 'Usage period' },
    field('From (UTC day)', 'from', from), field('To (UTC day, included)', 'to', to),
    choices('Group by', 'group_by', 'radio', 'group_by', GROUPS),
    h('div', { class: 'field' }, h('label', {}, perDay, ' One row per day')),
    formError(), h('button', { type: 'submit' }, 'Show usage'));
  const box = h('div', { 'aria-live': 'polite' });
  const load = async () => {
    if (!from.value || !to.value) throw new ApiError(400, 'Pick both days.', from.value ? 'to' : 'from');
    const group = form.querySelector('input[name=group_by]:checked').value;
    const r = await call('GET', `/usage${q({ from: from.value, to: to.value, group_by: group, granularity: perDay.checked ? 'day' : 'total' })}`);
    render(box, r, group);
  };
  onSubmit(form, load);
  main.append(form, box);
  await load();
}
