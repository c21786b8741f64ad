/* sb_routes_attach: attachments on both API families.
 *
 * Platform: POST /rest/api/3/issue/{key}/attachments (multipart, form field
 * "file", X-Atlassian-Token: no-check or Cloud's XSRF 403), GET
 * /rest/api/3/attachment/{id} (metadata) and .../attachment/content/{id}
 * (303 to ?redirect=false unless redirect=false, which answers the bytes).
 * JSM: POST servicedesk/{id}/attachTemporaryFile (multipart, the same
 * header) gives temporary ids; POST request/{key}/attachment turns them into
 * attachments with a comment; GET request/{key}/attachment lists them.
 * Uploads are bounded by --max-attachment-bytes (413 beyond).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_multipart.h"
#include "sb_pack.h"
#include "sb_render.h"
#include "sb_render_jsm.h"

#define SD "/rest/servicedeskapi"

/* Multipart endpoints are XSRF-protected: without the header Cloud answers
 * 403 "XSRF check failed" (text). 1 when refused. */
static int xsrf_refused(sb_call_t *c)
{
    const char *t = httpd_req_header(c->req, "X-Atlassian-Token");
    if (t && !strcasecmp(t, "no-check"))
        return 0;
    static const char msg[] = "XSRF check failed";
    httpd_respond(c->req, 403, "text/plain;charset=UTF-8", msg, sizeof msg - 1);
    return 1;
}

/* The "file" parts of the body; -1 when it answered an error. */
static int file_parts(sb_call_t *c, sb_part_t *parts, int *nfiles)
{
    size_t len;
    const char *body = httpd_req_body(c->req, &len);
    char err[200];
    sb_part_t all[SB_MULTIPART_MAX_PARTS];
    int n = sb_multipart_parse(httpd_req_header(c->req, "Content-Type"), body, len, all, SB_MULTIPART_MAX_PARTS, err,
                               sizeof err);
    int jsm = c->route->family == SB_FAM_JSM;
    if (n < 0) {
        if (jsm)
            sb_err_jsm(c, 400, err, "sd.attachment.error.multipart");
        else
            sb_err_platform(c, 400, err);
        return -1;
    }
    *nfiles = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(all[i].name, "file") != 0)
            continue;
        if (all[i].len > (size_t)c->sb->cfg.max_attachment) {
            char msg[200];
            snprintf(msg, sizeof msg, "The file '%.100s' is larger than the attachment size limit (%d bytes).",
                     all[i].filename, c->sb->cfg.max_attachment);
            if (jsm)
                sb_err_jsm(c, 413, msg, "sd.attachment.error.too.large");
            else
                sb_err_platform(c, 413, msg);
            return -1;
        }
        parts[(*nfiles)++] = all[i];
    }
    if (!*nfiles) {
        const char *msg = "The multipart body has no part named 'file'.";
        if (jsm)
            sb_err_jsm(c, 400, msg, "sd.attachment.error.no.file");
        else
            sb_err_platform(c, 400, msg);
        return -1;
    }
    return 0;
}

static unsigned char *copy_bytes(const sb_part_t *p)
{
    unsigned char *b = mem_alloc(p->len ? p->len : 1);
    memcpy(b, p->data, p->len);
    return b;
}

static const char *part_mime(const sb_part_t *p)
{
    return p->ctype[0] ? p->ctype : "application/octet-stream";
}

static const char *part_name(const sb_part_t *p)
{
    return p->filename[0] ? p->filename : "file";
}

/* ---- platform ---- */
static void h_issue_attach(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is || xsrf_refused(c))
        return;
    sb_part_t parts[SB_MULTIPART_MAX_PARTS];
    int n;
    if (file_parts(c, parts, &n) != 0)
        return;
    if (is->nattachments + n > SB_MAX_ATTACHMENTS) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of attachments.");
        return;
    }
    int64_t now = sb_now(c->sb);
    json_t *out = json_array();
    sb_change_t *ch = sb_history_begin(c->sb->data, is, c->user, now);
    for (int i = 0; i < n; i++) {
        sb_attachment_t *a = sb_attachment_add(c->sb->data, is, c->user, part_name(&parts[i]), part_mime(&parts[i]),
                                               copy_bytes(&parts[i]), (int)parts[i].len, now);
        char id[16];
        snprintf(id, sizeof id, "%d", a->id);
        if (ch)
            sb_history_item(ch, "Attachment", "attachment", 0, NULL, NULL, id, a->filename);
        json_array_append_new(out, sb_attachment_json(c, a, 1));
    }
    sb_json(c, 200, out);
}

/* The attachment named by param "id" when the caller may see its issue. */
static sb_attachment_t *attachment_or_404(sb_call_t *c)
{
    char *end;
    const char *id = sb_param(c, "id");
    long want = strtol(id, &end, 10);
    sb_issue_t *owner = NULL;
    sb_attachment_t *a = *end ? NULL : sb_attachment_find(c->sb->data, want, &owner);
    if (!a || !sb_visible(c, owner)) {
        char msg[160];
        snprintf(msg, sizeof msg, "The attachment with id '%.40s' does not exist", id);
        sb_err_platform(c, 404, msg);
        return NULL;
    }
    return a;
}

static void h_attachment_meta(sb_call_t *c)
{
    sb_attachment_t *a = attachment_or_404(c);
    if (a)
        sb_json(c, 200, sb_attachment_json(c, a, 0));
}

/* Cloud answers 303 to the media service unless redirect=false; here the
 * redirect points back at this endpoint with redirect=false. */
static void h_attachment_content(sb_call_t *c)
{
    sb_attachment_t *a = attachment_or_404(c);
    if (!a)
        return;
    if (sb_query_bool(c, "redirect", 1)) {
        char loc[700];
        snprintf(loc, sizeof loc, "%s/rest/api/3/attachment/content/%d?redirect=false", c->base, a->id);
        httpd_resp_header(c->req, "Location", loc);
        httpd_respond(c->req, 303, "text/plain", "", 0);
        return;
    }
    int owned;
    const unsigned char *bytes = sb_attachment_bytes(a, &owned);
    char disp[400];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", a->filename);
    for (char *p = disp; *p; p++) /* header-safe */
        if ((unsigned char)*p < 0x20 || (*p == '"' && p > disp + 22 && p[1]))
            *p = '_';
    httpd_resp_header(c->req, "Content-Disposition", disp);
    httpd_respond(c->req, 200, a->mime, (const char *)bytes, (size_t)a->size);
    if (owned)
        free((void *)bytes);
}

/* ---- servicedeskapi ---- */
static void h_attach_temporary(sb_call_t *c)
{
    int p = sb_desk_find(c->sb->data, sb_param(c, "desk"));
    if (p < 0) {
        sb_err_jsm(c, 404, "The Service Desk you are trying to view does not exist.",
                   "sd.agent.servicedesk.error.servicedesk.missing");
        return;
    }
    if (xsrf_refused(c))
        return;
    sb_part_t parts[SB_MULTIPART_MAX_PARTS];
    int n;
    if (file_parts(c, parts, &n) != 0)
        return;
    int64_t now = sb_now(c->sb);
    json_t *tmp = json_array();
    for (int i = 0; i < n; i++) {
        sb_tempfile_t *t = sb_tempfile_add(c->sb->data, p, c->user, part_name(&parts[i]), part_mime(&parts[i]),
                                           copy_bytes(&parts[i]), (int)parts[i].len, now);
        if (!t) {
            json_decref(tmp);
            sb_err_jsm(c, 413, "Too many temporary attachments are waiting to be attached.",
                       "sd.attachment.error.temporary.limit");
            return;
        }
        json_array_append_new(tmp, sb_pack("{s:s, s:s}", "temporaryAttachmentId", t->id, "fileName", t->filename));
    }
    sb_json(c, 201, sb_pack("{s:o}", "temporaryAttachments", tmp));
}

static json_t *jsm_attachment_item(const sb_call_t *c, const void *ud, long i)
{
    const sb_issue_t *is = ud;
    return sb_jsm_attachment_json(c, &is->attachments[i]);
}

static void h_request_attachments(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (is)
        sb_jsm_list(c, 50, 100, is->nattachments, jsm_attachment_item, is);
}

/* {"temporaryAttachmentIds":[..], "public": bool, "additionalComment":{"body"}}:
 * the files become attachments of the request, announced by a comment
 * linking them (wiki markup, as the portal writes it). */
static void h_request_attach(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *ids = json_object_get(b, "temporaryAttachmentIds"), *pub = json_object_get(b, "public"), *x;
    const char *extra = jsontext_str(json_object_get(b, "additionalComment"), "body");
    sb_tempfile_t *t[SB_MAX_TEMPFILES];
    size_t i, n = 0;
    const char *bad = NULL;
    json_array_foreach(ids, i, x) {
        sb_tempfile_t *f = json_is_string(x) ? sb_tempfile_find(c->sb->data, json_string_value(x)) : NULL;
        if (!f || f->project != is->project) {
            bad = json_is_string(x) ? json_string_value(x) : "?";
            break;
        }
        if (n < SB_MAX_TEMPFILES)
            t[n++] = f;
    }
    const char *msg = !json_is_array(ids) || !json_array_size(ids) ? "temporaryAttachmentIds must list at least one id."
                      : bad ? "A temporary attachment does not exist, has expired or belongs to another service desk."
                      : pub && !json_is_boolean(pub) ? "public must be true or false."
                      : json_is_false(pub) && sb_is_customer(c) ? "Customers can only add public attachments."
                      : is->nattachments + (int)n > SB_MAX_ATTACHMENTS ? "The request has reached the maximum number of attachments."
                      : NULL;
    if (msg) {
        json_decref(b);
        sb_err_jsm(c, 400, msg, "sd.attachment.error.invalid");
        return;
    }
    /* The comment first (a temporary file's name is the attachment's: the
     * same 256 bytes): one too long is refused before anything is written,
     * never kept cut. */
    buf_t text;
    buf_init(&text, SB_MAX_TEXT - 1);
    buf_printf(&text, "%s%s", extra ? extra : "", extra && *extra ? "\n\n" : "");
    for (size_t k = 0; k < n; k++)
        buf_printf(&text, "%s[^%s]", k ? " " : "", t[k]->filename);
    if (!buf_ok(&text)) {
        json_decref(b);
        sb_err_jsm(c, 400, "The comment is too long.", "sd.comment.error.body.too.long");
        return;
    }
    int64_t now = sb_now(c->sb);
    json_t *values = json_array();
    for (size_t k = 0; k < n; k++) {
        sb_attachment_t *a = sb_attachment_add(c->sb->data, is, c->user, t[k]->filename, t[k]->mime, t[k]->bytes,
                                               t[k]->size, now);
        t[k]->bytes = NULL; /* now the attachment's */
        sb_tempfile_release(t[k]);
        json_array_append_new(values, sb_jsm_attachment_json(c, a));
    }
    sb_comment_t *cm = sb_comment_add(c->sb->data, is, c->user, text.data ? text.data : "" /* whole: checked */, NULL, !json_is_false(pub), now);
    buf_free(&text);
    json_decref(b);
    json_t *r = sb_pack("{s:o}", "attachments", sb_jsm_page(c, values, 0, 50, (long)n));
    if (cm)
        json_object_set_new(r, "comment", sb_jsm_comment_json(c, is, cm));
    sb_json(c, 201, r);
}

static const sb_route_t ROUTES[] = {
    {"POST", "/rest/api/3/issue/:key/attachments", h_issue_attach, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/attachment/content/:id", h_attachment_content, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/attachment/:id", h_attachment_meta, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", SD "/servicedesk/:desk/attachTemporaryFile", h_attach_temporary, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key/attachment", h_request_attachments, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request/:key/attachment", h_request_attach, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
};

void sb_routes_attach(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
