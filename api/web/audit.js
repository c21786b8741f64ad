// #/audit: the admin audit trail (GET /audit-events): who changed what,
// when, from where, with a field-level diff (never a secret).
import { ApiError, q } from './api.js';
import { field, formError, h, toRfc3339, when } from './ui.js';
import { heading, main, onSubmit, pager } from './page.js';

// The field-level diff of an event ({field: {from, to}}, or "changed" for
// a secret), folded under the names of the fields.
function diffOf(e) {
  const d = e.diff;
  if (!d || !Object.keys(d).length) return h('span', { class: 'muted' }, '—');
  return h('details', {}, h('summary', {}, Object.keys(d).join(', ')),
    h('pre', {}, h('code', {}, JSON.stringify(d, null, 2))));
}

export async function audit() {
  heading('Audit trail');
  const action = h('input', { type: 'text', name: 'action', autocomplete: 'off', placeholder: 'e.g. server.rotated' });
  const object = h('input', { type: 'text', name: 'object_id', autocomplete: 'off', placeholder: 'an account, server, key or webhook id' });
  const since = h('input', { type: 'datetime-local', name: 'since', step: '1' });
  const until = h('input', { type: 'datetime-local', name: 'until', step: '1' });
  const form = h('form', { 'aria-label': 'Filter audit events' },
    field('Action', 'action', action), field('Object id', 'object_id', object),
    field('Since (your local time)', 'since', since), field('Until (your local time)', 'until', until),
    formError(), h('button', { type: 'submit' }, 'Search'));
  const box = h('div', { 'aria-live': 'polite' });
  const time = (input) => {
    if (!input.value) return undefined;
    const t = toRfc3339(input.value);
    if (!t) throw new ApiError(400, 'Not a date and time.', input.name);
    return t;
  };
  let filters = {};
  const list = pager(box, {
    path: (cursor) => `/audit-events${q({ ...filters, next_cursor: cursor, limit: 50 })}`,
    caption: 'Audit events', headers: ['Time', 'Action', 'Object', 'Key', 'Client IP', 'Changes'],
    empty: 'No audit events match.', more: 'Show older',
    // A write the service made on its own (the OAuth refresher, the sweeper) has no key or IP.
    row: (e) => [when(e.created_at), h('code', {}, e.action),
      [`${e.object_type} `, h('code', { class: 'id' }, e.object_id)],
      h('code', {}, e.key_prefix ?? '—'), e.client_ip ?? '—', diffOf(e)],
  });
  onSubmit(form, async () => {
    filters = { action: action.value.trim(), object_id: object.value.trim(), since: time(since), until: time(until) };
    await list.reload();
  });
  main.append(form, box);
  await list.reload();
}
