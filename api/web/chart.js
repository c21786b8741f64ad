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

// Nearest-rank percentile of sorted numbers.
function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// A call is an error when the worker recorded an error class for it.
export const isError = (c) => Boolean(c.error_class);

// Groups call records ({ts, latency_ms, error_class, ratelimit}) into n
// equal intervals of [from, to): per interval the calls, the errors,
// latency p50/p95 (ms) and the rate-limit headroom: the lowest remaining
// share of the limit seen (percent), or the lowest remaining count when no
// call carried a limit.
export function bucketize(calls, from, to, n) {
  const step = (to - from) / n;
  const b = Array.from({ length: n }, (_, i) => ({ t0: from + i * step, t1: from + (i + 1) * step,
    calls: 0, errors: 0, lat: [], pct: null, left: null }));
  let anyLimit = false;
  for (const c of calls) {
    const t = Date.parse(c.ts);
    if (!(t >= from && t < to)) continue;
    const x = b[Math.min(n - 1, Math.floor((t - from) / step))];
    x.calls++;
    if (isError(c)) x.errors++;
    if (c.latency_ms != null) x.lat.push(Number(c.latency_ms));
    const rl = c.ratelimit;
    if (rl && rl.remaining != null) {
      if (rl.limit > 0) {
        anyLimit = true;
        const p = Math.max(0, Math.min(100, (100 * rl.remaining) / rl.limit));
        x.pct = x.pct == null ? p : Math.min(x.pct, p);
      }
      x.left = x.left == null ? rl.remaining : Math.min(x.left, rl.remaining);
    }
  }
  for (const x of b) {
    x.lat.sort((p1, p2) => p1 - p2);
    x.p50 = pct(x.lat, 50);
    x.p95 = pct(x.lat, 95);
    x.headroom = anyLimit ? x.pct : x.left;
    delete x.lat;
  }
  return { buckets: b, step, headroomUnit: anyLimit ? '%' : 'requests' };
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

// The three charts of a set of calls over [from, to).
export function callCharts(prefix, calls, from, to, n = 24) {
  const { buckets, step, headroomUnit } = bucketize(calls, from, to, n);
  for (const b of buckets) b.ok = b.calls - b.errors;
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
