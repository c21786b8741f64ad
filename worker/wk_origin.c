/* wk_origin: see wk_origin.h. */
#include "wk_origin.h"

#include <string.h>
#include <strings.h>

#include "buf.h"

int wk_origin_host_allowed(const wk_config_t *cfg, const char *hostport)
{
    char host[300];
    if (!hostport || strlen(hostport) >= sizeof host)
        return 0;
    str_copy(host, sizeof host, hostport);
    /* Strip the port: "[::1]:8081" -> "[::1]", "a.b:80" -> "a.b". */
    char *colon = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
    if (colon)
        colon[host[0] == '[' ? 1 : 0] = 0;
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
        strcmp(host, "[::1]") == 0)
        return 1;
    const char *lists[2] = {cfg->allowed_hosts, NULL};
    char pub[300] = "";
    if (cfg->public_url) {
        const char *p = strstr(cfg->public_url, "://");
        p = p ? p + 3 : cfg->public_url;
        size_t n = strcspn(p, "/:?#");
        if (n < sizeof pub) {
            memcpy(pub, p, n);
            pub[n] = 0;
        }
        lists[1] = pub;
    }
    for (int i = 0; i < 2; i++) {
        const char *p = lists[i];
        while (p && *p) {
            size_t n = strcspn(p, ", ");
            if (n == 1 && *p == '*')
                return 1;
            if (n && n == strlen(host) && strncasecmp(p, host, n) == 0)
                return 1;
            p += n;
            p += strspn(p, ", ");
        }
    }
    return 0;
}

int wk_origin_ok(const wk_config_t *cfg, const char *host, const char *origin)
{
    if (host && !wk_origin_host_allowed(cfg, host))
        return 0;
    if (!origin || strcmp(origin, "null") == 0)
        return origin == NULL;
    const char *p = strstr(origin, "://");
    return p && wk_origin_host_allowed(cfg, p + 3);
}
