// Charts of tool calls over time, drawn as SVG by this file (no library):
// calls and errors as stacked bars, latency p50/p95 and rate-limit headroom
// as lines. Nothing inline: colours come from app.css classes, so the
// strict CSP (style-src 'self') holds. Each chart has a data table under it
// for screen readers and for reading exact figures.
import { h, table } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 420;
const H = 200;
const PAD = { l: 44, r: 8, t: 10, b: 26 };

function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of kids) if (c !== undefined && c !== null) el.append(c);
  return el;
}

// The series of GET /calls/series as the charts' intervals: per interval
// the calls, the errors (a call is one when the worker recorded an error
// class), latency p50/p95 (ms, nearest rank, computed by PostgreSQL) and
// the rate-limit headroom: the lowest share of the limit left (percent),
// or the lowest remaining count when no call of the range carried a limit.
export function fromSeries(series) {
  const step = series.step_s * 1000;
  const anyLimit = series.buckets.some((x) => x.ratelimit_headroom_pct != null);
  const buckets = series.buckets.map((x) => {
    const t0 = Date.parse(x.t);
    return { t0, t1: t0 + step, calls: x.calls, errors: x.errors, ok: x.calls - x.errors, p50: x.p50_ms,
      p95: x.p95_ms, headroom: anyLimit ? x.ratelimit_headroom_pct : x.ratelimit_remaining_min };
  });
  return { buckets, step, headroomUnit: anyLimit ? '%' : 'requests' };
}

// 1, 2, 5 x 10^k at or above v.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

const fmt = (v) => (v == null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(1));

function timeLabel(t, step) {
  const d = new Date(t);
  return step >= 86400000 / 2 ? d.toLocaleDateString([], { month: 'short', day: 'numeric' })
    : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// One chart. kind 'bars' stacks the series; 'lines' draws each as a line
// with a point per interval (gaps where a value is null). series:
// [{ name, cls, key }] read from each bucket; yMax fixes the scale (100 for
// percentages).
export function chart({ id, title, unit, kind, buckets, step, series, yMax }) {
  const vals = buckets.map((b) => (kind === 'bars' ? series.reduce((a, sr) => a + (b[sr.key] || 0), 0)
    : Math.max(0, ...series.map((sr) => b[sr.key] ?? 0))));
  const max = yMax ?? niceMax(Math.max(0, ...vals));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / buckets.length;
  const y = (v) => PAD.t + ih - (ih * Math.min(v, max)) / max;
  const x = (i) => PAD.l + bw * i + bw / 2;
  const titleId = `${id}-title`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId, class: 'chart-svg',
    'data-kind': kind });
  // Axes and grid: 0, half and the top of the scale.
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: PAD.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
  }
  const n = buckets.length;
  // Times at the start, the middle and the end (anchored so none is cut off).
  for (const [i, anchor, at] of [[0, 'start', PAD.l], [Math.floor(n / 2), 'middle', x(Math.floor(n / 2))], [n - 1, 'end', W - PAD.r]]) {
    svg.append(s('text', { x: at, y: H - 6, class: 'tick', 'text-anchor': anchor }, timeLabel(buckets[i].t0, step)));
  }
  if (kind === 'bars') {
    buckets.forEach((b, i) => {
      let base = 0;
      for (const sr of series) {
        const v = b[sr.key] || 0;
        if (v > 0) {
          svg.append(s('rect', { x: PAD.l + bw * i + bw * 0.1, width: Math.max(1, bw * 0.8), y: y(base + v),
            height: Math.max(0.5, y(base) - y(base + v)), class: `bar ${sr.cls}`, 'data-series': sr.key, 'data-v': v },
          s('title', {}, `${timeLabel(b.t0, step)}: ${v} ${sr.name}`)));
        }
        base += v;
      }
    });
  } else {
    for (const sr of series) {
      let seg = [];
      const flush = () => {
        if (seg.length > 1) svg.append(s('polyline', { points: seg.join(' '), class: `line ${sr.cls}` }));
        seg = [];
      };
      buckets.forEach((b, i) => {
        const v = b[sr.key];
        if (v == null) { flush(); return; }
        seg.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
        svg.append(s('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot ${sr.cls}`, 'data-series': sr.key, 'data-v': v },
          s('title', {}, `${timeLabel(b.t0, step)}: ${sr.name} ${fmt(v)}${unit === '%' ? '%' : ` ${unit}`}`)));
      });
      flush();
    }
  }
  const totals = {};
  for (const sr of series) {
    const xs = buckets.map((b) => b[sr.key]).filter((v) => v != null);
    totals[sr.key] = kind === 'bars' ? xs.reduce((a, v) => a + v, 0) : (xs.length ? Math.max(...xs) : null);
  }
  const fig = h('figure', { class: 'chart', id, dataset: { totals: JSON.stringify(totals) } },
    h('figcaption', { id: titleId }, title),
    svg,
    h('ul', { class: 'legend' }, series.map((sr) => h('li', {}, h('span', { class: `key ${sr.cls}` }), sr.name))),
    h('details', {}, h('summary', {}, `${title}: data`),
      table(title, ['From', ...series.map((sr) => `${sr.name}${unit ? ` (${unit})` : ''}`)],
        buckets.map((b) => [new Date(b.t0).toLocaleString(), ...series.map((sr) => fmt(b[sr.key]))]))));
  return fig;
}

// The three charts of a series (GET /calls/series).
export function callCharts(prefix, series) {
  const { buckets, step, headroomUnit } = fromSeries(series);
  return h('div', { class: 'charts' },
    chart({ id: `${prefix}-calls`, title: 'Calls and errors', unit: 'calls', kind: 'bars', buckets, step,
      series: [{ name: 'succeeded', cls: 's-ok', key: 'ok' }, { name: 'errors', cls: 's-err', key: 'errors' }] }),
    chart({ id: `${prefix}-latency`, title: 'Latency', unit: 'ms', kind: 'lines', buckets, step,
      series: [{ name: 'p50', cls: 's-p50', key: 'p50' }, { name: 'p95', cls: 's-p95', key: 'p95' }] }),
    chart({ id: `${prefix}-headroom`, title: headroomUnit === '%' ? 'Rate-limit headroom (lowest share of the limit left)'
      : 'Rate-limit headroom (lowest requests left)', unit: headroomUnit, kind: 'lines', buckets, step,
    yMax: headroomUnit === '%' ? 100 : undefined,
    series: [{ name: 'lowest left', cls: 's-room', key: 'headroom' }] }));
}
