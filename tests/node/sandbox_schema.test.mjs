// Every endpoint the JSM sandbox serves answers with a body that validates
// against the response schema of that operation in Atlassian's OpenAPI
// documents (platform v3 and servicedeskapi), on both URL roots' auth.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASIC, assertSchema, requireSandbox, startSandbox } from './lib/sandbox.mjs';

requireSandbox();
const P = 'platform';
const J = 'jsm';
const SD = '/rest/servicedeskapi';
const EXP = { 'X-ExperimentalApi': 'opt-in' };
const adf = (text) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

describe('sandbox responses match the OpenAPI schemas', () => {
  let sb;
  before(async () => {
    sb = await startSandbox('sandbox_schema');
  });
  after(async () => {
    await sb?.stop();
  });

  test('platform: search/jql (GET default fields, GET fields+expand, POST)', async () => {
    const t = '/rest/api/3/search/jql';
    let r = await sb.call('GET', `${t}?jql=${encodeURIComponent('project = ITSM ORDER BY created DESC')}`);
    assertSchema(P, 'GET', t, r, 200);
    assert.deepEqual(Object.keys(r.json.issues[0]), ['id'], 'default fields = id only');
    r = await sb.call('GET', `${t}?jql=project%3DITSM&fields=*all&expand=names,schema,renderedFields,transitions&maxResults=5`);
    assertSchema(P, 'GET', t, r, 200);
    r = await sb.call('POST', t, { body: { jql: 'project = HELP', fields: ['summary', 'status', 'assignee'], maxResults: 3 } });
    assertSchema(P, 'POST', t, r, 200);
    assert.equal(r.json.issues.length, 3);
    r = await sb.call('POST', '/rest/api/3/search/approximate-count', { body: { jql: 'project = ITSM' } });
    assertSchema(P, 'POST', '/rest/api/3/search/approximate-count', r, 200);
    assert.ok(r.json.count >= 1000);
  });

  test('platform: issue get, create, edit', async () => {
    const t = '/rest/api/3/issue/{issueIdOrKey}';
    let r = await sb.call('GET', '/rest/api/3/issue/ITSM-994');
    assertSchema(P, 'GET', t, r, 200);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-1042?expand=names,schema,renderedFields,transitions,operations,editmeta,changelog');
    assertSchema(P, 'GET', t, r, 200);
    r = await sb.call('POST', '/rest/api/3/issue', {
      body: { fields: { project: { key: 'ITSM' }, issuetype: { name: 'Incident' }, summary: 'Printer on fire', description: adf('Smoke') } },
    });
    assertSchema(P, 'POST', '/rest/api/3/issue', r, 201);
    const key = r.json.key;
    r = await sb.call('PUT', `/rest/api/3/issue/${key}`, { body: { fields: { summary: 'Printer still on fire', labels: ['fire'] } } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `/rest/api/3/issue/${key}?fields=summary,labels`);
    assert.equal(r.json.fields.summary, 'Printer still on fire');
    r = await sb.call('GET', '/rest/api/3/issue/NOPE-1');
    assertSchema(P, 'GET', t, r, 404);
  });

  test('platform: comments, transitions, assignee, worklogs, attachments', async () => {
    const base = '/rest/api/3/issue/{issueIdOrKey}';
    let r = await sb.call('GET', '/rest/api/3/issue/ITSM-1042/comment');
    assertSchema(P, 'GET', `${base}/comment`, r, 200);
    assert.ok(r.json.comments.some((c) => c.jsdPublic === false), 'internal note present');
    r = await sb.call('POST', '/rest/api/3/issue/ITSM-1042/comment', {
      body: { body: adf('Internal: BIOS 1.15 staged'), properties: [{ key: 'sd.public.comment', value: { internal: true } }] },
    });
    assertSchema(P, 'POST', `${base}/comment`, r, 201);
    assert.equal(r.json.jsdPublic, false);
    r = await sb.call('GET', `/rest/api/3/issue/ITSM-1042/comment/${r.json.id}`);
    assertSchema(P, 'GET', `${base}/comment/{id}`, r, 200);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-994/transitions');
    assertSchema(P, 'GET', `${base}/transitions`, r, 200);
    const tid = r.json.transitions[0].id;
    r = await sb.call('POST', '/rest/api/3/issue/HELP-3/transitions', { body: { transition: { id: '99' } } });
    assert.equal(r.status, 400);
    r = await sb.call('POST', '/rest/api/3/issue/ITSM-994/transitions', { body: { transition: { id: tid } } });
    assert.equal(r.status, 204);
    r = await sb.call('PUT', '/rest/api/3/issue/ITSM-994/assignee', { body: { accountId: '5b10ac8d82e05b22cc7d4ef5' } });
    assert.equal(r.status, 204);
    r = await sb.call('PUT', '/rest/api/3/issue/ITSM-994/assignee', { body: { accountId: null } });
    assert.equal(r.status, 204);
    r = await sb.call('POST', '/rest/api/3/issue/ITSM-994/worklog', { body: { timeSpentSeconds: 1800, comment: adf('Call with vendor') } });
    assertSchema(P, 'POST', `${base}/worklog`, r, 201);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-994/worklog');
    assertSchema(P, 'GET', `${base}/worklog`, r, 200);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-1042?fields=attachment');
    const att = r.json.fields.attachment[0];
    r = await sb.call('GET', `/rest/api/3/attachment/${att.id}`);
    assertSchema(P, 'GET', '/rest/api/3/attachment/{id}', r, 200);
  });

  test('platform: users, fields, createmeta', async () => {
    let r = await sb.call('GET', '/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5');
    assertSchema(P, 'GET', '/rest/api/3/user', r, 200);
    assert.equal(r.json.timeZone, 'Europe/Berlin');
    r = await sb.call('GET', '/rest/api/3/user/search?query=lena');
    assertSchema(P, 'GET', '/rest/api/3/user/search', r, 200);
    r = await sb.call('GET', '/rest/api/3/myself');
    assertSchema(P, 'GET', '/rest/api/3/myself', r, 200);
    r = await sb.call('GET', '/rest/api/3/field');
    assertSchema(P, 'GET', '/rest/api/3/field', r, 200);
    assert.ok(r.json.some((f) => f.schema?.custom === 'com.atlassian.servicedesk:vp-origin'));
    r = await sb.call('GET', '/rest/api/3/issue/createmeta/ITSM/issuetypes');
    assertSchema(P, 'GET', '/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes', r, 200);
    r = await sb.call('GET', `/rest/api/3/issue/createmeta/ITSM/issuetypes/${r.json.issueTypes[0].id}`);
    assertSchema(P, 'GET', '/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}', r, 200);
  });

  test('servicedeskapi: desks, queues, queue issues, request types', async () => {
    let r = await sb.call('GET', `${SD}/info`);
    assertSchema(J, 'GET', `${SD}/info`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk`);
    assertSchema(J, 'GET', `${SD}/servicedesk`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/2`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/2/queue?includeCount=true`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/queue`, r, 200);
    const q = r.json.values.find((v) => v.name === 'Network Outages');
    assert.ok(q.issueCount > 10);
    r = await sb.call('GET', `${SD}/servicedesk/2/queue/${q.id}`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/queue/{queueId}`, r, 200);
    assert.equal(r.json.issueCount, undefined, 'issueCount only with includeCount=true');
    r = await sb.call('GET', `${SD}/servicedesk/2/queue/${q.id}/issue?limit=5`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/queue/{queueId}/issue`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/2/requesttype`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/requesttype`, r, 200);
    const rt = r.json.values[0].id;
    r = await sb.call('GET', `${SD}/servicedesk/2/requesttype/${rt}`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/2/requesttype/${rt}/field`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}/field`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/2/requesttypegroup`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/requesttypegroup`, r, 200);
    r = await sb.call('GET', `${SD}/requesttype`, { headers: EXP });
    assertSchema(J, 'GET', `${SD}/requesttype`, r, 200);
    r = await sb.call('GET', `${SD}/servicedesk/99`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}`, r, 404);
    assert.equal(r.json.i18nErrorMessage.i18nKey, 'sd.agent.servicedesk.error.servicedesk.missing');
    r = await sb.call('POST', `${SD}/request`, { body: { serviceDeskId: '2', requestTypeId: '999', requestFieldValues: { summary: 'x' } } });
    assertSchema(J, 'POST', `${SD}/request`, r, 400);
  });

  test('servicedeskapi: requests, comments, SLA, status, transitions', async () => {
    const devField = (await sb.call('GET', '/rest/api/3/field')).json.find((f) => f.name === 'Device').id;
    let r = await sb.call('POST', `${SD}/request`, {
      body: { serviceDeskId: '2', requestTypeId: '13', requestFieldValues: { summary: 'New monitor', description: 'Mine broke', [devField]: { value: 'Monitor' } } },
    });
    assertSchema(J, 'POST', `${SD}/request`, r, 201);
    const key = r.json.issueKey;
    r = await sb.call('GET', `${SD}/request?requestOwnership=ALL_REQUESTS&limit=5&expand=requestType,serviceDesk,sla,participant,status,action,comment,attachment`);
    assertSchema(J, 'GET', `${SD}/request`, r, 200);
    r = await sb.call('GET', `${SD}/request/ITSM-1042?expand=requestType,serviceDesk,sla,participant,status,action,comment,attachment`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}`, r, 200);
    r = await sb.call('GET', `${SD}/request/ITSM-1042/comment`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/comment`, r, 200);
    r = await sb.call('POST', `${SD}/request/${key}/comment`, { body: { body: 'Ordered one', public: false } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/comment`, r, 201);
    r = await sb.call('GET', `${SD}/request/${key}/comment/${r.json.id}`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/comment/{commentId}`, r, 200);
    r = await sb.call('GET', `${SD}/request/ITSM-994/sla`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/sla`, r, 200);
    r = await sb.call('GET', `${SD}/request/ITSM-994/sla/2`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/sla/{slaMetricId}`, r, 200);
    r = await sb.call('GET', `${SD}/request/ITSM-994/status`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/status`, r, 200);
    r = await sb.call('GET', `${SD}/request/${key}/transition`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/transition`, r, 200);
    r = await sb.call('POST', `${SD}/request/${key}/transition`, { body: { id: r.json.values[0].id, additionalComment: { body: 'ok' } } });
    assert.equal(r.status, 204);
  });

  test('servicedeskapi: approvals and participants', async () => {
    let r = await sb.call('POST', `${SD}/request`, {
      body: { serviceDeskId: '2', requestTypeId: '14', requestFieldValues: { summary: 'Need Figma' }, requestParticipants: ['5b10ac8d82e05b22cc7d4ef5'] },
    });
    const key = r.json.issueKey;
    r = await sb.call('GET', `${SD}/request/${key}/approval`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/approval`, r, 200);
    const id = r.json.values[0].id;
    r = await sb.call('GET', `${SD}/request/${key}/approval/${id}`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/approval/{approvalId}`, r, 200);
    assert.equal(r.json.canAnswerApproval, true);
    r = await sb.call('POST', `${SD}/request/${key}/approval/${id}`, { body: { decision: 'approve' } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/approval/{approvalId}`, r, 200);
    assert.equal(r.json.finalDecision, 'approved');
    r = await sb.call('POST', `${SD}/request/${key}/approval/${id}`, { body: { decision: 'decline' } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/approval/{approvalId}`, r, 409);
    r = await sb.call('GET', `${SD}/request/${key}/participant`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/participant`, r, 200);
    const me = (await sb.call('GET', '/rest/api/3/myself')).json.accountId;
    r = await sb.call('POST', `${SD}/request/${key}/participant`, { body: { accountIds: [me] } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/participant`, r, 200);
    assert.equal(r.json.values.length, 2);
    r = await sb.call('DELETE', `${SD}/request/${key}/participant`, { body: { accountIds: [me] } });
    assertSchema(J, 'DELETE', `${SD}/request/{issueIdOrKey}/participant`, r, 200);
  });

  test('servicedeskapi: customers and organizations', async () => {
    let r = await sb.call('POST', `${SD}/customer`, { body: { email: 'new.customer@example.org', displayName: 'New Customer' } });
    assertSchema(J, 'POST', `${SD}/customer`, r, 201);
    const acc = r.json.accountId;
    r = await sb.call('POST', `${SD}/customer?strictConflictStatusCode=true`, { body: { email: 'new.customer@example.org', displayName: 'X' } });
    assert.equal(r.status, 409);
    r = await sb.call('POST', `${SD}/servicedesk/1/customer`, { body: { accountIds: [acc] } });
    assert.equal(r.status, 204);
    r = await sb.call('POST', `${SD}/servicedesk/1/customer`, { body: { accountIds: [acc] } });
    assert.equal(r.status, 204, 'idempotent');
    r = await sb.call('GET', `${SD}/servicedesk/1/customer`);
    assert.equal(r.status, 412, 'experimental without opt-in');
    r = await sb.call('GET', `${SD}/servicedesk/1/customer?query=New`, { headers: EXP });
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/customer`, r, 200);
    assert.equal(r.json.values[0].accountId, acc);
    r = await sb.call('GET', `${SD}/organization`);
    assertSchema(J, 'GET', `${SD}/organization`, r, 200);
    r = await sb.call('POST', `${SD}/organization`, { body: { name: 'Contractors' } });
    assertSchema(J, 'POST', `${SD}/organization`, r, 201);
    const org = r.json.id;
    r = await sb.call('GET', `${SD}/organization/${org}`);
    assertSchema(J, 'GET', `${SD}/organization/{organizationId}`, r, 200);
    r = await sb.call('POST', `${SD}/organization/${org}/user`, { body: { accountIds: [acc] } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `${SD}/organization/${org}/user`);
    assertSchema(J, 'GET', `${SD}/organization/{organizationId}/user`, r, 200);
    r = await sb.call('POST', `${SD}/servicedesk/1/organization`, { body: { organizationId: Number(org) } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `${SD}/servicedesk/1/organization`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/organization`, r, 200);
    r = await sb.call('DELETE', `${SD}/servicedesk/1/organization`, { body: { organizationId: Number(org) } });
    assert.equal(r.status, 204);
    r = await sb.call('DELETE', `${SD}/organization/${org}`);
    assert.equal(r.status, 204);
  });

  test('servicedeskapi: knowledge base search, site-wide and per desk', async () => {
    let r = await sb.call('GET', `${SD}/knowledgebase/article?query=${encodeURIComponent('vpn disconnects')}&highlight=true`);
    assertSchema(J, 'GET', `${SD}/knowledgebase/article`, r, 200);
    assert.equal(r.json.values[0].title, 'Fix VPN disconnects after 30 minutes');
    assert.match(r.json.values[0].excerpt, /@@@hl@@@/);
    assert.equal(r.json.values[0].source.type, 'confluence');
    r = await sb.call('GET', `${SD}/servicedesk/3/knowledgebase/article?query=vpn&highlight=false`);
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/knowledgebase/article`, r, 200);
    assert.deepEqual(r.json.values, [], 'desk 3 has no VPN articles');
    r = await sb.call('GET', `${SD}/servicedesk/1/knowledgebase/article?query=vpn`);
    assert.deepEqual(r.json.values.map((a) => a.title), ['Install the VPN client']);
    r = await sb.call('GET', `${SD}/knowledgebase/article?highlight=true`);
    assertSchema(J, 'GET', `${SD}/knowledgebase/article`, r, 400);
  });

  test('servicedeskapi: customer-facing transitions with additionalComment, status history', async () => {
    let r = await sb.call('POST', `${SD}/request`, { body: { serviceDeskId: '1', requestTypeId: '1', requestFieldValues: { summary: 'Portal transition' } } });
    const key = r.json.issueKey;
    r = await sb.call('GET', `${SD}/request/${key}/transition`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/transition`, r, 200);
    assert.deepEqual(r.json.values.map((t) => t.name), ['Resolve this issue', 'Cancel request'], 'the portal\'s transitions');
    r = await sb.call('POST', `${SD}/request/${key}/transition`, { body: { id: '21' } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/transition`, r, 400);
    r = await sb.call('POST', `${SD}/request/${key}/transition`, { body: { id: '61', additionalComment: { body: 'Not needed any more' } } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `${SD}/request/${key}/comment`);
    assert.ok(r.json.values.some((c) => c.body === 'Not needed any more' && c.public));
    r = await sb.call('GET', `/rest/api/3/issue/${key}?fields=status,resolution`);
    assert.deepEqual([r.json.fields.status.name, r.json.fields.resolution.name], ['Canceled', "Won't Do"]);
    r = await sb.call('GET', `${SD}/request/${key}/status`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/status`, r, 200);
    assert.deepEqual(r.json.values.map((v) => v.status), ['Canceled', 'Waiting for support']);
  });

  test('attachments: temporary files attached to a request, multipart on the platform, metadata and content', async () => {
    const form = (name, text) => {
      const f = new FormData();
      f.append('file', new Blob([text], { type: 'text/plain' }), name);
      return f;
    };
    const upload = async (p, body, headers = { 'X-Atlassian-Token': 'no-check' }) => {
      const res = await fetch(sb.base + p, { method: 'POST', headers: { Authorization: BASIC, ...headers }, body });
      const text = await res.text();
      return { status: res.status, text, json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : undefined };
    };
    let r = await upload(`${SD}/servicedesk/2/attachTemporaryFile`, form('trace.txt', 'hello trace'), {});
    assert.equal(r.status, 403, 'XSRF check without X-Atlassian-Token: no-check');
    assert.equal(r.text, 'XSRF check failed');
    r = await upload(`${SD}/servicedesk/2/attachTemporaryFile`, form('trace.txt', 'hello trace'));
    assert.equal(r.status, 201, r.text);
    const tmp = r.json.temporaryAttachments[0];
    assert.equal(tmp.fileName, 'trace.txt');
    r = await sb.call('POST', `${SD}/request/ITSM-1042/attachment`, { body: { temporaryAttachmentIds: [tmp.temporaryAttachmentId], public: true, additionalComment: { body: 'The trace' } } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/attachment`, r, 201);
    assert.match(r.json.comment.body, /^The trace\n\n\[\^trace\.txt\]$/);
    r = await sb.call('POST', `${SD}/request/ITSM-1042/attachment`, { body: { temporaryAttachmentIds: [tmp.temporaryAttachmentId], public: true } });
    assertSchema(J, 'POST', `${SD}/request/{issueIdOrKey}/attachment`, r, 400); // used up
    r = await sb.call('GET', `${SD}/request/ITSM-1042/attachment?start=0&limit=50`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/attachment`, r, 200);
    assert.ok(r.json.values.some((a) => a.filename === 'trace.txt'));
    r = await upload('/rest/api/3/issue/ITSM-1042/attachments', form('notes.txt', 'platform upload'));
    assertSchema(P, 'POST', '/rest/api/3/issue/{issueIdOrKey}/attachments', { ...r, headers: new Headers() }, 200);
    const id = r.json[0].id;
    r = await sb.call('GET', `/rest/api/3/attachment/${id}`);
    assertSchema(P, 'GET', '/rest/api/3/attachment/{id}', r, 200);
    assert.equal(r.json.size, 'platform upload'.length);
    r = await sb.call('GET', `/rest/api/3/attachment/content/${id}`);
    assert.equal(r.status, 303, 'Cloud redirects to the media service');
    r = await sb.call('GET', `/rest/api/3/attachment/content/${id}?redirect=false`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'platform upload');
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-1042?fields=attachment');
    const seeded = r.json.fields.attachment.find((a) => a.filename === 'system.evtx');
    const res = await fetch(`${sb.base}/rest/api/3/attachment/content/${seeded.id}?redirect=false`, { headers: { Authorization: BASIC } });
    assert.equal((await res.arrayBuffer()).byteLength, seeded.size, 'a seeded attachment has generated bytes of its size');
  });

  test('platform: changelog, watchers, issue links and link types', async () => {
    let r = await sb.call('PUT', '/rest/api/3/issue/HELP-40/assignee', { body: { accountId: '5b10ac8d82e05b22cc7d4ef5' } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-40/changelog');
    assertSchema(P, 'GET', '/rest/api/3/issue/{issueIdOrKey}/changelog', r, 200);
    const last = r.json.values.at(-1);
    assert.deepEqual([last.items[0].field, last.items[0].to], ['assignee', '5b10ac8d82e05b22cc7d4ef5']);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-40?expand=changelog&fields=summary');
    assertSchema(P, 'GET', '/rest/api/3/issue/{issueIdOrKey}', r, 200);
    assert.equal(r.json.changelog.histories.at(-1).id, last.id);
    r = await sb.call('POST', '/rest/api/3/issue/HELP-40/watchers', { body: '"5b10ac8d82e05b22cc7d4ef5"' });
    assert.equal(r.status, 204);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-40/watchers');
    assertSchema(P, 'GET', '/rest/api/3/issue/{issueIdOrKey}/watchers', r, 200);
    assert.ok(r.json.watchers.some((w) => w.accountId === '5b10ac8d82e05b22cc7d4ef5'));
    assert.equal(r.json.watchCount, r.json.watchers.length);
    r = await sb.call('DELETE', '/rest/api/3/issue/HELP-40/watchers?accountId=5b10ac8d82e05b22cc7d4ef5');
    assert.equal(r.status, 204);
    r = await sb.call('GET', '/rest/api/3/issueLinkType');
    assertSchema(P, 'GET', '/rest/api/3/issueLinkType', r, 200);
    assert.ok(r.json.issueLinkTypes.some((t) => t.name === 'Blocks' && t.outward === 'blocks'));
    r = await sb.call('GET', '/rest/api/3/issueLinkType/10000');
    assertSchema(P, 'GET', '/rest/api/3/issueLinkType/{issueLinkTypeId}', r, 200);
    r = await sb.call('POST', '/rest/api/3/issueLink', { body: { type: { name: 'Blocks' }, inwardIssue: { key: 'HELP-40' }, outwardIssue: { key: 'HELP-41' } } });
    assert.equal(r.status, 201);
    r = await sb.call('GET', '/rest/api/3/issue/HELP-40?fields=issuelinks');
    const link = r.json.fields.issuelinks.find((l) => l.outwardIssue?.key === 'HELP-41');
    assert.equal(link.type.outward, 'blocks', 'HELP-40 blocks HELP-41');
    r = await sb.call('GET', '/rest/api/3/issue/HELP-41?fields=issuelinks');
    assert.equal(r.json.fields.issuelinks.find((l) => l.id === link.id).inwardIssue.key, 'HELP-40', 'is blocked by HELP-40');
    r = await sb.call('GET', `/rest/api/3/issueLink/${link.id}`);
    assertSchema(P, 'GET', '/rest/api/3/issueLink/{linkId}', r, 200);
    r = await sb.call('POST', '/rest/api/3/issueLink', { body: { type: { name: 'Nope' }, inwardIssue: { key: 'HELP-40' }, outwardIssue: { key: 'HELP-41' } } });
    assert.equal(r.status, 404);
    r = await sb.call('DELETE', `/rest/api/3/issueLink/${link.id}`);
    assert.equal(r.status, 204);
  });

  test('platform: createmeta with required custom fields, visible projects, user groups', async () => {
    let r = await sb.call('GET', '/rest/api/3/issue/createmeta/ITSM/issuetypes/10103');
    assertSchema(P, 'GET', '/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}', r, 200);
    const risk = r.json.fields.find((f) => f.name === 'Change risk');
    assert.equal(risk.required, true, 'required on the Change create screen in ITSM');
    assert.deepEqual(risk.allowedValues.map((v) => v.value), ['Low', 'Medium', 'High', 'Critical']);
    r = await sb.call('POST', '/rest/api/3/issue', { body: { fields: { project: { key: 'ITSM' }, issuetype: { id: '10103' }, summary: 'Firewall change' } } });
    assertSchema(P, 'POST', '/rest/api/3/issue', r, 400);
    assert.equal(r.json.errors[risk.fieldId], 'Change risk is required.');
    r = await sb.call('POST', '/rest/api/3/issue', { body: { fields: { project: { key: 'ITSM' }, issuetype: { id: '10103' }, summary: 'Firewall change', [risk.fieldId]: { value: 'High' } } } });
    assertSchema(P, 'POST', '/rest/api/3/issue', r, 201);
    r = await sb.call('GET', '/rest/api/3/project/search?orderBy=name&maxResults=2');
    assertSchema(P, 'GET', '/rest/api/3/project/search', r, 200);
    assert.deepEqual(r.json.values.map((p) => p.name), ['Hardware & Facilities', 'IT Help Desk']);
    assert.equal(r.json.isLast, false);
    r = await sb.call('GET', '/rest/api/3/project/search?keys=ITSM');
    assert.deepEqual(r.json.values.map((p) => p.key), ['ITSM']);
    r = await sb.call('GET', '/rest/api/3/user/groups?accountId=5b10ac8d82e05b22cc7d4ef5');
    assertSchema(P, 'GET', '/rest/api/3/user/groups', r, 200);
    assert.ok(r.json.some((g) => g.name === 'network-team'));
    r = await sb.call('GET', '/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5&expand=groups');
    assertSchema(P, 'GET', '/rest/api/3/user', r, 200);
    assert.equal(r.json.groups.size, r.json.groups.items.length);
    const f = (await sb.call('GET', '/rest/api/3/field')).json.find((x) => x.name === 'Affected office');
    r = await sb.call('GET', `/rest/api/3/field/${f.id}/context`);
    assertSchema(P, 'GET', '/rest/api/3/field/{fieldId}/context', r, 200);
    r = await sb.call('GET', `/rest/api/3/field/${f.id}/context/projectmapping`);
    assertSchema(P, 'GET', '/rest/api/3/field/{fieldId}/context/projectmapping', r, 200);
  });

  test('servicedeskapi: organization management (desk and users), transitions with screen fields', async () => {
    let r = await sb.call('POST', `${SD}/organization`, { body: { name: 'Auditors' } });
    const org = Number(r.json.id);
    r = await sb.call('POST', `${SD}/servicedesk/3/organization`, { body: { organizationId: org } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `${SD}/servicedesk/3/organization`);
    assert.ok(r.json.values.some((o) => Number(o.id) === org));
    r = await sb.call('POST', `${SD}/organization/${org}/user`, { body: { accountIds: ['5b10ac8d82e05b22cc7d4ef5'] } });
    assert.equal(r.status, 204);
    r = await sb.call('GET', `${SD}/organization/${org}/user`);
    assert.deepEqual(r.json.values.map((u) => u.accountId), ['5b10ac8d82e05b22cc7d4ef5']);
    r = await sb.call('GET', '/rest/api/3/issue/ITSM-1042/transitions?expand=transitions.fields');
    assertSchema(P, 'GET', '/rest/api/3/issue/{issueIdOrKey}/transitions', r, 200);
    assert.equal(r.json.transitions.find((t) => t.hasScreen).fields.resolution.required, true);
    r = await sb.call('GET', `${SD}/request/HW-7/sla`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/sla`, r, 200);
    r = await sb.call('GET', `${SD}/request/HW-7?expand=requestType,sla`);
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}`, r, 200);
  });

  test('gateway root with an OAuth token answers the same shapes', async () => {
    const state = (await sb.call('GET', '/__sandbox/state', { auth: null })).json;
    const redirect = 'http://127.0.0.1:1/cb';
    let r = await sb.call('GET', `/authorize?client_id=sandbox-client-id&scope=offline_access&redirect_uri=${encodeURIComponent(redirect)}&response_type=code`, { auth: null });
    const code = new URL(r.headers.get('location')).searchParams.get('code');
    r = await sb.call('POST', '/oauth/token', {
      auth: null,
      body: { grant_type: 'authorization_code', client_id: 'sandbox-client-id', client_secret: 'sandbox-client-secret', code, redirect_uri: redirect },
    });
    const auth = `Bearer ${r.json.access_token}`;
    const gw = `/ex/jira/${state.cloudId}`;
    r = await sb.call('GET', `${gw}/rest/api/3/search/jql?jql=project%3DITSM&fields=summary,status,reporter&maxResults=3`, { auth });
    assertSchema(P, 'GET', '/rest/api/3/search/jql', r, 200);
    r = await sb.call('GET', `${gw}/rest/api/3/issue/ITSM-994`, { auth });
    assertSchema(P, 'GET', '/rest/api/3/issue/{issueIdOrKey}', r, 200);
    r = await sb.call('GET', `${gw}${SD}/servicedesk/2/queue?includeCount=true`, { auth });
    assertSchema(J, 'GET', `${SD}/servicedesk/{serviceDeskId}/queue`, r, 200);
    assert.ok(r.json._links.base.includes(gw));
    r = await sb.call('GET', `${gw}${SD}/request/ITSM-994/sla`, { auth });
    assertSchema(J, 'GET', `${SD}/request/{issueIdOrKey}/sla`, r, 200);
  });
});
