/* sb_jql_ast: the parsed query, as sb_jql.c builds it and sb_jql_eval.c
 * (matching) and sb_jql_order.c (ORDER BY) read it. Private to those three
 * files: callers see only the opaque sb_jql_t of sb_jql.h.
 *
 * Every value is resolved against the data set when parsing (an index, an
 * id, an absolute or relative time, a function id), so matching does no
 * lookups by name except for labels, request types, organizations and text.
 * Plain types and small inline helpers only; no state. */
#ifndef JSMCP_SB_JQL_AST_H
#define JSMCP_SB_JQL_AST_H

#include <stdint.h>

#include "sb_data.h"
#include "sb_jql.h"

#define SB_JQL_MAX_TOKLEN 256 /* longest token kept; a longer one is cut */
#define SB_JQL_MIN_MS (60LL * 1000)
#define SB_JQL_DAY_MS (24 * 60 * SB_JQL_MIN_MS)

enum field {
    F_PROJECT, F_KEY, F_ISSUETYPE, F_STATUS, F_STATUSCAT, F_RESOLUTION, F_ASSIGNEE, F_REPORTER,
    F_CREATOR, F_PRIORITY, F_LABELS, F_RTYPE, F_SLA_FR, F_SLA_RES, F_TEXT, F_SUMMARY,
    F_DESCRIPTION, F_COMMENT, F_CREATED, F_UPDATED, F_RESOLVED, F_DUE, F_ORG,
    F_XFIELD /* the site's custom fields (sb_xfield_t): clause_t.xmask says which */
};
enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_IS, OP_ISNOT, OP_LIKE, OP_NOTLIKE, OP_GT, OP_GE, OP_LT, OP_LE };

enum vkind { V_INT, V_STR, V_EMPTY, V_DATE_ABS, V_DATE_REL, V_DATE_FN, V_CURRENT_USER, V_SLA_FN };
enum datefn { DF_NOW, DF_SOD, DF_EOD, DF_SOW, DF_EOW, DF_SOM, DF_EOM, DF_SOY, DF_EOY };
enum slafn { SF_BREACHED, SF_RUNNING, SF_COMPLETED, SF_PAUSED };

typedef struct val_s {
    int kind;
    int64_t i;   /* resolved index/id, absolute ms, relative offset, fn id */
    int64_t off; /* date fn offset */
    char *s;
} val_t;

typedef struct clause_s {
    int field;
    int op;
    val_t *vals;
    int nvals;
    unsigned xmask; /* F_XFIELD: bit i = d->xfields[i]; a name several fields share searches them all */
} clause_t;

enum nkind { N_AND, N_OR, N_NOT, N_CLAUSE };
typedef struct node_s {
    int kind;
    struct node_s *a, *b;
    clause_t c;
} node_t;

typedef struct order_s {
    int field;
    int desc;
} order_t;

struct sb_jql_s {
    node_t *where;
    order_t order[SB_JQL_MAX_ORDER];
    int norder;
};

static inline int sb_jql_is_user(int f)
{
    return f == F_ASSIGNEE || f == F_REPORTER || f == F_CREATOR;
}
static inline int sb_jql_is_date(int f)
{
    return f == F_CREATED || f == F_UPDATED || f == F_RESOLVED || f == F_DUE;
}
static inline int sb_jql_is_text(int f)
{
    return f == F_TEXT || f == F_SUMMARY || f == F_DESCRIPTION || f == F_COMMENT;
}
static inline int sb_jql_is_sla(int f)
{
    return f == F_SLA_FR || f == F_SLA_RES;
}

/* The issue's user (index, -1 = none) or time (ms, 0 = none) for field f. */
static inline int sb_jql_user_of(const sb_issue_t *is, int f)
{
    return f == F_ASSIGNEE ? is->assignee : f == F_REPORTER ? is->reporter : is->creator;
}

static inline int64_t sb_jql_date_of(const sb_issue_t *is, int f)
{
    return f == F_CREATED ? is->created : f == F_UPDATED ? is->updated : f == F_RESOLVED ? is->resolved : is->due;
}

#endif
