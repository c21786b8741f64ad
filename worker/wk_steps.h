/* wk_steps: the pure half of a catalog row's pre-steps ("resolve",
 * wk_catalog.h), which the call runs over httpc (wk_call.h, state STEPS):
 * which step is next, matching the items of a step's answer against the
 * call's arguments, and the check of a transition's screen. No I/O; unit
 * tested.
 *
 * A matching step names: when (the argument holding a name), set (the
 * argument the match fills), items (the array in the answer), match (the
 * item members compared with the name, case-insensitive), value (the
 * member that goes into set), noun (for messages), search (the answer is a
 * search: one item is the answer even without an exact match), email (the
 * member holding emails: a name with an @ matches it only, exactly),
 * always (when set is given instead of the name, it must be the value of
 * one item; unavailable: the message otherwise) and screen (the matched
 * transition's screen is checked).
 */
#ifndef JSMCP_WK_STEPS_H
#define JSMCP_WK_STEPS_H

#include <jansson.h>
#include <stddef.h>

/* 1 with *hit (an item of body, borrowed) when exactly one item matches
 * (and passes the screen check when the step asks for it); else 0 with an
 * agent-facing msg (the candidates, why an email may not match, what the
 * screen requires) and *hint. args may be changed by the screen check. */
int wk_steps_match(const json_t *step, json_t *args, const json_t *body, const json_t **hit, char *msg, size_t msgsz,
                   const char **hint);

/* A transition (an item of GET /issue/{id}/transitions?expand=transitions.fields)
 * against a call's arguments: resolution (a name; replaced by the screen's
 * own spelling) and fields (field ids). 0, or -1 with err naming what the
 * transition's screen requires (its required fields without a default,
 * with their allowed values) or why the resolution cannot be set. */
int wk_steps_screen_check(const json_t *transition, json_t *args, char *err, size_t errsz);

/* The next resolve step to run from *i on (advanced past it): a step runs
 * when its "when" argument is given and its "set" is not (or, with
 * "always", when either is). NULL when none is left. */
const json_t *wk_steps_next(const json_t *resolve, const json_t *args, size_t *i);

/* A step's answer body into args: with "match", the matched item's value
 * (wk_steps_match); without, the answer's value at "value" (a request's
 * service desk id, an uploaded file's temporary id). 0, or the status of
 * the failure (400 no match, 502 no value) with msg and *hint. */
int wk_steps_answer(const json_t *step, json_t *args, const json_t *body, char *msg, size_t msgsz,
                    const char **hint);

#endif
