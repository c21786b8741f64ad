// JSM sandbox behaviour that clients depend on: auth failures per URL root,
// the removed legacy search, paging to the end in each API family, JQL
// errors, rate-limit 429s and their headers, OAuth 3LO with refresh-token
// rotation, fault injection, the request log and data-set reset.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASIC, assertSchema, requireSandbox, startSandbox } from './lib/sandbox.mjs';

requireSandbox();
const SD = '/rest/servicedeskapi';
const q = encodeURIComponent;

describe('jsm-sandbox behaviour', () => {
  let sb, state;
  before(async () => {
    sb = await startSandbox('sandbox_behaviour', { JSM_SANDBOX_REFRESH_LEEWAY: '5', JSM_SANDBOX_SEED: '7' });
    state = (await sb.call('GET', '/__sandbox/state', { auth: null })).json;
  });
  after(async () => {
    await sb?.stop();
  });

  test('seeded data: desks 1-3, ITSM, article issues, queues', async () => {
    assert.deepEqual(state.desks.map((d) => d.id), [1, 2, 3]);
    assert.ok(state.issues >= 500);
    assert.equal(state.desks[1].projectKey, 'ITSM');
    assert.notEqual(state.customFields.requestType, 10010, 'custom field ids move with the seed');
    let r = await sb.call('GET', '/rest/api/3/issue/ITSM-994?fields=reporter,comment,description');
    assert.equal(r.json.fields.reporter.accountId, '5b10ac8d82e05b22cc7d4ef5');
    assert.equal(r.json.fields.description.type, 'doc');
    assert.ok(r.json.fields.comment.total >= 5);
    r = await sb.call('GET', '/rest/api/3/issue/itsm-1042/comment');
    assert.ok(r.json.comments.some((c) => JSON.stringify(c.body).includes('device logs')));
    r = await sb.call('GET', `${SD}/servicedesk/projectKey:ITSM/queue`);
    const no = r.json.values.find((v) => v.name === 'Network Outages');
    r = await sb.call('GET', `${SD}/servicedesk/2/queue/${no.id}/issue?limit=5`);
    assert.equal(r.json.values.length, 5);
    const created = r.json.values.map((v) => Date.parse(v.fields.created.replace(/(\d\d)(\d\d)$/, '$1:$2')));
    assert.deepEqual([...created].sort((a, b) => a - b), created, 'oldest first');
    assert.deepEqual(Object.keys(r.json.values[0].fields).sort(), ['created', 'duedate', 'issuetype', 'reporter', 'summary']);
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q(`cf[${state.customFields.requestType}] = "Report a network outage" AND project = ITSM`)}&fields=key`);
    assert.equal(r.status, 200);
    assert.ok(r.json.issues.length > 0);
  });

  test('auth: site 401 text/plain, gateway code/message, X-AAccountId', async () => {
    let r = await sb.call('GET', '/rest/api/3/myself', { auth: null });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    assert.equal(r.text, 'Client must be authenticated to access this resource.');
    r = await sb.call('GET', '/rest/api/3/myself', { auth: 'Basic ' + Buffer.from('agent@sandbox.test:wrong').toString('base64') });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('x-seraph-loginreason'), 'AUTHENTICATED_FAILED');
    r = await sb.call('GET', `/ex/jira/${state.cloudId}/rest/api/3/myself`, { auth: 'Bearer nope' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { code: 401, message: 'Unauthorized' });
    r = await sb.call('GET', '/ex/jira/00000000-0000-0000-0000-000000000000/rest/api/3/myself');
    assert.equal(r.status, 404);
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.headers.get('x-aaccountid'), state.caller.accountId);
    r = await sb.call('GET', '/_edge/tenant_info', { auth: null });
    assert.deepEqual(r.json, { cloudId: state.cloudId });
  });

  test('legacy /rest/api/{2,3}/search answers 410', async () => {
    for (const v of [2, 3])
      for (const m of ['GET', 'POST']) {
        const r = await sb.call(m, `/rest/api/${v}/search?jql=project=ITSM`, m === 'POST' ? { body: { jql: 'project = ITSM' } } : {});
        assert.equal(r.status, 410);
        assert.match(r.json.errorMessages[0], /^The requested API has been removed\. Please migrate to the \/rest\/api\/3\/search\/jql API/);
        assert.deepEqual(r.json.errors, {});
      }
  });

  test('paging: search/jql nextPageToken to the end, clamping, bad tokens', async () => {
    const jql = 'project = HELP ORDER BY key ASC';
    const count = (await sb.call('POST', '/rest/api/3/search/approximate-count', { body: { jql } })).json.count;
    const seen = [];
    let token;
    let pages = 0;
    do {
      const r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql, maxResults: 50, nextPageToken: token, fields: ['key'] } });
      assert.equal(r.status, 200);
      assert.equal(r.json.total, undefined, 'no total');
      seen.push(...r.json.issues.map((i) => i.key));
      token = r.json.nextPageToken;
      assert.equal(r.json.isLast, token === undefined, 'token absent exactly on the last page');
      pages++;
    } while (token && pages < 100);
    assert.equal(seen.length, count);
    assert.equal(new Set(seen).size, count);
    assert.equal(pages, Math.ceil(count / 50));
    let r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q('project = ITSM')}&fields=summary&maxResults=1000`);
    assert.equal(r.json.issues.length, 100, 'clamped to 100 with fields');
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q('project = ITSM')}&fields=id&maxResults=1000`);
    assert.equal(r.json.issues.length, 1000, 'up to 5000 for id/key only');
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q('project = ITSM')}&maxResults=10`);
    const tok = r.json.nextPageToken;
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q('project = ITSM')}&nextPageToken=${tok}x`);
    assert.equal(r.status, 400);
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q('project = HELP')}&nextPageToken=${tok}`);
    assert.equal(r.status, 400, 'token is bound to its query');
    assert.deepEqual(Object.keys(r.json), ['errorMessages', 'errors']);
  });

  test('paging: servicedeskapi start/limit/_links to the end', async () => {
    let url = `${SD}/request?requestOwnership=ALL_REQUESTS&serviceDeskId=1&limit=40`;
    const seen = new Set();
    let pages = 0;
    for (;;) {
      const r = await sb.call('GET', url);
      assert.equal(r.status, 200);
      for (const v of r.json.values) seen.add(v.issueKey);
      assert.equal(r.json.size, r.json.values.length);
      pages++;
      if (r.json.isLastPage) {
        assert.equal(r.json._links.next, undefined);
        break;
      }
      url = new URL(r.json._links.next).pathname + new URL(r.json._links.next).search;
      assert.ok(pages < 50);
    }
    assert.equal(seen.size, state.desks[0].issues);
    const r = await sb.call('GET', `${SD}/servicedesk/2/queue/10/issue?limit=500`);
    assert.equal(r.json.limit, 500, 'the asked limit is echoed');
    assert.equal(r.json.size, 50, 'but at most 50 come back');
    assert.equal(r.json.values.length, 50);
    assert.equal(r.json.isLastPage, false, 'size < limit does not mean the last page');
    assert.match(r.json._links.next, /start=50&limit=500$/);
  });

  test('paging: platform startAt/maxResults/total on comments', async () => {
    let start = 0;
    const ids = [];
    let total;
    do {
      const r = await sb.call('GET', `/rest/api/3/issue/ITSM-994/comment?startAt=${start}&maxResults=2`);
      total = r.json.total;
      assert.equal(r.json.startAt, start);
      ids.push(...r.json.comments.map((c) => c.id));
      start += 2;
    } while (start < total);
    assert.equal(ids.length, total);
    const r = await sb.call('GET', '/rest/api/3/issue/ITSM-994/comment?orderBy=priority');
    assert.equal(r.status, 400);
  });

  test('JQL errors answer 400 with Jira messages', async () => {
    const cases = [
      ['project = ITSM AND (status = Open', "Error in the JQL Query: Expecting ')' before the end of the query."],
      ['project = ITSM AND summary ~ foo@bar', "Error in the JQL Query: The character '@' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0040' instead. (line 1, character 33)"],
      ['resolutionx = Unresolved', "Field 'resolutionx' does not exist or you do not have permission to view it."],
      ['project = VULN', "The value 'VULN' does not exist for the field 'project'."],
      ['project = ITSM AND created >= yesterday', "Date value 'yesterday' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."],
      ['project = ITSM AND assignee = foo()', "Unable to find JQL function 'foo()'."],
      ['project = ITSM foo', "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 16)"],
      ['status ~ Open', "The operator '~' is not supported by the 'status' field."],
      ['order by key desc', 'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.'],
      ['', 'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.'],
    ];
    for (const [jql, msg] of cases) {
      const r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql } });
      assert.equal(r.status, 400, jql);
      assert.deepEqual(r.json, { errorMessages: [msg], errors: {} }, jql);
    }
    const ok = [
      'project = ITSM AND statusCategory != Done AND priority in (Highest, High) ORDER BY priority DESC, created ASC',
      'project in (ITSM, HELP) AND assignee = currentUser() AND created >= -30d',
      'project = ITSM AND assignee is EMPTY AND resolution = Unresolved ORDER BY "Time to resolution" ASC',
      'text ~ "VPN" AND NOT status = Closed',
      'project = ITSM AND "Time to resolution" = breached() AND updated >= startOfMonth(-1M) AND created > startOfDay(-1)',
      'key = ITSM-994 OR issuekey in (ITSM-1042) ORDER BY key',
      'reporter = "5b10ac8d82e05b22cc7d4ef5" AND labels = vpn',
      'project = ITSM AND created >= "2020-01-01" AND due <= 2100/01/01',
    ];
    for (const jql of ok) {
      const r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql, maxResults: 5 } });
      assert.equal(r.status, 200, `${jql}: ${r.text}`);
    }
    const r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql: 'key = ITSM-994 OR issuekey in (ITSM-1042) ORDER BY key', fields: ['key'] } });
    assert.deepEqual(r.json.issues.map((i) => i.key), ['ITSM-994', 'ITSM-1042'], 'keys sort by number');
  });

  test('rate limits: burst 429 headers and body, per-issue writes, forced 429', async () => {
    /* scale 0.001: one request per second (the floor), so a second call within a second is limited */
    let r = await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { scale: 0.001 } });
    assert.equal(r.status, 200);
    const codes = [];
    let limited;
    for (let i = 0; i < 5; i++) {
      r = await sb.call('GET', '/rest/api/3/field');
      codes.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.ok(codes.includes(429), `codes ${codes}`);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(limited.headers.get('x-ratelimit-limit'), '1');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.match(limited.headers.get('x-ratelimit-reset'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(limited.headers.get('ratelimit-reason'), 'jira-burst-based');
    assert.equal(limited.headers.get('x-ratelimit-nearlimit'), null, 'only the points quota says NearLimit (JRACLOUD-83791)');
    assert.deepEqual(limited.json, { errorMessages: ['The request has been rate-limited. Please try again later.'], errors: {}, status: 429 });
    r = await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { scale: 1000, perIssue2s: 1 } });
    const adf = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'x' }] }] };
    const w = [];
    for (let i = 0; i < 2; i++) w.push(await sb.call('POST', '/rest/api/3/issue/HELP-5/comment', { body: { body: adf } }));
    assert.deepEqual(w.map((x) => x.status), [201, 429]);
    assert.equal(w[1].headers.get('ratelimit-reason'), 'jira-per-issue-on-write');
    assert.ok(Number(w[1].headers.get('retry-after')) >= 1);
    r = await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { perIssue2s: 20 } });
    r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { rate429: 1, count: 1 } });
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 429);
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 200, 'count=1 applies to one request only');
    r = await sb.call('GET', '/__sandbox/counters', { auth: null });
    assert.ok(r.json.rateLimited >= 3);
  });

  test('faults: injected 5xx, connection resets, truncated responses, request log', async () => {
    const since = (await sb.call('GET', '/__sandbox/requests?limit=1', { auth: null })).json.lastSeq;
    let r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { errorRate: 1, errorStatus: 502, count: 2, pathPrefix: '/rest/servicedeskapi' } });
    assert.equal(r.status, 200);
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 200, 'other paths untouched');
    assert.equal((await sb.call('GET', `${SD}/servicedesk`)).status, 502);
    assert.equal((await sb.call('GET', `${SD}/servicedesk`)).status, 502);
    assert.equal((await sb.call('GET', `${SD}/servicedesk`)).status, 200);
    // A reset is a TCP RST with no answer at all; a truncation is a 200
    // whose body stops in the middle.
    await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { resetRate: 1, count: 1 } });
    r = await sb.call('GET', '/rest/api/3/myself').catch((e) => ({ error: e }));
    assert.ok(r.error, 'no answer');
    assert.equal(r.error.cause?.code, 'ECONNRESET', String(r.error.cause ?? r.error));
    await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { truncateRate: 1, count: 1 } });
    r = await sb.call('GET', '/rest/api/3/myself').catch((e) => ({ error: e }));
    assert.ok(r.error || r.json === undefined, 'cut-off body is not JSON');
    assert.notEqual(r.error?.cause?.code, 'ECONNRESET', 'closed, not reset');
    assert.equal((await sb.call('GET', '/rest/api/3/myself')).status, 200, 'count: 1 applied once');
    r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { latencyMs: 20, jitterMs: 10, count: 1 } });
    assert.equal((await sb.call('GET', '/rest/api/3/myself')).status, 200);
    r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { errorRate: 2 } });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    r = await sb.call('GET', `/__sandbox/requests?since=${since}`, { auth: null });
    const paths = r.json.entries.map((e) => `${e.status} ${e.path}`);
    assert.ok(paths.includes(`502 ${SD}/servicedesk`), paths.join('\n'));
    assert.ok(r.json.entries.every((e) => e.seq > since));
  });

  test('holds: counters.held counts requests held by latency, POST /__sandbox/release answers them now', async () => {
    let r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { latencyMs: 600000, pathPrefix: '/rest/api/3/myself' } });
    assert.equal(r.status, 200);
    assert.equal((await sb.call('GET', '/__sandbox/counters', { auth: null })).json.held, 0);
    const held = [sb.call('GET', '/rest/api/3/myself'), sb.call('GET', '/rest/api/3/myself')];
    for (;;) { // the two requests arrive at the sandbox (bounded by the test's timeout)
      if ((await sb.call('GET', '/__sandbox/counters', { auth: null })).json.held === 2) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal((await sb.call('GET', `${SD}/servicedesk`)).status, 200, 'other paths are not held');
    await sb.call('DELETE', '/__sandbox/faults', { auth: null });
    r = await sb.call('POST', '/__sandbox/release', { auth: null });
    assert.deepEqual(r.json, { released: 2 });
    for (const h of await Promise.all(held)) assert.equal(h.json.emailAddress, 'agent@sandbox.test');
    assert.equal((await sb.call('GET', '/__sandbox/counters', { auth: null })).json.held, 0);
    assert.deepEqual((await sb.call('POST', '/__sandbox/release', { auth: null })).json, { released: 0 });
  });

  test('OAuth 3LO: authorize, exchange, gateway calls, rotation, expiry', async () => {
    const redirect = 'http://127.0.0.1:1/callback';
    let r = await sb.call('GET', `/authorize?audience=api.atlassian.com&client_id=sandbox-client-id&scope=${q('read:jira-work offline_access')}&redirect_uri=${q(redirect)}&state=xyz%201&response_type=code&prompt=consent`, { auth: null });
    assert.equal(r.status, 302);
    const loc = new URL(r.headers.get('location'));
    assert.equal(loc.origin + loc.pathname, redirect);
    assert.equal(loc.searchParams.get('state'), 'xyz 1');
    const code = loc.searchParams.get('code');
    const before = (await sb.call('GET', '/__sandbox/counters', { auth: null })).json.tokenRequests;
    const tok = (body) => sb.call('POST', '/oauth/token', { auth: null, body: { client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret', ...body } });
    r = await tok({ grant_type: 'authorization_code', code, redirect_uri: redirect });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.expires_in, 3600);
    const first = r.json;
    r = await tok({ grant_type: 'authorization_code', code, redirect_uri: redirect });
    assert.equal(r.status, 403, 'codes are single use');
    const gw = `/ex/jira/${state.cloudId}`;
    r = await sb.call('GET', `${gw}/rest/api/3/issue/ITSM-994?fields=summary`, { auth: `Bearer ${first.access_token}` });
    assert.equal(r.status, 200);
    assert.ok(r.json.self.includes(gw), 'self links under the gateway root');
    r = await sb.call('GET', `${gw}${SD}/servicedesk`, { auth: `Bearer ${first.access_token}` });
    assert.equal(r.status, 200);
    r = await sb.call('GET', '/oauth/token/accessible-resources', { auth: `Bearer ${first.access_token}` });
    assert.equal(r.json[0].id, state.cloudId);
    r = await tok({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(r.status, 200);
    const second = r.json;
    assert.notEqual(second.refresh_token, first.refresh_token, 'refresh token rotates');
    r = await tok({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(r.status, 200, 'old refresh token works within the leeway');
    await sb.call('POST', '/__sandbox/clock', { auth: null, body: { advanceSeconds: 10 } });
    r = await tok({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    assert.equal(r.status, 403);
    assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
    r = await tok({ grant_type: 'refresh_token', refresh_token: second.refresh_token });
    assert.equal(r.status, 200, 'the newest token still works');
    const third = r.json;
    await sb.call('POST', '/__sandbox/clock', { auth: null, body: { advanceSeconds: 3601 } });
    r = await sb.call('GET', `${gw}/rest/api/3/myself`, { auth: `Bearer ${third.access_token}` });
    assert.equal(r.status, 401, 'access token expired');
    r = await tok({ grant_type: 'refresh_token', refresh_token: 'r1.nope' });
    assert.equal(r.status, 403);
    r = await sb.call('POST', '/oauth/token', { auth: null, body: { grant_type: 'refresh_token', client_id: 'sandbox-client-id', client_secret: 'bad', refresh_token: third.refresh_token } });
    assert.equal(r.status, 401);
    const after_ = (await sb.call('GET', '/__sandbox/counters', { auth: null })).json.tokenRequests;
    assert.equal(after_.refresh_token - before.refresh_token, 6);
    assert.equal(after_.authorization_code - before.authorization_code, 2);
  });

  async function oauthTokens(scope = 'read:jira-work read:jira-user offline_access') {
    const redirect = 'http://127.0.0.1:1/cb';
    const r = await sb.call('GET', `/authorize?client_id=sandbox-client-id&scope=${q(scope)}&redirect_uri=${q(redirect)}&state=s&response_type=code`, { auth: null });
    const code = new URL(r.headers.get('location')).searchParams.get('code');
    const t = await sb.call('POST', '/oauth/token', {
      auth: null,
      body: { grant_type: 'authorization_code', client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret', code, redirect_uri: redirect },
    });
    assert.equal(t.status, 200);
    return t.json;
  }

  test('points quota: OAuth apps hit a hard hourly wall, API tokens are exempt', async () => {
    const { access_token } = await oauthTokens();
    let r = await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { quotaPoints: 5 } });
    assert.equal(r.json.quotaPoints, 5);
    const gw = `/ex/jira/${state.cloudId}/rest/api/3/myself`;
    r = await sb.call('GET', gw, { auth: `Bearer ${access_token}` });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('ratelimit-policy'), '"tenant-app-quota";q=5;w=3600');
    r = await sb.call('GET', gw, { auth: `Bearer ${access_token}` });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('ratelimit'), /^"tenant-app-quota";r=0;t=\d+$/);
    assert.equal(r.headers.get('x-ratelimit-nearlimit'), 'true');
    r = await sb.call('GET', gw, { auth: `Bearer ${access_token}` });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('ratelimit-reason'), 'jira-quota-tenant-based');
    assert.ok(Number(r.headers.get('retry-after')) <= 3600);
    assert.match(r.headers.get('x-ratelimit-reset'), /^\d{4}-\d\d-\d\dT\d\d:00:00Z$/, 'resets at the top of the hour');
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 200, 'API-token traffic is exempt');
    await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { quotaPoints: 0 } });
    r = await sb.call('GET', gw, { auth: `Bearer ${access_token}` });
    assert.equal(r.status, 200);
  });

  test('GET /request lists the caller\'s own requests by default', async () => {
    const r = await sb.call('GET', `${SD}/request`);
    assert.equal(r.status, 200);
    assert.ok(r.json.values.length > 0);
    assert.ok(r.json.values.every((v) => v.reporter.accountId === state.caller.accountId));
  });

  test('bad input: 4xx in the family\'s error shape, nothing half-applied', async () => {
    const platform = [
      ['POST', '/rest/api/3/issue/HELP-9/comment', { body: 'plain string, not ADF' }, 'comment'],
      ['POST', '/rest/api/3/issue/HELP-9/comment', { body: { type: 'doc', version: 1, content: [] } }, 'comment'],
      ['PUT', '/rest/api/3/issue/HELP-9', { fields: { summary: 'new', priority: { id: '99' } } }, 'priority'],
      ['POST', '/rest/api/3/issue', { fields: { project: { key: 'HELP' }, issuetype: { name: 'Incident' }, summary: 'x', foo: 1 } }, 'foo'],
      ['POST', '/rest/api/3/issue/HELP-9/worklog', { timeSpentSeconds: 1e12 }, 'timeLogged'],
      // Over ten years, or past 32 bits when summed (it overflowed an int: UBSan).
      ['POST', '/rest/api/3/issue/HELP-9/worklog', { timeSpent: '100000w' }, 'timeLogged'],
      ['POST', '/rest/api/3/issue/HELP-9/worklog', { timeSpent: '99999d 99999d 99999d 99999d' }, 'timeLogged'],
      ['PUT', '/rest/api/3/issue/HELP-9/assignee', { accountId: 'qm:nobody' }, 'assignee'],
    ];
    for (const [m, p, body, field] of platform) {
      const r = await sb.call(m, p, { body });
      assert.equal(r.status, 400, `${m} ${p}: ${r.text}`);
      assert.deepEqual(r.json.errorMessages, []);
      assert.ok(r.json.errors[field], `${m} ${p}: ${r.text}`);
    }
    let r = await sb.call('GET', '/rest/api/3/issue/HELP-9?fields=summary');
    assert.notEqual(r.json.fields.summary, 'new', 'a rejected edit changes nothing');
    r = await sb.call('POST', '/rest/api/3/search/jql', { body: '{"jql": ' });
    assert.equal(r.status, 400);
    assert.ok(Array.isArray(r.json.errorMessages));
    for (const [m, p, body] of [
      ['POST', `${SD}/request`, { serviceDeskId: '2', requestTypeId: '13', requestFieldValues: { summary: 'x', bogus: 1 } }],
      ['POST', `${SD}/request/HELP-9/comment`, { body: 'x' }],
      ['POST', `${SD}/request`, '{not json'],
      ['POST', `${SD}/organization`, { name: '' }],
    ]) {
      r = await sb.call(m, p, { body });
      assert.equal(r.status, 400, `${m} ${p}: ${r.text}`);
      assert.equal(typeof r.json.errorMessage, 'string');
      assert.deepEqual(r.json.i18nErrorMessage.parameters, []);
    }
  });

  test('writes change the data set; reset restores it', async () => {
    let r = await sb.call('POST', `${SD}/request`, { body: { serviceDeskId: '3', requestTypeId: '22', requestFieldValues: { summary: 'Desk lamp' } } });
    assert.equal(r.status, 201);
    const key = r.json.issueKey;
    r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql: 'project = HW AND summary ~ "Desk lamp"', fields: ['key'] } });
    assert.deepEqual(r.json.issues.map((i) => i.key), [key]);
    r = await sb.call('POST', '/__sandbox/reset', { auth: null });
    assert.equal(r.status, 200);
    r = await sb.call('GET', `/rest/api/3/issue/${key}`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} });
  });
});

describe('jsm-sandbox OAuth scope checks (JSM_SANDBOX_OAUTH_SCOPE_CHECK=1)', () => {
  let sb;
  before(async () => {
    sb = await startSandbox('sandbox_scopes', { JSM_SANDBOX_OAUTH_SCOPE_CHECK: '1' });
  });
  after(async () => {
    await sb?.stop();
  });

  test('a token without the operation\'s scope gets the gateway 401', async () => {
    const cloud = (await sb.call('GET', '/__sandbox/state', { auth: null })).json.cloudId;
    const redirect = 'http://127.0.0.1:1/cb';
    let r = await sb.call('GET', `/authorize?client_id=sandbox-client-id&scope=${q('read:jira-work')}&redirect_uri=${q(redirect)}&response_type=code`, { auth: null });
    const code = new URL(r.headers.get('location')).searchParams.get('code');
    r = await sb.call('POST', '/oauth/token', {
      auth: null,
      body: { grant_type: 'authorization_code', client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret', code, redirect_uri: redirect },
    });
    assert.equal(r.json.refresh_token, undefined, 'no refresh token without offline_access');
    const auth = `Bearer ${r.json.access_token}`;
    r = await sb.call('GET', `/ex/jira/${cloud}/rest/api/3/issue/ITSM-994?fields=summary`, { auth });
    assert.equal(r.status, 200);
    r = await sb.call('GET', `/ex/jira/${cloud}/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5`, { auth });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { code: 401, message: 'Unauthorized; scope does not match' });
  });
});

describe('jsm-sandbox eventual consistency and legacy search mode', () => {
  let sb;
  before(async () => {
    sb = await startSandbox('sandbox_lag', { JSM_SANDBOX_SEARCH_LAG_MS: '60000', JSM_SANDBOX_LEGACY_SEARCH: '1' });
  });
  after(async () => {
    await sb?.stop();
  });

  test('new issues reach search/jql after the lag unless reconciled', async () => {
    let r = await sb.call('POST', `${SD}/request`, { body: { serviceDeskId: '1', requestTypeId: '1', requestFieldValues: { summary: 'Fresh one' } } });
    assert.equal(r.status, 201);
    const id = Number(r.json.issueId);
    const jql = 'project = HELP AND summary ~ "Fresh one"';
    r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql } });
    assert.deepEqual(r.json.issues, [], 'not indexed yet');
    r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql, reconcileIssues: [id] } });
    assert.deepEqual(r.json.issues, [{ id: String(id) }], 'read-after-write with reconcileIssues');
    r = await sb.call('GET', `/rest/api/3/search/jql?jql=${q(jql)}&reconcileIssues=1,${id}`);
    assert.equal(r.json.issues.length, 1);
    r = await sb.call('GET', `/rest/api/3/issue/${id}?fields=summary`);
    assert.equal(r.status, 200, 'GET issue is immediate');
    await sb.call('POST', '/__sandbox/clock', { auth: null, body: { advanceSeconds: 61 } });
    r = await sb.call('POST', '/rest/api/3/search/jql', { body: { jql } });
    assert.equal(r.json.issues.length, 1);
  });

  test('legacy mode serves startAt/maxResults/total on /rest/api/{2,3}/search', async () => {
    const r = await sb.call('GET', `/rest/api/3/search?jql=${q('project = HELP')}&startAt=10&maxResults=5`);
    assertSchema('platform', 'GET', '/rest/api/3/search', r, 200);
    assert.equal(r.json.startAt, 10);
    assert.equal(r.json.issues.length, 5);
    assert.ok(r.json.total >= 180);
    assert.ok(r.json.issues[0].fields.summary, 'navigable fields by default');
    const p = await sb.call('POST', '/rest/api/2/search', { body: { jql: '', maxResults: 1 } });
    assert.equal(p.status, 200, 'an empty JQL returned everything');
  });
});

describe('jsm-sandbox as seen by a portal customer', () => {
  let sb;
  const CUSTOMER = 'Basic ' + Buffer.from('customer01@customer.example.com:sandbox-customer-token').toString('base64');
  before(async () => {
    sb = await startSandbox('sandbox_customer');
  });
  after(async () => {
    await sb?.stop();
  });

  test('own requests only, public comments only, agent endpoints refused', async () => {
    let r = await sb.call('GET', `${SD}/request?limit=100`, { auth: CUSTOMER });
    assert.equal(r.status, 200);
    assert.ok(r.json.values.length > 0);
    const mine = r.json.values[0].issueKey;
    const jql = 'project in (HELP, ITSM, HW)';
    const theirs = (await sb.call('POST', '/rest/api/3/search/approximate-count', { auth: CUSTOMER, body: { jql } })).json.count;
    const all = (await sb.call('POST', '/rest/api/3/search/approximate-count', { body: { jql } })).json.count;
    assert.ok(theirs > 0 && theirs < all / 2, `search sees only what the customer may see (${theirs} of ${all})`);
    r = await sb.call('POST', '/rest/api/3/search/jql', { auth: CUSTOMER, body: { jql, maxResults: 100, fields: ['reporter'] } });
    assert.equal(r.status, 200);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-994', { auth: CUSTOMER });
    assert.equal(r.status, 404, 'someone else\'s issue: the same 404 as a missing one');
    assert.deepEqual(r.json, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} });
    r = await sb.call('POST', `${SD}/request/${mine}/comment`, { auth: CUSTOMER, body: { body: 'secret', public: false } });
    assert.equal(r.status, 400, 'customers post public comments only');
    r = await sb.call('POST', `${SD}/request/${mine}/comment`, { body: { body: 'agent-only note', public: false } });
    assert.equal(r.status, 201);
    r = await sb.call('GET', `${SD}/request/${mine}/comment?internal=true`, { auth: CUSTOMER });
    assert.ok(r.json.values.every((c) => c.public), 'internal comments are hidden from customers');
    r = await sb.call('GET', `${SD}/request/${mine}/comment`);
    assert.ok(r.json.values.some((c) => !c.public), 'the agent sees them');
    r = await sb.call('GET', `${SD}/servicedesk/2/queue`, { auth: CUSTOMER });
    assert.equal(r.status, 403);
    assert.equal(typeof r.json.errorMessage, 'string');
  });
});

describe('jsm-sandbox fault flags on its command line', () => {
  test('--truncate-rate 1 cuts every answer off; a rate outside [0, 1] is refused', async () => {
    const sb = await startSandbox('sandbox_truncate_flag', {}, ['--truncate-rate', '1']);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await sb.call('GET', '/rest/api/3/myself').catch((e) => ({ error: e }));
        assert.ok(r.error || r.json === undefined, `answer ${i} is cut off, not JSON`);
        assert.notEqual(r.error?.cause?.code, 'ECONNRESET', 'closed, not reset');
      }
    } finally {
      await sb.stop();
    }
    await assert.rejects(startSandbox('sandbox_truncate_bad', {}, ['--truncate-rate', '2']),
      /sandbox exited 2: .*--truncate-rate: expected a number in \[0, 1\], got '2'/s);
  });
});

// Issue 24: a buffer that fails is answered as an error, never used cut.
describe('jsm-sandbox buffer limits', () => {
  test('a JSON body over --max-response-bytes is a 500 problem, never a cut body', async () => {
    const sb = await startSandbox('sandbox_max_response', {}, ['--max-response-bytes', '2048']);
    try {
      let r = await sb.call('GET', '/rest/api/3/issue/ITSM-994');
      assert.equal(r.status, 500, r.text.slice(0, 200));
      assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
      assert.match(r.json.detail, /larger than the sandbox's --max-response-bytes/);
      r = await sb.call('GET', '/rest/api/3/issue/ITSM-994?fields=summary');
      assert.equal(r.status, 200, 'a small body of the same endpoint is whole');
      assert.equal(r.json.key, 'ITSM-994');
    } finally {
      await sb.stop();
    }
    await assert.rejects(startSandbox('sandbox_max_response_bad', {}, ['--max-response-bytes', '10']),
      /sandbox exited 2: .*--max-response-bytes/s);
  });

  test('texts at and over the 32,767 limit: whole, or refused before anything is written', async () => {
    const sb = await startSandbox('sandbox_text_limits');
    const adf = (text) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
    const TOO_LONG = /too long\. It exceeds the allowed limit of 32,767 characters/;
    try {
      const key = 'ITSM-994';
      // The longest description, all characters that escape the longest,
      // renders whole (its HTML buffer rendered it as "" before).
      const quotes = '"'.repeat(32767);
      let r = await sb.call('PUT', `/rest/api/3/issue/${key}`, { body: { fields: { description: adf(quotes) } } });
      assert.equal(r.status, 204, r.text);
      r = await sb.call('GET', `/rest/api/3/issue/${key}?fields=description&expand=renderedFields`);
      assert.equal(r.status, 200);
      assert.equal(r.json.renderedFields.description, `<p>${'&quot;'.repeat(32767)}</p>`);
      // One over: Jira's "too long", for comments, worklog comments and
      // descriptions (the ADF text buffer's failure read as "empty" or was
      // dropped).
      const over = adf('x'.repeat(32768));
      const before = (await sb.call('GET', `/rest/api/3/issue/${key}?fields=comment,worklog`)).json.fields;
      r = await sb.call('POST', `/rest/api/3/issue/${key}/comment`, { body: { body: over } });
      assert.equal(r.status, 400);
      assert.match(r.json.errors.comment, TOO_LONG);
      r = await sb.call('POST', `/rest/api/3/issue/${key}/worklog`, { body: { timeSpentSeconds: 60, comment: over } });
      assert.equal(r.status, 400);
      assert.match(r.json.errors.comment, TOO_LONG);
      r = await sb.call('PUT', `/rest/api/3/issue/${key}`, { body: { fields: { description: over } } });
      assert.equal(r.status, 400);
      assert.match(r.json.errors.description, TOO_LONG);
      const now = (await sb.call('GET', `/rest/api/3/issue/${key}?fields=comment,worklog,description`)).json.fields;
      assert.equal(now.comment.total, before.comment.total, 'no comment written');
      assert.equal(now.worklog.total, before.worklog.total, 'no worklog written');
      assert.equal(now.description.content[0].content[0].text, quotes, 'description unchanged');
      // A servicedeskapi expand list that does not fit: 400, not ignored.
      r = await sb.call('GET', `${SD}/request/${key}?expand=${'participant,'.repeat(60)}`);
      assert.equal(r.status, 400);
      assert.match(r.json.errorMessage, /expand parameter is too long/);
      r = await sb.call('GET', `${SD}/request/${key}?expand=participant,sla`);
      assert.equal(r.status, 200);
      assert.ok(r.json.participants && r.json.sla);
    } finally {
      await sb.stop();
    }
  });
});
