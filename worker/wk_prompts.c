/* wk_prompts: see wk_prompts.h. */
#include "wk_prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "jsontext.h"
#include "schema.h"
#include "wk_fixtures.h"

extern const embed_file_t worker_embedded[];

#define WK_PROMPTS_MAX 100
#define WK_PROMPT_ARGS_MAX 16
#define WK_PROMPT_TEXT_MAX (64 * 1024)

typedef struct prompt_s {
    const char *name;
    const json_t *def;          /* the document's entry (borrowed from the document) */
    json_t *listed;             /* the Prompt object prompts/list shows */
    json_t *schemas;            /* {"<arg>": schema with $kind expanded} */
    int fixture;                /* from worker/fixtures.json: conformance profile only */
} prompt_t;

typedef struct wk_prompts_s {
    json_t *doc;
    prompt_t p[WK_PROMPTS_MAX];
    size_t n;
} wk_prompts_t;

static void clear(wk_prompts_t *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        json_decref(ps->p[i].listed);
        json_decref(ps->p[i].schemas);
    }
    json_decref(ps->doc);
    free(ps);
}

void wk_prompts_free(wk_worker_t *w)
{
    if (w->prompts)
        clear(w->prompts);
    w->prompts = NULL;
}

/* Every {name} of text must be an argument of the prompt (a typo would
 * reach the model as a literal placeholder). */
static int check_placeholders(const char *text, const json_t *args, const char *prompt, char *err, size_t errsz)
{
    for (const char *s = text; (s = strchr(s, '{')) != NULL; s++) {
        size_t n = strspn(s + 1, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (n == 0 || s[1 + n] != '}')
            continue; /* JSON in the text ({"id": ...}) */
        int found = 0;
        size_t i;
        const json_t *a;
        json_array_foreach(args, i, a)
            if (strlen(jsontext_str(a, "name")) == n && strncmp(jsontext_str(a, "name"), s + 1, n) == 0)
                found = 1;
        if (!found) {
            snprintf(err, errsz, "prompt %s: {%.*s} is not one of its arguments", prompt, (int)n, s + 1);
            return -1;
        }
    }
    return 0;
}

/* The argument's schema with {"$kind": X} replaced by the catalog's kind X
 * (its description kept). */
static json_t *arg_schema(wk_worker_t *w, const json_t *a, const char *prompt, char *err, size_t errsz)
{
    const json_t *s = json_object_get(a, "schema");
    if (!json_is_object(s)) {
        snprintf(err, errsz, "prompt %s: argument %s needs a schema", prompt, jsontext_str(a, "name"));
        return NULL;
    }
    const char *kind = jsontext_str(s, "$kind");
    json_t *out;
    if (kind) {
        const json_t *ks = json_object_get(json_object_get(w->catalog->root, "arg_kinds"), kind);
        if (!json_is_object(ks) || kind[0] == '$') {
            snprintf(err, errsz, "prompt %s: argument %s: unknown $kind \"%s\"", prompt, jsontext_str(a, "name"), kind);
            return NULL;
        }
        out = json_deep_copy(ks);
    } else {
        out = json_deep_copy(s);
    }
    if (!json_is_string(json_object_get(out, "type")))
        json_object_set_new(out, "type", json_string("string")); /* MCP prompt arguments are strings */
    char why[200];
    if (schema_check_supported(out, why, sizeof why) != 0) {
        snprintf(err, errsz, "prompt %s: argument %s: %s", prompt, jsontext_str(a, "name"), why);
        json_decref(out);
        return NULL;
    }
    return out;
}

static int load_prompt(wk_worker_t *w, prompt_t *p, const json_t *def, int fixture, char *err, size_t errsz)
{
    p->def = def;
    p->fixture = fixture;
    p->name = jsontext_str(def, "name");
    const json_t *args = json_object_get(def, "arguments");
    if (!p->name || !jsontext_str(def, "description") || !json_is_array(args) ||
        json_array_size(args) > WK_PROMPT_ARGS_MAX) {
        snprintf(err, errsz, "prompt %s: needs name, description and arguments (at most %d)",
                 p->name ? p->name : "(unnamed)", WK_PROMPT_ARGS_MAX);
        return -1;
    }
    p->schemas = json_object();
    json_t *largs = json_array();
    p->listed = json_pack("{s:s,s:O,s:o}", "name", p->name, "description", json_object_get(def, "description"),
                          "arguments", largs);
    if (jsontext_str(def, "title"))
        json_object_set(p->listed, "title", json_object_get(def, "title"));
    size_t i;
    const json_t *a;
    json_array_foreach(args, i, a) {
        const char *an = jsontext_str(a, "name");
        if (!an || !jsontext_str(a, "description")) {
            snprintf(err, errsz, "prompt %s: argument %zu needs name and description", p->name, i);
            return -1;
        }
        json_t *sch = arg_schema(w, a, p->name, err, errsz);
        if (!sch)
            return -1;
        const char *def_val = jsontext_str(a, "default");
        char why[200];
        if (def_val && schema_validate(sch, json_object_get(a, "default"), why, sizeof why) != 0) {
            snprintf(err, errsz, "prompt %s: argument %s: default: %s", p->name, an, why);
            json_decref(sch);
            return -1;
        }
        json_object_set_new(p->schemas, an, sch);
        json_t *la = json_pack("{s:s,s:O,s:b}", "name", an, "description", json_object_get(a, "description"),
                               "required", json_is_true(json_object_get(a, "required")));
        if (jsontext_str(a, "title"))
            json_object_set(la, "title", json_object_get(a, "title"));
        json_array_append_new(largs, la);
    }
    if (fixture)
        return json_is_array(json_object_get(def, "messages")) ? 0 : -1;
    /* A JSM prompt: steps naming catalog tools, texts with known placeholders. */
    const json_t *steps = json_object_get(def, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0 || !jsontext_str(def, "intro") || !jsontext_str(def, "outro")) {
        snprintf(err, errsz, "prompt %s: needs intro, steps and outro", p->name);
        return -1;
    }
    const json_t *s;
    size_t required = 0;
    json_array_foreach(steps, i, s) {
        const json_t *tools = json_object_get(s, "tools");
        if (!jsontext_str(s, "text") || !json_is_array(tools) || json_array_size(tools) == 0) {
            snprintf(err, errsz, "prompt %s: step %zu needs text and tools", p->name, i + 1);
            return -1;
        }
        size_t j;
        const json_t *t;
        json_array_foreach(tools, j, t)
            if (!wk_catalog_find(w->catalog, json_string_value(t))) {
                snprintf(err, errsz, "prompt %s: step %zu: unknown tool %s", p->name, i + 1,
                         json_string_value(t) ? json_string_value(t) : "(not a string)");
                return -1;
            }
        if (!json_is_true(json_object_get(s, "optional")))
            required++;
        if (check_placeholders(jsontext_str(s, "text"), args, p->name, err, errsz) != 0)
            return -1;
    }
    if (!required) {
        snprintf(err, errsz, "prompt %s: needs a step that is not optional", p->name);
        return -1;
    }
    const json_t *x;
    json_array_foreach(json_object_get(def, "extra"), i, x)
        if (!jsontext_str(x, "when") || !json_object_get(p->schemas, jsontext_str(x, "when")) ||
            check_placeholders(jsontext_str(x, "text") ? jsontext_str(x, "text") : "", args, p->name, err, errsz) != 0) {
            if (!*err)
                snprintf(err, errsz, "prompt %s: extra %zu needs when (an argument) and text", p->name, i);
            return -1;
        }
    if (check_placeholders(jsontext_str(def, "intro"), args, p->name, err, errsz) != 0 ||
        check_placeholders(jsontext_str(def, "outro"), args, p->name, err, errsz) != 0)
        return -1;
    return 0;
}

int wk_prompts_load_doc(wk_worker_t *w, const char *json, size_t len, char *err, size_t errsz)
{
    char perr[160];
    *err = 0;
    wk_prompts_t *ps = mem_calloc(1, sizeof *ps);
    ps->doc = jsontext_parse(json, len, 64, perr, sizeof perr);
    const json_t *list = json_object_get(ps->doc, "prompts");
    if (!json_is_array(list)) {
        snprintf(err, errsz, "prompts document: %s", ps->doc ? "\"prompts\" must be an array" : perr);
        clear(ps);
        return -1;
    }
    const json_t *fx = wk_fixtures_get("prompts");
    if (json_array_size(list) + json_array_size(fx) > WK_PROMPTS_MAX) {
        snprintf(err, errsz, "more than %d prompts", WK_PROMPTS_MAX);
        clear(ps);
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        const json_t *d;
        json_array_foreach(pass ? fx : list, i, d) {
            prompt_t *p = &ps->p[ps->n++];
            if (load_prompt(w, p, d, pass, err, errsz) != 0) {
                if (!*err)
                    snprintf(err, errsz, "fixture prompt %zu is malformed", i);
                clear(ps);
                return -1;
            }
            for (size_t k = 0; k + 1 < ps->n; k++)
                if (strcmp(ps->p[k].name, p->name) == 0) {
                    snprintf(err, errsz, "prompt %s is defined twice", p->name);
                    clear(ps);
                    return -1;
                }
        }
    }
    wk_prompts_free(w);
    w->prompts = ps;
    return 0;
}

int wk_prompts_load(wk_worker_t *w, char *err, size_t errsz)
{
    const embed_file_t *f = embed_find(worker_embedded, "worker/prompts.json");
    if (!f) {
        snprintf(err, errsz, "worker/prompts.json was not embedded");
        return -1;
    }
    return wk_prompts_load_doc(w, f->data, f->len, err, errsz);
}

/* ---- what a server offers ---- */

static int tools_offered(wk_worker_t *w, const json_t *tools, const json_t *config)
{
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const wk_tool_t *tool = wk_catalog_find(w->catalog, json_string_value(t));
        if (!tool || !wk_catalog_allowed(tool, config))
            return 0;
    }
    return 1;
}

static int offered(wk_worker_t *w, const prompt_t *p, const json_t *config)
{
    if (p->fixture)
        return wk_fixtures_on(w, config);
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(p->def, "steps"), i, s)
        if (!json_is_true(json_object_get(s, "optional")) && !tools_offered(w, json_object_get(s, "tools"), config))
            return 0;
    return 1;
}

static const prompt_t *find(wk_worker_t *w, const json_t *config, const char *name)
{
    wk_prompts_t *ps = w->prompts;
    for (size_t i = 0; ps && name && i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0)
            return offered(w, &ps->p[i], config) ? &ps->p[i] : NULL;
    return NULL;
}

json_t *wk_prompts_list(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                        size_t errsz)
{
    if (json_object_get(params, "cursor") && !json_is_null(json_object_get(params, "cursor"))) {
        *code = WK_RPC_INVALID_PARAMS;
        snprintf(err, errsz, "Invalid params: unknown cursor (the prompt list has one page)");
        return NULL;
    }
    json_t *list = json_array();
    wk_prompts_t *ps = w->prompts;
    for (size_t i = 0; ps && i < ps->n; i++)
        if (offered(w, &ps->p[i], config))
            json_array_append(list, ps->p[i].listed);
    return json_pack("{s:o}", "prompts", list);
}

const json_t *wk_prompts_argument(wk_worker_t *w, const json_t *config, const char *prompt, const char *arg)
{
    const prompt_t *p = find(w, config, prompt);
    size_t i;
    const json_t *a;
    json_array_foreach(p ? json_object_get(p->def, "arguments") : NULL, i, a)
        if (arg && strcmp(jsontext_str(a, "name"), arg) == 0)
            return a;
    return NULL;
}

uint64_t wk_prompts_fingerprint(wk_worker_t *w, const json_t *config)
{
    uint64_t h = 1469598103934665603u;
    wk_prompts_t *ps = w->prompts;
    for (size_t i = 0; ps && i < ps->n; i++) {
        if (!offered(w, &ps->p[i], config))
            continue;
        for (const char *c = ps->p[i].name; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211u;
        h = (h ^ 0xff) * 1099511628211u;
    }
    return h;
}

/* ---- prompts/get ---- */

/* text with each {name} replaced by vals.name (placeholders were checked
 * at load; an absent optional argument without default becomes ""). */
static void render(buf_t *b, const char *text, const json_t *vals)
{
    while (*text) {
        const char *open = strchr(text, '{');
        if (!open) {
            buf_append_str(b, text);
            return;
        }
        buf_append(b, text, (size_t)(open - text));
        size_t n = strspn(open + 1, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (n && n < 64 && open[1 + n] == '}') {
            char name[64];
            memcpy(name, open + 1, n);
            name[n] = 0;
            const char *v = jsontext_str(vals, name);
            buf_append_str(b, v ? v : "");
            text = open + n + 2;
        } else {
            buf_append(b, "{", 1);
            text = open + 1;
        }
    }
}

/* The validated arguments with defaults filled in; NULL with err. */
static json_t *check_args(const prompt_t *p, const json_t *given, char *err, size_t errsz)
{
    if (given && !json_is_object(given) && !json_is_null(given)) {
        snprintf(err, errsz, "Invalid params: arguments must be an object of strings");
        return NULL;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)given, k, v)
        if (!json_object_get(p->schemas, k)) {
            snprintf(err, errsz, "Invalid arguments for prompt %s: unknown argument '%.64s'", p->name, k);
            return NULL;
        }
    json_t *vals = json_object();
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(p->def, "arguments"), i, a) {
        const char *an = jsontext_str(a, "name");
        const json_t *gv = json_object_get(given, an);
        if (!gv || json_is_null(gv) || (json_is_string(gv) && json_string_length(gv) == 0 &&
                                        !json_is_true(json_object_get(a, "required")))) {
            if (json_is_true(json_object_get(a, "required"))) {
                snprintf(err, errsz, "Invalid arguments for prompt %s: missing required argument '%s'", p->name, an);
                json_decref(vals);
                return NULL;
            }
            if (jsontext_str(a, "default"))
                json_object_set(vals, an, json_object_get(a, "default"));
            continue;
        }
        char why[300];
        if (schema_validate(json_object_get(p->schemas, an), gv, why, sizeof why) != 0) {
            snprintf(err, errsz, "Invalid arguments for prompt %s: %s: %s", p->name, an, why);
            json_decref(vals);
            return NULL;
        }
        json_object_set(vals, an, (json_t *)gv);
    }
    return vals;
}

static json_t *render_steps(wk_worker_t *w, const prompt_t *p, const json_t *config, const json_t *vals)
{
    buf_t b;
    buf_init(&b, WK_PROMPT_TEXT_MAX);
    render(&b, jsontext_str(p->def, "intro"), vals);
    buf_append_str(&b, "\n");
    int n = 0;
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(p->def, "steps"), i, s) {
        if (!tools_offered(w, json_object_get(s, "tools"), config))
            continue; /* an optional step this server cannot do */
        buf_printf(&b, "\n%d. ", ++n);
        render(&b, jsontext_str(s, "text"), vals);
    }
    buf_append_str(&b, "\n\n");
    render(&b, jsontext_str(p->def, "outro"), vals);
    json_array_foreach(json_object_get(p->def, "extra"), i, s) {
        if (!json_object_get(vals, jsontext_str(s, "when")))
            continue;
        buf_append_str(&b, " ");
        render(&b, jsontext_str(s, "text"), vals);
    }
    if (wk_catalog_discovery(config))
        buf_append_str(&b, "\n\nThis server lists its tools through search_tools and get_tool_schema: call each "
                           "tool named above with call_tool {\"name\": \"<tool>\", \"arguments\": {...}}.");
    size_t len;
    char *text = buf_steal(&b, &len);
    if (!text)
        return NULL; /* over WK_PROMPT_TEXT_MAX: no prompt rather than an empty or cut one */
    json_t *msg = json_pack("{s:s,s:{s:s,s:s}}", "role", "user", "content", "type", "text", "text", text);
    free(text);
    return json_pack("{s:O,s:[o]}", "description", json_object_get(p->def, "description"), "messages", msg);
}

json_t *wk_prompts_get(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                       size_t errsz)
{
    *code = WK_RPC_INVALID_PARAMS;
    const char *name = jsontext_str(params, "name");
    if (!name) {
        snprintf(err, errsz, "Invalid params: \"name\" (string) is required");
        return NULL;
    }
    const prompt_t *p = find(w, config, name);
    if (!p) {
        snprintf(err, errsz, "Unknown prompt: %.128s (prompts/list names this server's prompts)", name);
        return NULL;
    }
    json_t *vals = check_args(p, json_object_get(params, "arguments"), err, errsz);
    if (!vals)
        return NULL;
    json_t *out;
    if (p->fixture) {
        out = json_pack("{s:O,s:o}", "description", json_object_get(p->def, "description"), "messages",
                        wk_fixtures_subst_json(json_object_get(p->def, "messages"), vals));
    } else {
        out = render_steps(w, p, config, vals);
        if (!out)
            snprintf(err, errsz, "Invalid params: the arguments make prompt %.128s longer than %d bytes", name,
                     WK_PROMPT_TEXT_MAX);
    }
    json_decref(vals);
    return out;
}
