/* wk_steps: see wk_steps.h. */
#include "wk_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"
#include "projection.h"
#include "wk_body.h"

/* One candidate of a resolve step, for messages. */
static void describe(buf_t *b, const json_t *item, const json_t *match, const char *value)
{
    const char *label = json_string_value(proj_path(item, json_string_value(json_array_get(match, 0))));
    const json_t *v = json_object_get(item, value);
    char num[64];
    const char *vs = "";
    if (wk_body_scalar(v, num, sizeof num, &vs) != 0)
        vs = "";
    buf_printf(b, "%s\"%.80s\" (%.80s)", b->len ? ", " : "", label ? label : "?", vs);
}

/* The allowed values of a screen field, "A, B, C" into b. */
static void allowed_names(buf_t *b, const json_t *field)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(field, "allowedValues"), i, v) {
        const char *n = jsontext_str(v, "name") ? jsontext_str(v, "name") : jsontext_str(v, "value");
        if (n && i < 20)
            buf_printf(b, "%s%s", i ? ", " : "", n);
    }
}

int wk_steps_screen_check(const json_t *tr, json_t *args, char *err, size_t errsz)
{
    const json_t *screen = json_object_get(tr, "fields"), *given = json_object_get(args, "fields");
    const json_t *rf = json_object_get(screen, "resolution");
    const char *res = jsontext_str(args, "resolution"), *name = jsontext_str(tr, "name"), *id = jsontext_str(tr, "id");
    buf_t b;
    buf_init(&b, 8192);
    int rc = 0;
    if (res && !rf) {
        const char *k;
        json_t *f;
        json_object_foreach((json_t *)screen, k, f)
            buf_printf(&b, "%s%s", b.len ? ", " : "", jsontext_str(f, "name") ? jsontext_str(f, "name") : k);
        snprintf(err, errsz, "resolution: transition \"%.80s\" (%s) cannot set a resolution: %s%s. Leave resolution "
                 "out, or use a transition with Resolution on its screen (list_all_jira_service_management_issue_"
                 "transitions shows each one's fields)", name ? name : "?", id ? id : "?",
                 json_is_true(json_object_get(tr, "hasScreen")) ? "its screen has only " : "it has no screen",
                 json_is_true(json_object_get(tr, "hasScreen")) ? (b.data ? b.data : "other fields") : "");
        rc = -1;
        goto done;
    }
    if (res) {
        /* By name, whatever its case; Jira gets the screen's own spelling. */
        size_t i;
        const json_t *v;
        const char *hit = NULL;
        json_array_foreach(json_object_get(rf, "allowedValues"), i, v)
            if (jsontext_str(v, "name") && strcasecmp(jsontext_str(v, "name"), res) == 0)
                hit = jsontext_str(v, "name");
        if (!hit && json_array_size(json_object_get(rf, "allowedValues")) > 0) {
            allowed_names(&b, rf);
            snprintf(err, errsz, "resolution: \"%.80s\" is not a resolution of this site; one of: %s", res,
                     buf_ok(&b) && b.data ? b.data : "(too many to list)");
            rc = -1;
            goto done;
        }
        if (hit)
            json_object_set_new(args, "resolution", json_string(hit));
    }
    const char *k;
    json_t *f;
    json_object_foreach((json_t *)screen, k, f) {
        if (!json_is_true(json_object_get(f, "required")) || json_is_true(json_object_get(f, "hasDefaultValue")) ||
            (strcmp(k, "resolution") == 0 && res) || json_object_get(given, k))
            continue;
        buf_printf(&b, "%s%s (%s", b.len ? "; " : "", jsontext_str(f, "name") ? jsontext_str(f, "name") : k, k);
        if (json_array_size(json_object_get(f, "allowedValues")) > 0) {
            buf_append_str(&b, "; one of: ");
            allowed_names(&b, f);
        }
        buf_append_str(&b, ")");
    }
    if (!buf_ok(&b)) {
        /* Too many required fields to name (upstream text, unbounded): the
         * check must still fail, never pass on an empty list. */
        snprintf(err, errsz, "transition \"%.80s\" (%s) has a screen with more required fields than this message "
                 "can name; list_all_jira_service_management_issue_transitions shows them. Pass resolution (by "
                 "name) for Resolution and the others in fields (by id or name)", name ? name : "?", id ? id : "?");
        rc = -1;
    } else if (b.len) {
        snprintf(err, errsz, "transition \"%.80s\" (%s) has a screen with required fields this call does not "
                 "give: %s. Pass resolution (by name) for Resolution and the others in fields (by id or name); "
                 "comment adds a comment", name ? name : "?", id ? id : "?", b.data);
        rc = -1;
    }
done:
    buf_free(&b);
    return rc;
}

int wk_steps_match(const json_t *step, json_t *args, const json_t *body, const json_t **out, char *msg, size_t msgsz,
                   const char **hint)
{
    const json_t *match = json_object_get(step, "match");
    const char *when = jsontext_str(step, "when"), *set = jsontext_str(step, "set"), *value = jsontext_str(step, "value");
    const char *noun = jsontext_str(step, "noun") ? jsontext_str(step, "noun") : when;
    const char *want = jsontext_str(args, when);
    /* "always" without the name: the id given must be one of the items
     * (a transition available now, its screen checked). */
    char idbuf[64];
    const char *want_id = NULL;
    if (!want && wk_body_scalar(json_object_get(args, set), idbuf, sizeof idbuf, &want_id) != 0)
        want_id = NULL;
    /* An email matches only the member that holds emails, exactly: a
     * search by email would otherwise take a near miss for the answer. */
    const char *email = want && strchr(want, '@') ? jsontext_str(step, "email") : NULL;
    const json_t *items = proj_path(body, jsontext_str(step, "items") ? jsontext_str(step, "items") : ".");
    const json_t *hit = NULL;
    int nhits = 0;
    buf_t all, hits;
    buf_init(&all, 4096);
    buf_init(&hits, 4096);
    size_t i, j;
    const json_t *it, *m;
    json_array_foreach(items, i, it) {
        if (i < 10)
            describe(&all, it, match, value);
        int ok = 0;
        if (want_id) {
            char nb[64];
            const char *have;
            ok = wk_body_scalar(json_object_get(it, value), nb, sizeof nb, &have) == 0 && strcmp(have, want_id) == 0;
        } else if (email) {
            const char *have = json_string_value(proj_path(it, email));
            ok = have && strcasecmp(have, want) == 0;
        } else {
            json_array_foreach(match, j, m) {
                const char *s = json_string_value(proj_path(it, json_string_value(m)));
                ok |= s && want && strcasecmp(s, want) == 0;
            }
        }
        if (ok) {
            if (nhits++ == 0)
                hit = it;
            if (nhits <= 10) /* the message names ten, as the candidates list (and fits its buffer) */
                describe(&hits, it, match, value);
        }
    }
    /* A search step (the upstream already filtered by the text): one result
     * is the answer even without an exact match, several are ambiguous. */
    if (nhits == 0 && !want_id && !email && json_is_true(json_object_get(step, "search")) &&
        json_array_size(items) > 0) {
        nhits = (int)json_array_size(items);
        hit = json_array_get(items, 0);
        buf_free(&hits);
        buf_init(&hits, 4096);
        json_array_foreach(items, i, it)
            if (i < 10)
                describe(&hits, it, match, value);
    }
    msg[0] = 0;
    *out = NULL;
    *hint = "Pick one candidate and call again with its id.";
    if (nhits == 1 && json_object_get(hit, value) && json_is_true(json_object_get(step, "screen")))
        wk_steps_screen_check(hit, args, msg, msgsz);
    if (nhits == 1 && json_object_get(hit, value) && !msg[0])
        *out = hit;
    else if (msg[0])
        *hint = "Call again with the fields the transition's screen requires.";
    else if (nhits > 1)
        snprintf(msg, msgsz, "%s \"%.100s\" is ambiguous: it matches %s. Pass %s instead.", noun,
                 want ? want : "", hits.data ? hits.data : "", set);
    else if (want_id)
        snprintf(msg, msgsz, "%s %.40s %s%s%s", set, want_id,
                 jsontext_str(step, "unavailable") ? jsontext_str(step, "unavailable") : "is not available now",
                 all.data ? "; candidates: " : " (there are none)", all.data ? all.data : "");
    else if (email)
        snprintf(msg, msgsz, "no %s has the email address \"%.100s\": the address is wrong, or the user hides "
                 "it (Atlassian's privacy settings leave emailAddress out of many profiles, customers' above all, "
                 "and a hidden address cannot be searched for)%s%s. Pass %s, or search by display name (prefix)",
                 noun, want, all.data ? "; found: " : "", all.data ? all.data : "", set);
    else
        snprintf(msg, msgsz, "no %s matches \"%.100s\"%s%s. Pass %s, or one of the names shown.",
                 noun, want ? want : "", all.data ? "; candidates: " : "", all.data ? all.data : "", set);
    if (!*out && email)
        *hint = "Ask the user for the person's accountId or display name; an email hidden by its owner cannot be "
                "looked up.";
    buf_free(&all);
    buf_free(&hits);
    return *out ? 1 : 0;
}

const json_t *wk_steps_next(const json_t *resolve, const json_t *args, size_t *i)
{
    while (*i < json_array_size(resolve)) {
        const json_t *step = json_array_get(resolve, (*i)++);
        const char *when = jsontext_str(step, "when"), *set = jsontext_str(step, "set");
        int always = json_is_true(json_object_get(step, "always"));
        if (!jsontext_str(args, when) && !(always && json_object_get(args, set)))
            continue;
        if (json_object_get(args, set) && !always)
            continue;
        return step;
    }
    return NULL;
}

int wk_steps_answer(const json_t *step, json_t *args, const json_t *body, char *msg, size_t msgsz,
                    const char **hint)
{
    const json_t *hit;
    if (json_object_get(step, "match")) {
        if (!wk_steps_match(step, args, body, &hit, msg, msgsz, hint))
            return 400;
        json_object_set(args, jsontext_str(step, "set"), json_object_get(hit, jsontext_str(step, "value")));
        return 0;
    }
    const json_t *v = proj_path(body, jsontext_str(step, "value"));
    char num[64];
    const char *s;
    if (wk_body_scalar(v, num, sizeof num, &s) != 0 || !*s || json_is_boolean(v)) {
        snprintf(msg, msgsz, "the site's answer to %.200s has no %.80s", jsontext_str(step, "path"),
                 jsontext_str(step, "value"));
        *hint = "Try again later; if it keeps failing the site answers differently than Jira Cloud documents.";
        return 502;
    }
    json_object_set_new(args, jsontext_str(step, "set"), json_string(s));
    return 0;
}
