/* sb_kb: the sandbox site's knowledge base, a few Confluence articles per
 * service desk, and JSM's article search over them
 * (GET /rest/servicedeskapi/knowledgebase/article?query= and per desk).
 *
 * Search: every word of the query must occur in the title or the body
 * (case-insensitive); title hits rank first. The excerpt is the body around
 * the first hit, with JSM's highlight markers (@@@hl@@@ ... @@@endhl@@@)
 * when asked.
 */
#ifndef JSMCP_SB_KB_H
#define JSMCP_SB_KB_H

#include <stddef.h>

typedef struct sb_article_s {
    int project;          /* project index of the desk whose knowledge base holds it */
    const char *page_id;  /* Confluence page id */
    const char *space;    /* Confluence space key */
    const char *title;
    const char *body;
} sb_article_t;

extern const sb_article_t sb_articles[];
extern const int sb_narticles;

/* Indices of the articles matching query (project -1: every desk), best
 * first; returns the count (at most max). */
int sb_kb_search(const char *query, int project, int *out, int max);
/* The excerpt of article a for query into out (highlight: JSM's markers). */
void sb_kb_excerpt(const sb_article_t *a, const char *query, int highlight, char *out, size_t outsz);

#endif
