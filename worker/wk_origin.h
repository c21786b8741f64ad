/* wk_origin: which Host and Origin the worker's MCP endpoint answers (the
 * DNS-rebinding defence of the MCP transport spec). Pure.
 */
#ifndef JSMCP_WK_ORIGIN_H
#define JSMCP_WK_ORIGIN_H

#include "wk_proc.h"

/* 1 when a Host/Origin host[:port] is acceptable: loopback names, the
 * public URL's host, and JSMCP_WORKER_ALLOWED_HOSTS ("*" = any). */
int wk_origin_host_allowed(const wk_config_t *cfg, const char *hostport);

/* 1 when a request with these Host and Origin headers (each may be NULL)
 * may be answered: a Host, when sent, must be acceptable; an Origin, when
 * sent, must be an acceptable one ("null" is refused). */
int wk_origin_ok(const wk_config_t *cfg, const char *host, const char *origin);

#endif
