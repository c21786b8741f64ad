// #/webhooks and #/webhooks/<id>: signed event deliveries to the
// operator's URLs (GET/POST/PATCH/DELETE /webhooks, POST /webhooks/:id/test,
// GET /webhooks/:id/deliveries). The signing secret is shown once. A webhook
// whose receiver kept failing is disabled by the service (or by hand): its
// row says since when and why, and Enable turns it back on.
import { ApiError, call, q } from './api.js';
import { announce, checked, chips, choices, field, formError, h, when } from './ui.js';
import { actionButton, enc, failed, heading, main, onSubmit, panel, pager, showSecret } from './page.js';

const EVENTS = [
  ['account.needs_reauth', 'account.needs_reauth: an OAuth account must be connected again', true],
  ['server.expiring', 'server.expiring: a server expires within the lead time'],
  ['server.expired', 'server.expired: a server was deleted at its expiry'],
  ['server.deleted', 'server.deleted: a server was deleted'],
  ['ratelimit.burst', 'ratelimit.burst: a run of upstream 429s for an account'],
  ['audit.backlog', 'audit.backlog: tool-call records wait too long to be stored'],
];

export async function webhooks() {
  heading('Webhooks');
  const secret = h('div', { tabindex: '-1' });
  const box = h('div', {});
  const actions = h('div', { 'aria-live': 'polite' });
  main.append(h('p', {}, 'Each delivery is a POST signed with HMAC-SHA256 (header Jsmcp-Signature: t=<unix seconds>,v1=<hex> over "<t>.<body>").'),
    secret, box, actions, h('h2', {}, 'Add a webhook'));
  const list = pager(box, {
    path: (cursor) => `/webhooks${q({ next_cursor: cursor, limit: 50 })}`,
    caption: 'Webhooks', headers: ['URL', 'Events', 'Description', 'State', 'Created', 'Actions'],
    empty: 'No webhooks yet.',
    row: (w) => [
      h('code', { class: 'url' }, w.url), chips(w.events), w.description || h('span', { class: 'muted' }, '—'), state(w),
      when(w.created_at),
      h('div', { class: 'row' },
        h('a', { href: `#/webhooks/${enc(w.id)}` }, 'Deliveries', h('span', { class: 'visually-hidden' }, ` of ${w.url}`)),
        w.enabled === false ? '' : actionButton(`Send a test event to ${w.url}`, 'Test', () => sendTest(w).catch(failed)),
        actionButton(`${w.enabled === false ? 'Enable' : 'Disable'} ${w.url}`, w.enabled === false ? 'Enable' : 'Disable',
          () => setEnabled(w, w.enabled === false).catch(failed)),
        actionButton(`Delete ${w.url}`, 'Delete', () => deletePanel(w))),
    ],
  });
  const setEnabled = async (w, on) => {
    await call('PATCH', `/webhooks/${w.id}`, { enabled: on });
    announce(on ? `Webhook ${w.url} enabled: its waiting deliveries go out again.` : `Webhook ${w.url} disabled.`);
    await list.reload();
  };
  const sendTest = async (w) => {
    await call('POST', `/webhooks/${w.id}/test`, {});
    announce(`Test event queued for ${w.url}: see its deliveries.`);
  };
  const deletePanel = (w) => {
    const form = h('form', { 'aria-label': `Delete ${w.url}` }, formError(),
      h('button', { type: 'submit', class: 'danger' }, 'Delete webhook'));
    onSubmit(form, async () => {
      await call('DELETE', `/webhooks/${w.id}`);
      actions.replaceChildren();
      announce(`Webhook ${w.url} deleted.`);
      await list.reload();
    });
    panel(actions, `Delete the webhook to ${w.url}?`, h('p', {}, 'Its delivery log goes with it; pending deliveries are not sent.'), form);
  };

  const url = h('input', { type: 'url', name: 'url', required: true, placeholder: 'https://hooks.example.com/jsmcp' });
  const desc = h('input', { type: 'text', name: 'description', maxlength: '200', autocomplete: 'off' });
  const lead = h('input', { type: 'number', name: 'expiring_lead_days', min: '0', max: '90', step: 'any', placeholder: '7' });
  const form = h('form', { 'aria-label': 'Add a webhook' },
    field('URL', '/url', url, 'https with a public host; redirects are not followed.'),
    choices('Events', '/events', 'checkbox', 'events', EVENTS),
    field('Description', '/description', desc, 'Optional.'),
    field('server.expiring lead time (days)', '/expiring_lead_seconds', lead, 'How long before a server expires the event is sent; empty: 7 days.'),
    formError(), h('button', { type: 'submit' }, 'Add webhook'));
  onSubmit(form, async () => {
    const body = { url: url.value.trim(), events: checked(form, 'events') };
    if (!body.events.length) throw new ApiError(400, 'Tick at least one event.', '/events');
    if (desc.value.trim()) body.description = desc.value.trim();
    if (lead.value !== '') body.expiring_lead_seconds = Math.round(Number(lead.value) * 86400);
    const w = await call('POST', '/webhooks', body);
    form.reset();
    showSecret(secret, { title: `Signing secret of ${w.url}: copy it now, it is shown only once`, label: 'Signing secret', noun: 'secret',
      value: w.secret, hint: 'Your receiver checks each delivery\'s Jsmcp-Signature with it.' });
    await list.reload();
  });
  main.append(form);
  await list.reload();
}

// Enabled, or disabled with since when and why (the service's reason names
// the failed deliveries; an operator's says it was by hand).
function state(w) {
  if (w.enabled !== false) return h('span', { class: 'badge active' }, 'enabled');
  return h('span', {}, h('span', { class: 'badge d-failed' }, 'disabled'), ' ', when(w.disabled_at),
    w.disabled_reason ? h('span', { class: 'err-text' }, ` ${w.disabled_reason}`) : '');
}

const STATUS = [['', 'all', true], ['pending', 'pending'], ['succeeded', 'succeeded'], ['failed', 'failed']];

function attemptLog(d) {
  if (!d.log?.length) return h('span', { class: 'muted' }, 'no attempt yet');
  return h('details', {}, h('summary', {}, `${d.log.length} attempt${d.log.length === 1 ? '' : 's'}`),
    h('ol', { class: 'attempts' }, d.log.map((a) => h('li', {}, when(a.at), ` — ${a.status ?? 'no answer'}`,
      a.duration_ms != null ? ` in ${a.duration_ms} ms` : '', a.error ? h('span', { class: 'err-text' }, ` ${a.error}`) : '',
      a.response ? h('pre', {}, h('code', {}, a.response)) : ''))));
}

export async function webhook(id) {
  const w = await call('GET', `/webhooks/${id}`);
  heading(`Deliveries to ${w.url}`);
  const box = h('div', {});
  const status = choices('Status', 'status', 'radio', 'status', STATUS);
  const form = h('form', { 'aria-label': 'Filter deliveries' }, status, formError(), h('button', { type: 'submit' }, 'Show'));
  const list = pager(box, {
    path: (cursor) => `/webhooks/${id}/deliveries${q({ status: checked(form, 'status')[0], next_cursor: cursor, limit: 50 })}`,
    caption: 'Deliveries', headers: ['Created', 'Event', 'Status', 'Attempts', 'Last answer', 'Next attempt', 'Log'],
    empty: 'No deliveries yet.', more: 'Show older',
    row: (d) => [when(d.created_at), h('code', {}, d.event), h('span', { class: `badge d-${d.status}` }, d.status),
      String(d.attempts ?? 0), d.last_status != null ? String(d.last_status) : (d.last_error || '—'),
      d.status === 'pending' ? when(d.next_attempt_at, '—') : '—', attemptLog(d)],
  });
  onSubmit(form, () => list.reload());
  main.append(h('p', { class: 'row' }, h('a', { href: '#/webhooks' }, '← Webhooks'),
    h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        await call('POST', `/webhooks/${id}/test`, {});
        announce('Test event queued.');
        await list.reload();
      } catch (e) { failed(e); }
    } }, 'Send test event'),
    h('button', { type: 'button', class: 'secondary', onclick: () => list.reload().then(() => announce('Deliveries refreshed.'), failed) }, 'Refresh')),
  h('p', {}, 'Events: ', chips(w.events)), h('p', {}, 'State: ', state(w)), form, box);
  await list.reload();
}
