// DOM helpers of the dashboard: element building, labelled form fields
// whose API errors show next to them, copy buttons, announcements.
let seq = 0;
const uid = (p) => `${p}-${++seq}`;

// h('p', {class: 'x', onclick: fn, 'aria-live': 'polite'}, 'text', child)
export function h(tag, props = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && !k.includes('-') && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) if (c !== undefined && c !== null && c !== false) el.append(c);
  return el;
}

// A labelled input with a hint and an error slot. ptr is the JSON pointer
// (or query parameter) the API names in problem+json "field".
export function field(label, ptr, input, hint) {
  const id = input.id || (input.id = uid('f'));
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  input.dataset.field = ptr;
  input.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  return h('div', { class: 'field' },
    h('label', { class: 'l', for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'err', id: errId, dataset: { errFor: ptr } }));
}

// A group of checkboxes or radios under one legend, one API field.
export function choices(legend, ptr, type, name, options, hint) {
  const errId = uid('e');
  const hintId = hint ? uid('h') : null;
  const fs = h('fieldset', { 'aria-describedby': [hintId, errId].filter(Boolean).join(' '), dataset: { field: ptr }, tabindex: '-1' },
    h('legend', {}, legend),
    h('div', { class: 'checks' }, options.map(([value, text, checked]) =>
      h('label', {}, h('input', { type, name, value, checked: checked ? 'checked' : null }), text))),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'err', id: errId, dataset: { errFor: ptr } }));
  return fs;
}

export function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll('.err')) e.textContent = '';
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

// Shows err next to the field it names (the longest data-field that is a
// prefix of err.field: "/config/methods/0" lands on "/config/methods"),
// else in the form's own error line; moves focus there.
export function showError(form, err) {
  clearErrors(form);
  const f = err.field || '';
  let best = null;
  for (const el of form.querySelectorAll('[data-field]')) {
    const p = el.dataset.field;
    if (p && (f === p || f.startsWith(`${p}/`)) && (!best || p.length > best.dataset.field.length)) best = el;
  }
  const slot = best ? form.querySelector(`.err[data-err-for="${CSS.escape(best.dataset.field)}"]`) : form.querySelector('.err[data-form-error]');
  slot.textContent = err.message;
  if (best) {
    best.setAttribute('aria-invalid', 'true');
    best.focus();
  } else {
    slot.focus();
  }
}

// The form-level error line (for problems naming no field of this form).
export const formError = () => h('p', { class: 'err', role: 'alert', tabindex: '-1', dataset: { formError: '' } });

const statusEl = () => document.getElementById('status');
export function announce(msg) {
  statusEl().textContent = '';
  // A fresh text node so screen readers read a repeated message again.
  setTimeout(() => { statusEl().textContent = msg; }, 30);
}

export function alertBox(msg) {
  const a = document.getElementById('alert');
  a.textContent = msg || '';
  a.hidden = !msg;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    announce('Copied to the clipboard.');
    return true;
  } catch {
    announce('Copying was blocked by the browser: select the text and copy it by hand.');
    return false;
  }
}

export function copyButton(getText, label = 'Copy') {
  return h('button', { type: 'button', class: 'secondary', onclick: () => copyText(getText()) }, label);
}

// <time> with the local time shown and the UTC value kept.
export function when(iso, empty = '—') {
  if (!iso) return h('span', { class: 'muted' }, empty);
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, Number.isNaN(d.getTime()) ? iso : d.toLocaleString());
}

// A datetime-local value -> "2026-12-31T23:59:59Z" (the API's RFC 3339 form).
export function toRfc3339(local) {
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const list = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export function chips(items) {
  if (!items || !items.length) return h('span', { class: 'muted' }, 'all');
  return items.map((t) => h('span', { class: 'chip' }, t));
}

// A table that turns into labelled cards at phone width.
export function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'cards' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { 'data-label': headers[i] }, h('div', {}, c))))))));
}
