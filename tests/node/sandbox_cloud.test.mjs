// Where real Cloud differs from what a client may assume (issue 22): each
// test would fail on the sandbox as it was before, which agreed with those
// assumptions. Transition screens, request type forms, accountId-only
// fields, reopened requests' SLA cycles, duplicate custom field names,
// worklog start times, requestOwnership, prefix user search, privacy,
// transport (gzip, 429 styles, 503 Retry-After, NearLimit, labels) and
// the strict mode that refuses what Cloud would silently ignore.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BASIC, requireSandbox, startSandbox } from './lib/sandbox.mjs';

requireSandbox();
const SD = '/rest/servicedeskapi';
const CUSTOMER = 'Basic ' + Buffer.from('customer01@customer.example.com:sandbox-customer-token').toString('base64');
const adf = (text) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

describe('jsm-sandbox behaves like Cloud where clients assume otherwise', () => {
  let sb, fields;
  const field = (name, pred = () => true) => fields.find((f) => f.name === name && pred(f));
  before(async () => {
    sb = await startSandbox('sandbox_cloud');
    fields = (await sb.call('GET', '/rest/api/3/field')).json;
  });
  after(async () => {
    await sb?.stop();
  });

  test('1. a resolve transition has a screen with a required Resolution', async () => {
    let r = await sb.call('GET', '/rest/api/3/issue/HELP-20/transitions?expand=transitions.fields');
    assert.equal(r.status, 200);
    if (!r.json.transitions.some((t) => t.name === 'Resolve this issue')) {
      await sb.call('POST', '/rest/api/3/issue/HELP-20/transitions', { body: { transition: { id: '81' } } }); // reopen
      r = await sb.call('GET', '/rest/api/3/issue/HELP-20/transitions?expand=transitions.fields');
    }
    const resolve = r.json.transitions.find((t) => t.name === 'Resolve this issue');
    const start = r.json.transitions.find((t) => t.name !== 'Resolve this issue' && t.name !== 'Cancel request');
    assert.equal(resolve.hasScreen, true);
    assert.equal(resolve.fields.resolution.required, true);
    assert.ok(resolve.fields.resolution.allowedValues.some((v) => v.name === "Won't Do"));
    assert.equal(start.hasScreen, false);
    assert.deepEqual(start.fields, {});
    r = await sb.call('GET', '/rest/api/3/issue/HELP-20/transitions');
    assert.equal(r.json.transitions[0].fields, undefined, 'fields only with expand=transitions.fields');
    r = await sb.call('POST', '/rest/api/3/issue/HELP-20/transitions', { body: { transition: { id: resolve.id } } });
    assert.equal(r.status, 400, 'a resolve without its required Resolution');
    assert.deepEqual(r.json, { errorMessages: ['Field Resolution is required.'], errors: {} });
    r = await sb.call('POST', '/rest/api/3/issue/HELP-20/transitions', { body: { transition: { id: start.id }, fields: { resolution: { name: 'Done' } } } });
    assert.equal(r.status, 400, 'resolution is not on that transition\'s screen');
    assert.match(r.json.errors.resolution, /cannot be set\. It is not on the appropriate screen/);
    r = await sb.call('POST', '/rest/api/3/issue/HELP-20/transitions', {
      body: { transition: { id: resolve.id }, fields: { resolution: { name: "Won't Do" } }, update: { comment: [{ add: { body: adf('Duplicate of the VPN outage') } }] } },
    });
    assert.equal(r.status, 204);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-20?fields=status,resolution,comment');
    assert.equal(r.json.fields.status.name, 'Resolved');
    assert.equal(r.json.fields.resolution.name, "Won't Do", 'the resolution given, not a default');
    assert.ok(r.json.fields.comment.comments.some((c) => JSON.stringify(c.body).includes('Duplicate of the VPN outage')));
  });

  test('2. requestFieldValues follow the form: summary not first, hidden fields left out, objects for selects and users', async () => {
    const device = field('Device'), manager = field('Line manager'), cost = field('Cost centre');
    let r = await sb.call('GET', `${SD}/servicedesk/2/requesttype/13/field`);
    assert.deepEqual(r.json.requestTypeFields.map((f) => f.fieldId), [device.id, 'summary', manager.id, 'description']);
    assert.equal(r.json.requestTypeFields[0].required, true);
    assert.ok(r.json.requestTypeFields[0].validValues.some((v) => v.label === 'Laptop'));
    r = await sb.call('GET', `${SD}/servicedesk/2/requesttype/13/field?expand=hiddenFields`);
    const hidden = r.json.requestTypeFields.find((f) => f.fieldId === cost.id);
    assert.equal(hidden.visible, false);
    r = await sb.call('POST', `${SD}/request`, { body: { serviceDeskId: '2', requestTypeId: '13', requestFieldValues: { summary: 'A laptop' } } });
    assert.equal(r.status, 400, 'the required Device is missing');
    assert.match(r.json.errorMessage, /Which device do you need\?/);
    r = await sb.call('POST', `${SD}/request`, {
      body: { serviceDeskId: '2', requestTypeId: '13', requestFieldValues: { summary: 'A laptop for the new starter', [device.id]: { value: 'Laptop' }, [manager.id]: '5b10ac8d82e05b22cc7d4ef5' } },
    });
    assert.equal(r.status, 201, r.text);
    const rfv = r.json.requestFieldValues;
    assert.equal(rfv[0].fieldId, device.id, 'the form\'s first field, not the summary');
    assert.deepEqual({ value: rfv[0].value.value, hasId: typeof rfv[0].value.id }, { value: 'Laptop', hasId: 'string' });
    assert.equal(rfv.find((v) => v.fieldId === 'summary').value, 'A laptop for the new starter');
    assert.equal(rfv.find((v) => v.fieldId === manager.id).value.accountId, '5b10ac8d82e05b22cc7d4ef5');
    assert.equal(rfv.find((v) => v.fieldId === cost.id), undefined, 'hidden fields are left out');
    r = await sb.call('GET', `/rest/api/3/issue/${r.json.issueKey}?fields=${cost.id}`);
    assert.equal(r.json.fields[cost.id], 'CC-4100', 'the hidden field got its preset value');
  });

  test('3. raiseOnBehalfOf and requestParticipants take accountIds, not emails', async () => {
    const base = { serviceDeskId: '1', requestTypeId: '1', requestFieldValues: { summary: 'On behalf' } };
    let r = await sb.call('POST', `${SD}/request`, { body: { ...base, raiseOnBehalfOf: 'lena.hoffmann@example.com' } });
    assert.equal(r.status, 400);
    assert.match(r.json.errorMessage, /raiseOnBehalfOf .*accountId, not an email address/);
    r = await sb.call('POST', `${SD}/request`, { body: { ...base, requestParticipants: ['lena.hoffmann@example.com'] } });
    assert.equal(r.status, 400);
    r = await sb.call('POST', `${SD}/request`, { body: { ...base, raiseOnBehalfOf: '5b10ac8d82e05b22cc7d4ef5' } });
    assert.equal(r.status, 201);
    assert.equal(r.json.reporter.accountId, '5b10ac8d82e05b22cc7d4ef5');
  });

  test('4. a reopened request has several SLA cycles; the oldest is not the current one', async () => {
    let r = await sb.call('GET', `${SD}/request/HW-7/sla/2`);
    assert.equal(r.json.name, 'Time to resolution');
    assert.deepEqual(r.json.completedCycles.map((c) => c.breached), [true, false], 'oldest breached, latest met');
    assert.equal(r.json.ongoingCycle.breached, false, 'the current cycle');
    r = await sb.call('GET', `${SD}/request/HW-8/sla/2`);
    assert.deepEqual(r.json.completedCycles.map((c) => c.breached), [true, false]);
    assert.equal(r.json.ongoingCycle, undefined, 'resolved: nothing ongoing, the latest completed cycle counts');
    r = await sb.call('GET', `${SD}/request/HW-7/status`);
    assert.deepEqual(r.json.values.map((v) => v.status),
      ['Waiting for support', 'Resolved', 'Waiting for support', 'Resolved', 'Waiting for support'], 'most recent first');
  });

  test('5. several custom fields share a name, with other ids, types and project contexts', async () => {
    const impact = fields.filter((f) => f.name === 'Impact'), urgency = fields.filter((f) => f.name === 'Urgency');
    assert.equal(impact.length, 2);
    assert.deepEqual(impact.map((f) => f.schema.type).sort(), ['number', 'option']);
    assert.equal(urgency.length, 2);
    assert.notEqual(urgency[0].id, urgency[1].id);
    assert.deepEqual(urgency.map((f) => f.scope?.type ?? 'global').sort(), ['PROJECT', 'global']);
    assert.equal(urgency.find((f) => f.scope).scope.project.id, '10001', 'a team-managed HELP field');
    const hwImpact = impact.find((f) => f.schema.type === 'number');
    let r = await sb.call('GET', `/rest/api/3/field/${hwImpact.id}/context/projectmapping`);
    assert.deepEqual(r.json.values.map((v) => v.projectId), ['10003'], 'HW only');
    r = await sb.call('GET', `/rest/api/3/field/${impact.find((f) => f !== hwImpact).id}/context`);
    assert.equal(r.json.values[0].isGlobalContext, true);
  });

  test('6. worklogs keep started, in Jira\'s own date format', async () => {
    let r = await sb.call('POST', '/rest/api/3/issue/ITSM-30/worklog', { body: { timeSpentSeconds: 900, started: '2026-01-05T09:30:00.000+0000' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.started, '2026-01-05T09:30:00.000+0000');
    r = await sb.call('POST', '/rest/api/3/issue/ITSM-30/worklog', { body: { timeSpentSeconds: 900, started: '2026-01-05T09:30:00Z' } });
    assert.equal(r.status, 400);
    assert.ok(r.json.errors.started);
    const from = Date.parse('2026-01-05T00:00:00Z'), to = Date.parse('2026-01-06T00:00:00Z');
    r = await sb.call('GET', `/rest/api/3/issue/ITSM-30/worklog?startedAfter=${from}&startedBefore=${to}`);
    assert.deepEqual(r.json.worklogs.map((w) => w.started), ['2026-01-05T09:30:00.000+0000']);
  });

  test('7. requestOwnership filters as documented; the default is not "everything"', async () => {
    const me = (await sb.call('GET', '/rest/api/3/myself')).json.accountId;
    let r = await sb.call('GET', `${SD}/request?limit=100`);
    assert.ok(r.json.values.every((v) => v.reporter.accountId === me), 'an agent sees its own requests by default');
    const all = (await sb.call('GET', `${SD}/request?requestOwnership=ALL_REQUESTS&serviceDeskId=2&limit=5`)).json;
    assert.equal(all.values.length, 5);
    r = await sb.call('GET', `${SD}/request?requestOwnership=ORGANIZATION`, { auth: CUSTOMER });
    assert.deepEqual(r.json.values, [], 'ORGANIZATION needs organizationId');
    const orgs = (await sb.call('GET', `${SD}/request?requestOwnership=ALL_ORGANIZATIONS&limit=100`, { auth: CUSTOMER })).json.values;
    const cust = (await sb.call('GET', '/rest/api/3/myself', { auth: CUSTOMER })).json.accountId;
    assert.ok(orgs.length > 0 && orgs.some((v) => v.reporter.accountId !== cust), 'colleagues\' requests shared with the organization');
    const owned = (await sb.call('GET', `${SD}/request?requestOwnership=OWNED_REQUESTS&limit=100`, { auth: CUSTOMER })).json.values;
    assert.ok(owned.every((v) => v.reporter.accountId === cust));
    r = await sb.call('GET', `${SD}/request?requestStatus=OPEN`);
    assert.equal(r.status, 400, 'an unknown requestStatus');
  });

  test('8. user search matches prefixes of names and emails, never substrings or hidden emails', async () => {
    const names = async (q) => (await sb.call('GET', `/rest/api/3/user/search?query=${encodeURIComponent(q)}`)).json.map((u) => u.displayName);
    assert.ok((await names('hoff')).includes('Lena Hoffmann'), 'a word prefix');
    assert.ok(!(await names('offmann')).includes('Lena Hoffmann'), 'not a substring');
    assert.ok((await names('lena.hoff')).includes('Lena Hoffmann'), 'an email prefix');
    const r = await sb.call('GET', `${SD}/servicedesk/2/customer?limit=100`, { headers: { 'X-ExperimentalApi': 'opt-in' } });
    const hidden = r.json.values.find((u) => u.emailAddress === undefined);
    assert.ok(hidden, 'customers with hidden emails');
    // customerNN@customer.example.com: the seeded pattern; a hidden one is not found by it
    const state = await sb.call('GET', `/rest/api/3/user/search?query=${encodeURIComponent('customer02@customer.example.com')}`);
    assert.deepEqual(state.json, [], 'a hidden email cannot be matched');
  });

  test('9. privacy: many users, customers above all, come without emailAddress or timeZone', async () => {
    const r = await sb.call('GET', `${SD}/servicedesk/2/customer?limit=100`, { headers: { 'X-ExperimentalApi': 'opt-in' } });
    const v = r.json.values;
    assert.ok(v.filter((u) => !('emailAddress' in u)).length > v.length / 2, 'most customers hide their email');
    assert.ok(v.filter((u) => !('timeZone' in u)).length > v.length / 2, 'and their time zone');
    const me = await sb.call('GET', '/rest/api/3/myself', { auth: CUSTOMER });
    assert.ok(me.json.emailAddress && me.json.timeZone, 'a user always sees their own profile');
    const issue = await sb.call('GET', '/rest/api/3/issue/ITSM-994?fields=assignee');
    assert.equal(issue.json.fields.assignee.accountType, 'atlassian');
    assert.ok(!('emailAddress' in issue.json.fields.assignee), 'some agents hide theirs too');
    const lena = await sb.call('GET', '/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5');
    assert.equal(lena.json.timeZone, 'Europe/Berlin');
  });

  test('10a. labels: Cloud\'s rules (no spaces, 255 characters), no small count cap', async () => {
    const many = Array.from({ length: 25 }, (_, i) => `label-${i}`);
    let r = await sb.call('PUT', '/rest/api/3/issue/HELP-30', { body: { fields: { labels: many } } });
    assert.equal(r.status, 204, r.text);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-30?fields=labels');
    assert.equal(r.json.fields.labels.length, 25);
    r = await sb.call('PUT', '/rest/api/3/issue/HELP-30', { body: { fields: { labels: ['two words'] } } });
    assert.deepEqual(r.json, { errorMessages: [], errors: { labels: "The label 'two words' contains spaces which is invalid." } });
    r = await sb.call('PUT', '/rest/api/3/issue/HELP-30', { body: { update: { labels: [{ add: 'x'.repeat(256) }] } } });
    assert.match(r.json.errors.labels, /exceeds the maximum length for a single label of 255 characters/);
    r = await sb.call('PUT', '/rest/api/3/issue/HELP-30', { body: { update: { labels: [{ add: 'y'.repeat(255) }] } } });
    assert.equal(r.status, 204);
  });
});

// A raw GET: fetch always asks for gzip, this one asks for what it is told.
function rawGet(base, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + p, { headers: { Authorization: BASIC, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

describe('jsm-sandbox transport like Cloud\'s', () => {
  let sb;
  before(async () => {
    sb = await startSandbox('sandbox_transport');
  });
  after(async () => {
    await sb?.stop();
  });

  test('10b. gzip when the client accepts it, plain otherwise; switchable', async () => {
    let r = await rawGet(sb.base, '/rest/api/3/issue/ITSM-994', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.body[0], 0x1f, 'gzip magic');
    const { gunzipSync } = await import('node:zlib');
    assert.equal(JSON.parse(gunzipSync(r.body)).key, 'ITSM-994');
    r = await rawGet(sb.base, '/rest/api/3/issue/ITSM-994');
    assert.equal(r.headers['content-encoding'], undefined);
    r = await rawGet(sb.base, '/rest/api/3/issue/ITSM-994', { 'Accept-Encoding': 'gzip;q=0, identity' });
    assert.equal(r.headers['content-encoding'], undefined, 'q=0 refuses gzip');
    await sb.call('PUT', '/__sandbox/transport', { auth: null, body: { gzip: false } });
    r = await rawGet(sb.base, '/rest/api/3/issue/ITSM-994', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    await sb.call('PUT', '/__sandbox/transport', { auth: null, body: { gzip: true } });
  });

  test('10c. the gateway\'s 429 without Retry-After, the HTML 429 page, a 503 with Retry-After', async () => {
    let r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { rate429: 1, style429: 'gateway', count: 1 } });
    assert.equal(r.json.style429, 'gateway');
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), null);
    assert.equal(r.headers.get('x-ratelimit-reset'), null);
    assert.deepEqual(r.json, { code: 429, message: 'Too Many Requests' });
    await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { rate429: 1, style429: 'html', retryAfter429: 0, count: 1 } });
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 429);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(r.text, /class=" error-page error429"/);
    assert.equal(r.headers.get('retry-after'), null);
    await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { errorRate: 1, errorStatus: 503, retryAfterError: 7, count: 1 } });
    r = await sb.call('GET', '/rest/api/3/myself');
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '7');
    r = await sb.call('PUT', '/__sandbox/faults', { auth: null, body: { style429: 'teapot' } });
    assert.equal(r.status, 400);
    assert.equal((await sb.call('GET', '/rest/api/3/myself')).status, 200);
  });

  test('10d. X-RateLimit-NearLimit only when the points quota is nearly spent', async () => {
    await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { scale: 0.05 } }); // 5 GET/s: remaining dips below 20%
    // Ten at once: a burst drains the bucket however slowly this machine sends
    // (five one after another on a busy machine took 200 ms each, and the
    // bucket refilled as fast as they came).
    const seen = await Promise.all(Array.from({ length: 10 }, async () => {
      const r = await sb.call('GET', '/rest/api/3/field');
      return [r.status, r.headers.get('x-ratelimit-remaining'), r.headers.get('x-ratelimit-nearlimit')];
    }));
    assert.ok(seen.some(([s, rem]) => s === 200 && Number(rem) <= 1), JSON.stringify(seen));
    assert.ok(seen.every(([, , near]) => near === null), `burst traffic never says NearLimit: ${JSON.stringify(seen)}`);
    await sb.call('PUT', '/__sandbox/limits', { auth: null, body: { scale: 1000 } });
  });
});

describe('jsm-sandbox strict mode (--strict)', () => {
  let sb;
  before(async () => {
    sb = await startSandbox('sandbox_strict', {}, ['--strict', '1']);
  });
  after(async () => {
    await sb?.stop();
  });

  test('11. refuses what Cloud would silently ignore, names the part, counts it', async () => {
    let r = await sb.call('GET', `${SD}/organization?serviceDeskId=2`);
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('x-sandbox-strict'), 'refused');
    assert.match(r.json.errorMessage, /query parameter 'serviceDeskId' is not a parameter of this operation/);
    assert.equal(r.json.i18nErrorMessage.i18nKey, 'sandbox.strict.refused');
    const bad = [
      ['GET', '/rest/api/3/issue/ITSM-994/comment?orderBy=created&maxResults=ten', 'query.maxResults', /expected an integer/],
      ['GET', `${SD}/request?requestStatus=OPEN&requestStatus=CLOSED_REQUESTS`, 'query.requestStatus', /repeated/],
      ['POST', '/rest/api/3/issue/ITSM-994/transitions', 'body.resolution', /body\.resolution: unknown property/, { transition: { id: '21' }, resolution: { name: 'Done' } }],
      ['POST', `${SD}/request/ITSM-994/comment`, 'body.public', /expected a boolean/, { body: 'x', public: { yes: 1 } }],
      ['POST', '/rest/api/3/issueLink', 'body', /required property 'type' is missing/, { inwardIssue: { key: 'ITSM-1' }, outwardIssue: { key: 'ITSM-2' } }],
      ['GET', '/rest/api/3/issue/ITSM-994/nonsense', 'operation', /no operation with this path/],
      ['PATCH', '/rest/api/3/issue/ITSM-994', 'method', /method PATCH is not an operation of this path/],
      ['DELETE', '/rest/api/3/issueLink/10000', 'body', /takes no request body/, { a: 1 }],
    ];
    for (const [m, p, where, re, body] of bad) {
      r = await sb.call(m, p, body ? { body } : {});
      assert.equal(r.status, 400, `${m} ${p}: ${r.text}`);
      const text = r.json?.errorMessages?.[0] ?? r.json?.errorMessage;
      assert.match(text, re, `${m} ${p}`);
      assert.ok(text.includes('strict mode'), text);
      void where;
    }
    const good = [
      ['GET', '/rest/api/3/search/jql?jql=project%3DITSM&fields=summary,status&maxResults=5'],
      ['POST', '/rest/api/3/search/jql', { jql: 'project = ITSM', fields: ['summary'], maxResults: 2 }],
      ['GET', `${SD}/request?requestOwnership=OWNED_REQUESTS&requestOwnership=PARTICIPATED_REQUESTS&limit=5`],
      ['POST', `${SD}/request/ITSM-994/comment`, { body: 'ok', public: false }],
      ['GET', `${SD}/servicedesk/2/queue?includeCount=true`],
    ];
    for (const [m, p, body] of good) {
      r = await sb.call(m, p, body ? { body } : {});
      assert.ok(r.status < 300, `${m} ${p}: ${r.text}`);
    }
    r = await sb.call('GET', '/__sandbox/strict', { auth: null });
    assert.equal(r.json.enabled, true);
    assert.ok(r.json.operations > 600, 'both documents\' operations');
    assert.equal(r.json.refused, bad.length + 1);
    const keys = r.json.refusals.map((x) => x.key);
    assert.ok(keys.includes('GET /rest/servicedeskapi/organization query.serviceDeskId'), keys.join('\n'));
    assert.ok(keys.includes('POST /rest/api/3/issue/{issueIdOrKey}/transitions body.resolution'), keys.join('\n'));
    assert.equal((await sb.call('GET', '/__sandbox/counters', { auth: null })).json.strictRefusals, bad.length + 1);
  });

  test('11b. a temporary allow-list lets known refusals through and still counts them', async () => {
    await sb.call('DELETE', '/__sandbox/strict', { auth: null });
    let r = await sb.call('PUT', '/__sandbox/strict', { auth: null, body: { allow: ['GET /rest/servicedeskapi/organization query.serviceDeskId'] } });
    assert.deepEqual(r.json.allow, ['GET /rest/servicedeskapi/organization query.serviceDeskId']);
    r = await sb.call('GET', `${SD}/organization?serviceDeskId=2`);
    assert.equal(r.status, 200, 'allowed through');
    r = await sb.call('GET', '/__sandbox/strict', { auth: null });
    assert.equal(r.json.refused, 0);
    assert.equal(r.json.allowed, 1);
    assert.equal(r.json.refusals[0].allowed, true);
    r = await sb.call('PUT', '/__sandbox/strict', { auth: null, body: { enabled: false } });
    assert.equal(r.json.enabled, false);
    assert.equal((await sb.call('DELETE', '/rest/api/3/issueLink/99999', { body: { a: 1 } })).status, 404, 'off: nothing refused');
    await sb.call('PUT', '/__sandbox/strict', { auth: null, body: { enabled: true } });
  });
});
