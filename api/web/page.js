// What every page of the dashboard shares: the <main> element, its
// heading, error handling, forms that submit through the API, one action
// panel at a time, keyset-paged tables and the secret shown once.
import { ApiError, call, q, session } from './api.js';
import { alertBox, announce, clearErrors, copyButton, h, showError, table } from './ui.js';

export const main = document.getElementById('main');
export const enc = encodeURIComponent;

// An error outside any form: a refused key signs out, the rest is shown.
export function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    session.clear();
    location.hash = '#/signin';
    setTimeout(() => alertBox('The API key was refused (revoked, expired or unknown): sign in again.'), 50);
    return;
  }
  alertBox(e.message || String(e));
}

export function heading(text) {
  const el = h('h1', { tabindex: '-1' }, text);
  main.append(el);
  el.focus();
  return el;
}

// Runs an async submit with the button disabled; API errors land next to
// the field they name.
export function onSubmit(form, fn) {
  form.noValidate = true;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const missing = [...form.querySelectorAll('[required]')].find((i) => !i.value.trim());
    if (missing) {
      showError(form, new ApiError(400, 'This field is required.', missing.dataset.field));
      return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      await fn();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) failed(e);
      else showError(form, e);
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

export function actionButton(label, text, fn) {
  return h('button', { type: 'button', class: 'secondary', 'aria-label': label, onclick: fn }, text);
}

// One action panel at a time in box, focused on its title.
export function panel(box, title, ...kids) {
  const head = h('h3', { tabindex: '-1' }, title);
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => box.replaceChildren() }, 'Cancel');
  box.replaceChildren(h('div', { class: 'panel' }, head, ...kids, cancel));
  head.focus();
}

// A keyset-paged listing in box: path(cursor) is the URL of a page,
// row(item) its table cells. "Show more" appends the next page; reload()
// starts again; a listing answered after a newer reload is dropped.
export function pager(box, { path, caption, headers, row, empty, more = 'Show more', onPage }) {
  let gen = 0;
  const load = async (cursor) => {
    const mine = cursor ? gen : ++gen;
    const page = await call('GET', path(cursor));
    if (mine !== gen) return page;
    if (!cursor) box.replaceChildren();
    box.querySelector('.more')?.remove();
    onPage?.(page, !cursor);
    if (!page.result.length && !cursor) {
      box.append(h('p', { class: 'muted' }, empty));
      return page;
    }
    box.append(table(caption, headers, page.result.map(row)));
    if (page.next_cursor) {
      box.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary',
        onclick: () => load(page.next_cursor).catch(failed) }, more)));
    }
    return page;
  };
  return { reload: () => load(null) };
}

// A secret the API shows only once (a key, a signing secret): a warning
// panel with the value, a copy button and a Done button that removes it;
// noun names the value in the buttons ("Copy key").
export function showSecret(box, { title, label, value, hint, noun }) {
  const input = h('input', { type: 'text', id: 'once-secret', readOnly: true, value });
  const panelEl = h('section', { class: 'panel secret', 'aria-labelledby': 'once-title' },
    h('h2', { id: 'once-title', tabindex: '-1' }, title),
    h('div', { class: 'field' }, h('label', { class: 'l', for: 'once-secret' }, label),
      h('div', { class: 'copyline' }, input, copyButton(() => value, `Copy ${noun}`))),
    hint ? h('p', {}, hint) : null,
    h('p', {}, h('button', { type: 'button', onclick: () => { box.replaceChildren(); box.focus(); } }, `Done: hide the ${noun}`)));
  box.replaceChildren(panelEl);
  panelEl.querySelector('h2').focus();
  announce(`${title}.`);
}

// A datetime-local input's value for an ISO time (local wall clock).
export function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 19);
}

export { q };
