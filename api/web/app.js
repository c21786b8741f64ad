// jsmcp dashboard: a hash-routed single page over the admin API.
//   #/signin                                  the workspace API key
//   #/accounts                                integrated accounts: search, connect
//   #/accounts/<id>                           an account's MCP servers: create, rotate, expiry, revoke
//   #/accounts/<id>/servers/<sid>/calls       a server's charts and tool calls (activity.js)
//   #/activity                                 the workspace's calls: charts, search, export (activity.js)
//   #/usage  #/audit  #/webhooks[/<id>]  #/api-keys   (usage.js, audit.js, webhooks.js, keys.js)
import { ApiError, call, q, session } from './api.js';
import { activity, serverActivity } from './activity.js';
import { audit } from './audit.js';
import { apiKeys } from './keys.js';
import { alertBox, announce, checked, chips, choices, copyButton, field, formError, h, list,
  table, toRfc3339, when } from './ui.js';
import { actionButton, failed, heading, localInput, main, onSubmit, panel } from './page.js';
import { usage } from './usage.js';
import { webhook, webhooks } from './webhooks.js';

const nav = document.getElementById('nav');

const METHODS = [
  ['read', 'read (get + list)', true], ['write', 'write (create + update + delete)'],
  ['get', 'get'], ['list', 'list'], ['create', 'create'], ['update', 'update'], ['delete', 'delete'],
];

// ---- routing ----

const routes = [
  [/^#\/signin$/, signIn],
  [/^#\/accounts$/, accounts],
  [/^#\/accounts\/([0-9a-fA-F-]{36})$/, account],
  [/^#\/accounts\/([0-9a-fA-F-]{36})\/servers\/([0-9a-fA-F-]{36})\/calls$/, serverActivity],
  [/^#\/activity$/, activity],
  [/^#\/usage$/, usage],
  [/^#\/audit$/, audit],
  [/^#\/webhooks$/, webhooks],
  [/^#\/webhooks\/([0-9a-fA-F-]{36})$/, webhook],
  [/^#\/api-keys$/, apiKeys],
];

async function render() {
  alertBox('');
  const hash = location.hash || '#/accounts';
  nav.hidden = !session.get();
  if (!session.get() && hash !== '#/signin') {
    location.replace('#/signin');
    return;
  }
  const route = routes.find(([re]) => re.test(hash));
  for (const a of nav.querySelectorAll('a')) {
    const top = a.getAttribute('href');
    if (hash === top || hash.startsWith(`${top}/`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  if (!route) {
    main.append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/accounts' }, 'Integrated accounts')));
    main.querySelector('h1').focus();
    return;
  }
  try {
    await route[1](...hash.match(route[0]).slice(1));
  } catch (e) {
    failed(e);
  }
}

// ---- sign in ----

function signIn() {
  heading('Sign in');
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { 'aria-label': 'Sign in' },
    field('Workspace API key', 'key', key, 'Starts with jsk_. It stays in this browser tab (session storage) and is sent only to this API.'),
    formError(),
    h('button', { type: 'submit' }, 'Sign in'));
  main.append(form);
  onSubmit(form, async () => {
    const k = key.value.trim();
    try {
      await call('GET', '/integrated-account?limit=1', undefined, k);
    } catch (e) {
      if (e.status === 401 || e.status === 403) throw new ApiError(400, 'This key was not accepted: use a workspace API key (jsk_...) that is not revoked.', 'key');
      throw e;
    }
    session.set(k);
    announce('Signed in.');
    location.hash = '#/accounts';
  });
  key.focus();
}

// ---- integrated accounts ----

async function accounts() {
  heading('Integrated accounts');
  const search = h('input', { type: 'search', name: 'tenant_id', autocomplete: 'off' });
  const results = h('div', { 'aria-live': 'polite' });
  const searchForm = h('form', { role: 'search', 'aria-label': 'Search accounts' },
    field('Tenant ID', 'tenant_id', search, 'Exact tenant ID; empty lists all.'), formError(),
    h('button', { type: 'submit' }, 'Search'));
  const oauth = oauthForm();
  main.append(searchForm, results, h('h2', {}, 'Connect an account'), tokenForm(), oauth.el);

  let gen = 0; // a search answered after a newer one is dropped
  const load = async (cursor, append) => {
    const mine = ++gen;
    const page = await call('GET', `/integrated-account${q({ tenant_id: search.value.trim(), next_cursor: cursor, limit: 20 })}`);
    if (mine !== gen) return;
    const rows = page.result.map((a) => [
      h('a', { href: `#/accounts/${a.id}` }, a.tenant_id),
      h('span', { class: 'muted' }, a.site_url),
      a.auth_type === 'oauth2' ? 'OAuth' : 'API token',
      [statusBadge(a.status), a.status === 'needs_reauth'
        ? [' ', h('button', { type: 'button', class: 'link', onclick: () => oauth.reconnect(a) }, `Reconnect ${a.tenant_id}`)] : null],
      when(a.created_at),
    ]);
    if (!append) results.replaceChildren();
    results.querySelector('.more')?.remove();
    if (!page.result.length && !append) {
      results.append(h('p', { class: 'muted' }, search.value.trim() ? 'No account with this tenant ID.' : 'No integrated accounts yet: connect one below.'));
      return;
    }
    results.append(table('Integrated accounts', ['Tenant ID', 'Site', 'Auth', 'Status', 'Created'], rows));
    if (page.next_cursor) {
      results.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary',
        onclick: () => load(page.next_cursor, true).catch(failed) }, 'Show more')));
    }
  };
  onSubmit(searchForm, () => load(null, false));
  await load(null, false);
}

function statusBadge(s) {
  return h('span', { class: `badge ${s}` }, s === 'needs_reauth' ? 'needs reauth' : s);
}

function tokenForm() {
  const tenant = h('input', { type: 'text', name: 'tenant_id', required: true, autocomplete: 'off' });
  const site = h('input', { type: 'url', name: 'site_url', required: true, placeholder: 'https://example.atlassian.net' });
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const token = h('input', { type: 'password', name: 'api_token', required: true, autocomplete: 'off' });
  const form = h('form', { 'aria-label': 'Connect with an API token' },
    field('Tenant ID', '/tenant_id', tenant, 'Your own name for this customer: letters, digits and . _ : @ -'),
    field('Site URL', '/site_url', site),
    field('Atlassian account email', '/auth/email', email),
    field('API token', '/auth/api_token', token, 'Stored encrypted; never shown again.'),
    formError(),
    h('button', { type: 'submit' }, 'Connect with API token'));
  onSubmit(form, async () => {
    const a = await call('POST', '/integrated-account', {
      tenant_id: tenant.value.trim(), site_url: site.value.trim(),
      auth: { type: 'api_token', email: email.value.trim(), api_token: token.value },
    });
    token.value = '';
    announce(`Account ${a.tenant_id} connected.`);
    location.hash = `#/accounts/${a.id}`;
  });
  return h('details', {}, h('summary', {}, 'With an API token'), form);
}

function oauthForm() {
  const tenant = h('input', { type: 'text', name: 'tenant_id', required: true, autocomplete: 'off' });
  const site = h('input', { type: 'url', name: 'site_url', placeholder: 'optional: https://example.atlassian.net' });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { 'aria-label': 'Connect with OAuth' },
    field('Tenant ID', '/tenant_id', tenant, 'The same tenant ID as an existing account reconnects it (needs reauth).'),
    field('Site URL', '/site_url', site, 'Needed only when the customer may grant several sites.'),
    formError(),
    h('button', { type: 'submit' }, 'Get authorization link'), out);
  onSubmit(form, async () => {
    out.replaceChildren();
    const body = { tenant_id: tenant.value.trim() };
    if (site.value.trim()) body.site_url = site.value.trim();
    const r = await call('POST', '/integrated-account/connect', body);
    const link = h('input', { type: 'text', readOnly: true, value: r.authorization_url, 'aria-label': 'Authorization link' });
    out.append(h('div', { class: 'panel' },
      h('p', {}, 'Send the customer to this link; it works once, until ', when(r.expires_at), '. The account appears here once they consent.'),
      h('div', { class: 'copyline' }, link, copyButton(() => r.authorization_url, 'Copy link'),
        h('a', { href: r.authorization_url, target: '_blank', rel: 'noopener noreferrer' }, 'Open'))));
    link.focus();
  });
  const el = h('details', {}, h('summary', {}, 'With OAuth (Atlassian consent)'), form);
  return {
    el,
    reconnect(a) {
      el.open = true;
      tenant.value = a.tenant_id;
      tenant.focus();
    },
  };
}

// ---- one account: its MCP servers ----

async function account(id) {
  const a = await call('GET', `/integrated-account/${id}`);
  heading(a.tenant_id);
  main.append(
    h('p', {}, h('a', { href: '#/accounts' }, '← Integrated accounts')),
    h('p', {}, a.site_url, ' · ', a.auth_type === 'oauth2' ? 'OAuth' : 'API token', ' · ', statusBadge(a.status)),
    a.status === 'needs_reauth'
      ? h('p', { class: 'panel' }, 'Atlassian refused this account\'s refresh token: its MCP servers fail until the customer connects again (Integrated accounts → With OAuth, same tenant ID).')
      : '');
  main.append(paceForm(a));
  const secret = h('div', { tabindex: '-1' });
  const serversBox = h('div', {});
  const actions = h('div', { 'aria-live': 'polite' });
  main.append(secret, h('h2', {}, 'MCP servers'), serversBox, actions, h('h2', {}, 'Create MCP server'));
  const ctx = { id, secret, serversBox, actions, reload: null };
  ctx.reload = () => loadServers(ctx);
  main.append(serverForm(ctx));
  await ctx.reload();
}

// The account's own pacing of upstream calls (PATCH pace; empty = the
// credential type's rule, null in the API).
function paceForm(a) {
  const label = (p) => `Pacing: ${p ?? 'the default of its credential type'}`;
  const summary = h('summary', {}, label(a.pace));
  const input = h('input', { type: 'text', name: 'pace', value: a.pace ?? '', autocomplete: 'off',
    placeholder: '10/s burst 20' });
  const form = h('form', { 'aria-label': 'Pacing' },
    field('Pacing of calls to JSM', '/pace', input,
      'Shared by every worker: "<rate>/s [burst <n>]", "<rate>/m [burst <n>]" or "off". Empty: the default of the credential type.'),
    formError(),
    h('button', { type: 'submit' }, 'Save pacing'));
  onSubmit(form, async () => {
    const r = await call('PATCH', `/integrated-account/${a.id}`, { pace: input.value.trim() || null });
    input.value = r.pace ?? '';
    summary.textContent = label(r.pace);
    announce(r.pace ? `Pacing set to ${r.pace}.` : 'Pacing follows the credential type again.');
  });
  return h('details', {}, summary, form);
}

const toolCounts = new Map();
// How many tools a config leaves, from GET /tools; null when this API has
// no such route (shown as unknown).
async function toolsFor(cfg) {
  const qs = q({ methods: (cfg?.methods || []).join(','), tags: (cfg?.tags || []).join(','),
    projects: (cfg?.projects || []).join(','), tool_exposure: cfg?.tool_exposure });
  if (!toolCounts.has(qs)) {
    toolCounts.set(qs, call('GET', `/tools${qs}`).catch((e) => {
      if (e.status === 404 || e.status === 405) return null;
      throw e;
    }));
  }
  return toolCounts.get(qs);
}

async function loadServers(ctx, cursor, append) {
  const mine = ctx.gen = (ctx.gen || 0) + 1; // an older listing answered late is dropped
  const page = await call('GET', `/integrated-account/${ctx.id}/mcp${q({ next_cursor: cursor, limit: 20 })}`);
  if (mine !== ctx.gen) return;
  if (!append) ctx.serversBox.replaceChildren();
  ctx.serversBox.querySelector('.more')?.remove();
  if (!page.result.length && !append) {
    ctx.serversBox.append(h('p', { class: 'muted' }, 'No MCP servers yet.'));
    return;
  }
  const rows = page.result.map((s) => {
    const count = h('span', {}, '…');
    toolsFor(s.config).then((t) => { count.textContent = t ? String(t.count) : 'unknown'; }, () => { count.textContent = 'unknown'; });
    return [
      [h('strong', {}, s.name), s.require_api_token_auth ? [' ', h('span', { class: 'badge scope-read' }, 'API token required')] : null],
      count, chips(s.config?.methods), chips(s.config?.tags), chips(s.config?.projects),
      when(s.expires_at, 'never'), when(s.created_at), when(s.last_used_at, 'never'),
      h('div', { class: 'row' },
        h('a', { href: `#/accounts/${ctx.id}/servers/${s.id}/calls` }, h('span', {}, 'Calls'), h('span', { class: 'visually-hidden' }, ` of ${s.name}`)),
        actionButton(`Edit ${s.name}`, 'Edit', () => editPanel(ctx, s)),
        actionButton(`Rotate ${s.name}`, 'Rotate', () => rotatePanel(ctx, s)),
        actionButton(`Change expiry of ${s.name}`, 'Expiry', () => expiryPanel(ctx, s)),
        actionButton(`Revoke ${s.name}`, 'Revoke', () => revokePanel(ctx, s))),
    ];
  });
  ctx.serversBox.append(table('MCP servers', ['Name', 'Tools', 'Methods', 'Tags', 'Projects', 'Expires', 'Created', 'Last used', 'Actions'], rows));
  if (page.next_cursor) {
    ctx.serversBox.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary',
      onclick: () => loadServers(ctx, page.next_cursor, true).catch(failed) }, 'Show more')));
  }
}

// One action panel at a time, under the table, focused.
const serverPanel = (ctx, title, ...kids) => panel(ctx.actions, title, ...kids);

function rotatePanel(ctx, s) {
  const overlap = h('input', { type: 'number', name: 'overlap_seconds', min: '0', max: '604800', value: '0' });
  const form = h('form', { 'aria-label': `Rotate ${s.name}` },
    field('Old URL keeps working for (seconds)', '/overlap_seconds', overlap, '0 stops the old URL at once; at most 604800 (7 days).'),
    formError(), h('button', { type: 'submit' }, 'Rotate URL'));
  onSubmit(form, async () => {
    const n = Number(overlap.value || 0);
    const r = await call('POST', `/integrated-account/${ctx.id}/mcp/${s.id}/rotate`, { overlap_seconds: Number.isInteger(n) ? n : overlap.value });
    ctx.actions.replaceChildren();
    showOnce(ctx, r);
    await ctx.reload();
  });
  serverPanel(ctx, `Rotate the URL of ${s.name}`, h('p', {}, 'A new URL is issued and shown once.'), form);
}

function expiryPanel(ctx, s) {
  const at = h('input', { type: 'datetime-local', name: 'expires_at', step: '1' });
  const never = h('input', { type: 'checkbox', name: 'never', checked: !s.expires_at });
  const form = h('form', { 'aria-label': `Change expiry of ${s.name}` },
    field('Expires at (your local time)', '/expires_at', at, 'At least a minute from now.'),
    h('div', { class: 'field' }, h('label', {}, never, ' Never expires')),
    formError(), h('button', { type: 'submit' }, 'Save expiry'));
  onSubmit(form, async () => {
    let expires = null;
    if (!never.checked) {
      expires = toRfc3339(at.value);
      if (!expires) throw new ApiError(400, 'Pick a date and time, or tick Never expires.', '/expires_at');
    }
    await call('PATCH', `/integrated-account/${ctx.id}/mcp/${s.id}`, { expires_at: expires });
    ctx.actions.replaceChildren();
    announce(`Expiry of ${s.name} saved.`);
    await ctx.reload();
  });
  serverPanel(ctx, `Expiry of ${s.name}`, form);
}

function revokePanel(ctx, s) {
  const form = h('form', { 'aria-label': `Revoke ${s.name}` }, formError(),
    h('button', { type: 'submit', class: 'danger' }, 'Revoke now'));
  onSubmit(form, async () => {
    await call('DELETE', `/integrated-account/${ctx.id}/mcp/${s.id}`);
    ctx.actions.replaceChildren();
    ctx.secret.replaceChildren();
    announce(`${s.name} revoked: its URL no longer works.`);
    await ctx.reload();
  });
  serverPanel(ctx, `Revoke ${s.name}?`, h('p', {}, 'Its URL stops working at once, for every client. This cannot be undone.'), form);
}

// The form of a server's settings: creates one (s absent) or edits s in
// place (PATCH: name, config, require_api_token_auth, and expires_at when
// it was changed).
function serverForm(ctx, s) {
  const edit = Boolean(s);
  const cfg = s?.config || {};
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '200', autocomplete: 'off', value: s?.name ?? '' });
  const tags = h('input', { type: 'text', name: 'tags', autocomplete: 'off', placeholder: 'e.g. itsm, queues', value: (cfg.tags || []).join(', ') });
  const projects = h('input', { type: 'text', name: 'projects', autocomplete: 'off', placeholder: 'e.g. ITSM', value: (cfg.projects || []).join(', ') });
  const expiresWas = localInput(s?.expires_at);
  const expires = h('input', { type: 'datetime-local', name: 'expires_at', step: '1', value: expiresWas });
  const reqTok = h('input', { type: 'checkbox', name: 'require_api_token_auth', checked: Boolean(s?.require_api_token_auth) });
  const preview = h('div', { class: 'field', 'aria-live': 'polite', id: edit ? 'tool-preview-edit' : 'tool-preview' });
  const methods = edit ? METHODS.map(([v, t]) => [v, t, (cfg.methods || []).includes(v)]) : METHODS;
  const exposure = cfg.tool_exposure || 'all';
  const form = h('form', { 'aria-label': edit ? `Edit ${s.name}` : 'Create MCP server' },
    field('Name', '/name', name),
    choices('Methods', '/config/methods', 'checkbox', 'methods', methods, 'None ticked: all methods.'),
    field('Tags', '/config/tags', tags, 'Comma-separated; only tools with one of these tags. Empty: all.'),
    field('Projects', '/config/projects', projects, 'Comma-separated Jira project keys the tools may touch. Empty: all.'),
    field('Expires at (your local time)', '/expires_at', expires, 'Empty: never expires.'),
    h('div', { class: 'field', dataset: { field: '/require_api_token_auth' } },
      h('label', {}, reqTok, ' Require an API token'),
      h('p', { class: 'hint' }, 'Clients must also send Authorization: Bearer <workspace API key>.'),
      h('p', { class: 'err', dataset: { errFor: '/require_api_token_auth' } })),
    choices('Tool exposure', '/config/tool_exposure', 'radio', edit ? 'tool_exposure_edit' : 'tool_exposure',
      [['all', 'all tools listed', exposure === 'all'], ['discovery', 'discovery (search, describe, call)', exposure === 'discovery']],
      'Discovery lists three meta tools instead of every tool: for clients with small tool budgets.'),
    preview, formError(), h('button', { type: 'submit' }, edit ? 'Save changes' : 'Create MCP server'));

  const config = () => {
    const c = {};
    const m = checked(form, 'methods');
    if (m.length) c.methods = m;
    if (list(tags.value).length) c.tags = list(tags.value);
    if (list(projects.value).length) c.projects = list(projects.value.toUpperCase());
    c.tool_exposure = checked(form, edit ? 'tool_exposure_edit' : 'tool_exposure')[0] || 'all';
    return c;
  };
  let timer;
  let gen = 0;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++gen;
      let t;
      try {
        t = await toolsFor(config());
      } catch (e) {
        if (mine === gen) preview.replaceChildren(h('p', { class: 'err' }, `These filters are not valid: ${e.message}`));
        return;
      }
      if (mine !== gen) return;
      if (!t) {
        preview.replaceChildren(h('p', { class: 'muted', dataset: { count: 'unknown' } }, 'Tools these filters leave: unknown (this API does not list tools).'));
        return;
      }
      preview.replaceChildren(
        h('p', { dataset: { count: String(t.count) } }, h('strong', {}, `${t.count} tool${t.count === 1 ? '' : 's'}`),
          t.count ? ' match these filters' : ' match these filters: widen them, a server needs at least one tool',
          t.discovery ? ' (offered through the discovery meta tools)' : '', t.count ? ':' : '.'),
        t.count ? h('ul', { class: 'tools' }, t.result.map((x) => h('li', {}, h('code', {}, x.name), x.title ? ` — ${x.title}` : ''))) : '');
    }, 200);
  };
  form.addEventListener('input', refresh);
  form.addEventListener('change', refresh);
  refresh();

  onSubmit(form, async () => {
    const body = { name: name.value.trim(), config: config(), require_api_token_auth: reqTok.checked };
    if (expires.value && (!edit || expires.value !== expiresWas)) {
      body.expires_at = toRfc3339(expires.value);
      if (!body.expires_at) throw new ApiError(400, 'Not a date and time.', '/expires_at');
    } else if (edit && !expires.value && expiresWas) {
      body.expires_at = null;
    }
    if (edit) {
      const r = await call('PATCH', `/integrated-account/${ctx.id}/mcp/${s.id}`, body);
      ctx.actions.replaceChildren();
      announce(`${r.name} saved: its clients see the change at once.`);
      await ctx.reload();
      return;
    }
    const created = await call('POST', `/integrated-account/${ctx.id}/mcp`, body);
    form.reset();
    refresh();
    showOnce(ctx, created);
    await ctx.reload();
  });
  return form;
}

function editPanel(ctx, s) {
  serverPanel(ctx, `Settings of ${s.name}`, serverForm(ctx, s));
}

// ---- the URL, shown once, with client snippets ----

function snippet(title, text, label) {
  return [h('h4', {}, title), h('pre', {}, h('code', {}, text)), copyButton(() => text, label)];
}

function showOnce(ctx, s) {
  const url = s.url;
  const desktop = { mcpServers: { 'jira-service-management': { command: 'npx', args: ['-y', 'mcp-remote', url] } } };
  if (s.require_api_token_auth) {
    desktop.mcpServers['jira-service-management'].args.push('--header', 'Authorization:${JSMCP_AUTH}');
    desktop.mcpServers['jira-service-management'].env = { JSMCP_AUTH: 'Bearer <workspace API key>' };
  }
  // Claude Code's --transport http takes the URL as it is; the Inspector CLI
  // needs the <url>/mcp form (README, "Connecting clients").
  const auth = s.require_api_token_auth ? ' --header "Authorization: Bearer <workspace API key>"' : '';
  const claudeCode = `claude mcp add --transport http${auth} jira-service-management ${url}`;
  const inspector = `npx @modelcontextprotocol/inspector --cli ${url}/mcp${auth} --method tools/list`;
  const input = h('input', { type: 'text', id: 'mcp-url', readOnly: true, value: url });
  const box = h('section', { class: 'panel secret', 'aria-labelledby': 'once-title' },
    h('h2', { id: 'once-title', tabindex: '-1' }, `URL of ${s.name}: copy it now, it is shown only once`),
    h('div', { class: 'field' }, h('label', { class: 'l', for: 'mcp-url' }, 'MCP server URL'),
      h('div', { class: 'copyline' }, input, copyButton(() => url, 'Copy URL'))),
    s.previous_url_expires_at ? h('p', {}, 'The previous URL keeps working until ', when(s.previous_url_expires_at), '.') : null,
    s.require_api_token_auth ? h('p', {}, 'This server requires clients to send Authorization: Bearer <workspace API key>.') : null,
    snippet('Claude Desktop (claude_desktop_config.json, through mcp-remote)', JSON.stringify(desktop, null, 2), 'Copy Claude Desktop config'),
    snippet('Claude (Settings → Connectors → Add custom connector: remote MCP server URL)', url, 'Copy connector URL for Claude'),
    snippet('ChatGPT (Settings → Connectors → Create: MCP server URL)', url, 'Copy connector URL for ChatGPT'),
    snippet('Claude Code (terminal)', claudeCode, 'Copy Claude Code command'),
    snippet('MCP Inspector CLI (it picks the transport from the URL\'s last segment: /mcp or /sse)', inspector,
      'Copy MCP Inspector command'),
    h('p', {}, h('button', { type: 'button', onclick: () => { ctx.secret.replaceChildren(); ctx.secret.focus(); } }, 'Done: hide the URL')));
  ctx.secret.replaceChildren(box);
  box.querySelector('h2').focus();
  announce(`Server ${s.name} ready: copy its URL now.`);
}

// ---- start ----

document.getElementById('signout').addEventListener('click', () => {
  session.clear();
  announce('Signed out.');
  location.hash = '#/signin';
});
window.addEventListener('hashchange', render);
render();
