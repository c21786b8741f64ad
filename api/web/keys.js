// #/api-keys: the workspace's API keys (GET/POST/DELETE /api-keys): list,
// create with a scope and an expiry (the key is shown once), revoke.
import { ApiError, call, q, session } from './api.js';
import { announce, choices, field, formError, h, toRfc3339, when } from './ui.js';
import { actionButton, heading, main, onSubmit, panel, pager, showSecret } from './page.js';

export async function apiKeys() {
  heading('API keys');
  const current = await call('GET', '/api-keys/current').catch((e) => {
    if (e.status === 401) throw e;
    return null;
  });
  const secret = h('div', { tabindex: '-1' });
  const box = h('div', {});
  const actions = h('div', { 'aria-live': 'polite' });
  main.append(
    current ? h('p', {}, 'This browser is signed in with ', h('code', {}, current.prefix), ` (${current.name}, scope ${current.scope}).`) : '',
    secret, box, actions, h('h2', {}, 'Create an API key'));
  const list = pager(box, {
    path: (cursor) => `/api-keys${q({ next_cursor: cursor, limit: 50 })}`,
    caption: 'API keys', headers: ['Name', 'Prefix', 'Scope', 'Expires', 'Created', 'Last used', 'Actions'],
    empty: 'No API keys.',
    row: (k) => [
      h('strong', {}, k.name), h('code', {}, k.prefix),
      h('span', { class: `badge scope-${k.scope}` }, k.scope === 'read' ? 'read-only' : 'full'),
      [when(k.expires_at, 'never'), k.expired ? [' ', h('span', { class: 'badge needs_reauth' }, 'expired')] : null],
      when(k.created_at), when(k.last_used_at, 'never'),
      h('div', { class: 'row' }, current?.id === k.id ? h('span', { class: 'muted' }, 'this browser\'s key ') : null,
        actionButton(`Revoke ${k.name}`, 'Revoke', () => revokePanel(k))),
    ],
  });

  const revokePanel = (k) => {
    const mine = current?.id === k.id;
    const form = h('form', { 'aria-label': `Revoke ${k.name}` }, formError(),
      h('button', { type: 'submit', class: 'danger' }, 'Revoke key'));
    onSubmit(form, async () => {
      await call('DELETE', `/api-keys/${k.id}`);
      actions.replaceChildren();
      if (mine) {
        session.clear();
        location.hash = '#/signin';
        return;
      }
      announce(`Key ${k.name} revoked.`);
      await list.reload();
    });
    panel(actions, `Revoke ${k.name} (${k.prefix}…)?`, h('p', {}, mine
      ? 'This is the key this browser is signed in with: revoking it signs you out.'
      : 'Every client using it is refused at once. This cannot be undone.'), form);
  };

  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '200', autocomplete: 'off' });
  const expires = h('input', { type: 'datetime-local', name: 'expires_at', step: '1' });
  const form = h('form', { 'aria-label': 'Create an API key' },
    field('Name', '/name', name, 'What uses it, e.g. "ci" or "billing export".'),
    choices('Scope', '/scope', 'radio', 'scope', [['full', 'full (every route)', true], ['read', 'read-only (GET routes only)']]),
    field('Expires at (your local time)', '/expires_at', expires, 'Empty: never expires.'),
    formError(), h('button', { type: 'submit' }, 'Create API key'));
  onSubmit(form, async () => {
    const body = { name: name.value.trim(), scope: form.querySelector('input[name=scope]:checked').value };
    if (expires.value) {
      body.expires_at = toRfc3339(expires.value);
      if (!body.expires_at) throw new ApiError(400, 'Not a date and time.', '/expires_at');
    }
    const k = await call('POST', '/api-keys', body);
    form.reset();
    showSecret(secret, { title: `Key ${k.name}: copy it now, it is shown only once`, label: 'API key', noun: 'key', value: k.key,
      hint: `Scope ${k.scope}${k.expires_at ? `, expires ${new Date(k.expires_at).toLocaleString()}` : ', never expires'}. Only its prefix ${k.prefix} is shown from now on.` });
    await list.reload();
  });
  main.append(form);
  await list.reload();
}
