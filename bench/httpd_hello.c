/* Minimal httpd server for measuring the HTTP layer alone (bench/run.sh):
 * answers every request with a 2-byte body. Usage: httpd_hello PORT */
#include <stdlib.h>

#include "httpd.h"

static void handler(httpd_req_t *req, void *ud)
{
    (void)ud;
    httpd_respond(req, 200, "text/plain", "ok", 2);
}

int main(int argc, char **argv)
{
    httpd_config_t cfg;
    httpd_t *h;
    uv_loop_t *loop = uv_default_loop();
    httpd_config_defaults(&cfg);
    cfg.port = argc > 1 ? atoi(argv[1]) : 8099;
    if (httpd_create(&h, loop, &cfg, handler, NULL) != 0)
        return 1;
    return uv_run(loop, UV_RUN_DEFAULT);
}
