// jsmcp dashboard: a hash-routed single page over the admin API.
//   #/signin                                  the workspace API key
//   #/accounts                                integrated accounts: search, connect
//   #/accounts/<id>                           an account's MCP servers: create, rotate, expiry, revoke
//   #/accounts/<id>/servers/<sid>/calls       recent tool calls (audit log)
import { ApiError, call, q, session } from './api.js';
import { alertBox, announce, checked, chips, choices, clearErrors, copyButton, field, formError, h, list,
  showError, table, toRfc3339, when } from './ui.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const enc = encodeURIComponent;

const METHODS = [
  ['read', 'read (get + list)', true], ['write', 'write (create + update + delete)'],
  ['get', 'get'], ['list', 'list'], ['create', 'create'], ['update', 'update'], ['delete', 'delete'],
];

// ---- routing ----

const routes = [
  [/^#\/signin$/, signIn],
  [/^#\/accounts$/, accounts],
  [/^#\/accounts\/([0-9a-fA-F-]{36})$/, account],
  [/^#\/accounts\/([0-9a-fA-F-]{36})\/servers\/([0-9a-fA-F-]{36})\/calls$/, calls],
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

// An error outside any form: a refused key signs out, the rest is shown.
function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    session.clear();
    location.hash = '#/signin';
    setTimeout(() => alertBox('The API key was refused (revoked or unknown): sign in again.'), 50);
    return;
  }
  alertBox(e.message || String(e));
}

function heading(text) {
  const el = h('h1', { tabindex: '-1' }, text);
  main.append(el);
  el.focus();
  return el;
}

// Runs an async submit with the button disabled; API errors land next to
// the field they name.
function onSubmit(form, fn) {
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
  main.append(createForm(ctx));
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
      h('strong', {}, s.name), count, chips(s.config?.methods), chips(s.config?.tags),
      when(s.expires_at, 'never'), when(s.created_at), when(s.last_used_at, 'never'),
      h('div', { class: 'row' },
        h('a', { href: `#/accounts/${ctx.id}/servers/${s.id}/calls` }, h('span', {}, 'Calls'), h('span', { class: 'visually-hidden' }, ` of ${s.name}`)),
        actionButton(`Rotate ${s.name}`, 'Rotate', () => rotatePanel(ctx, s)),
        actionButton(`Change expiry of ${s.name}`, 'Expiry', () => expiryPanel(ctx, s)),
        actionButton(`Revoke ${s.name}`, 'Revoke', () => revokePanel(ctx, s))),
    ];
  });
  ctx.serversBox.append(table('MCP servers', ['Name', 'Tools', 'Methods', 'Tags', 'Expires', 'Created', 'Last used', 'Actions'], rows));
  if (page.next_cursor) {
    ctx.serversBox.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary',
      onclick: () => loadServers(ctx, page.next_cursor, true).catch(failed) }, 'Show more')));
  }
}

function actionButton(label, text, fn) {
  return h('button', { type: 'button', class: 'secondary', 'aria-label': label, onclick: fn }, text);
}

// One action panel at a time, under the table, focused.
function panel(ctx, title, ...kids) {
  const head = h('h3', { tabindex: '-1' }, title);
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => ctx.actions.replaceChildren() }, 'Cancel');
  ctx.actions.replaceChildren(h('div', { class: 'panel' }, head, ...kids, cancel));
  head.focus();
}

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
  panel(ctx, `Rotate the URL of ${s.name}`, h('p', {}, 'A new URL is issued and shown once.'), form);
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
  panel(ctx, `Expiry of ${s.name}`, form);
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
  panel(ctx, `Revoke ${s.name}?`, h('p', {}, 'Its URL stops working at once, for every client. This cannot be undone.'), form);
}

function createForm(ctx) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '200', autocomplete: 'off' });
  const tags = h('input', { type: 'text', name: 'tags', autocomplete: 'off', placeholder: 'e.g. itsm, queues' });
  const projects = h('input', { type: 'text', name: 'projects', autocomplete: 'off', placeholder: 'e.g. ITSM' });
  const expires = h('input', { type: 'datetime-local', name: 'expires_at', step: '1' });
  const reqTok = h('input', { type: 'checkbox', name: 'require_api_token_auth' });
  const preview = h('div', { class: 'field', 'aria-live': 'polite', id: 'tool-preview' });
  const form = h('form', { 'aria-label': 'Create MCP server' },
    field('Name', '/name', name),
    choices('Methods', '/config/methods', 'checkbox', 'methods', METHODS, 'None ticked: all methods.'),
    field('Tags', '/config/tags', tags, 'Comma-separated; only tools with one of these tags. Empty: all.'),
    field('Projects', '/config/projects', projects, 'Comma-separated Jira project keys the tools may touch. Empty: all.'),
    field('Expires at (your local time)', '/expires_at', expires, 'Empty: never expires.'),
    h('div', { class: 'field', dataset: { field: '/require_api_token_auth' } },
      h('label', {}, reqTok, ' Require an API token'),
      h('p', { class: 'hint' }, 'Clients must also send Authorization: Bearer <workspace API key>.'),
      h('p', { class: 'err', dataset: { errFor: '/require_api_token_auth' } })),
    choices('Tool exposure', '/config/tool_exposure', 'radio', 'tool_exposure',
      [['all', 'all tools listed', true], ['discovery', 'discovery (search, describe, call)']],
      'Discovery lists three meta tools instead of every tool: for clients with small tool budgets.'),
    preview, formError(), h('button', { type: 'submit' }, 'Create MCP server'));

  const config = () => {
    const c = {};
    const m = checked(form, 'methods');
    if (m.length) c.methods = m;
    if (list(tags.value).length) c.tags = list(tags.value);
    if (list(projects.value).length) c.projects = list(projects.value.toUpperCase());
    c.tool_exposure = checked(form, 'tool_exposure')[0] || 'all';
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
    if (expires.value) {
      body.expires_at = toRfc3339(expires.value);
      if (!body.expires_at) throw new ApiError(400, 'Not a date and time.', '/expires_at');
    }
    const s = await call('POST', `/integrated-account/${ctx.id}/mcp`, body);
    form.reset();
    refresh();
    showOnce(ctx, s);
    await ctx.reload();
  });
  return form;
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

// ---- recent tool calls ----

async function calls(id, sid) {
  const s = await call('GET', `/integrated-account/${id}/mcp/${sid}`).catch((e) => {
    if (e.status === 404) return { name: 'a deleted server' }; // the audit log outlives the server
    throw e;
  });
  heading(`Recent tool calls of ${s.name}`);
  const box = h('div', {});
  const load = async (cursor) => {
    const page = await call('GET', `/integrated-account/${id}/mcp/${sid}/calls${q({ next_cursor: cursor, limit: 50 })}`);
    if (!cursor) box.replaceChildren();
    box.querySelector('.more')?.remove();
    if (!page.result.length && !cursor) {
      box.append(h('p', { class: 'muted' }, 'No tool calls recorded yet (they appear a few seconds after they happen).'));
      return;
    }
    box.append(table('Recent tool calls', ['Time', 'Tool', 'Upstream status', 'Latency', 'Rate limit left', 'Error', 'Request id'],
      page.result.map((c) => [when(c.ts), h('code', {}, c.tool), String(c.upstream_status ?? '—'),
        c.latency_ms != null ? `${Number(c.latency_ms).toFixed(1)} ms` : '—', c.ratelimit?.remaining != null ? String(c.ratelimit.remaining) : '—',
        c.error_class || '—', h('code', {}, c.request_id || '—')])));
    if (page.next_cursor) {
      box.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary',
        onclick: () => load(page.next_cursor).catch(failed) }, 'Show older')));
    }
  };
  main.append(h('p', { class: 'row' }, h('a', { href: `#/accounts/${id}` }, '← MCP servers'),
    h('button', { type: 'button', class: 'secondary', onclick: () => load(null).then(() => announce('Calls refreshed.'), failed) }, 'Refresh')), box);
  await load(null);
}

// ---- start ----

document.getElementById('signout').addEventListener('click', () => {
  session.clear();
  announce('Signed out.');
  location.hash = '#/signin';
});
window.addEventListener('hashchange', render);
render();
