/* cfg: defaults, valid and invalid integers, durations and listen
 * addresses, and that the first error is the one reported. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define VAR "JSMCP_TEST_CFG_VAR"

static void setup(void)
{
    unsetenv(VAR);
}

TestSuite(cfg, .init = setup);

Test(cfg, str)
{
    cr_assert_str_eq(cfg_str(VAR, "dflt"), "dflt");
    setenv(VAR, "", 1);
    cr_assert_str_eq(cfg_str(VAR, "dflt"), "dflt", "empty means unset");
    setenv(VAR, "v", 1);
    cr_assert_str_eq(cfg_str(VAR, "dflt"), "v");
    cr_assert_null(cfg_str("JSMCP_TEST_CFG_UNSET", NULL));
}

static long int_of(const char *v, cfg_err_t *ce)
{
    setenv(VAR, v, 1);
    return cfg_int(VAR, 7, -5, 100, ce);
}

Test(cfg, ints)
{
    cfg_err_t ce = {0};
    cr_assert_eq(cfg_int(VAR, 7, 0, 10, &ce), 7);
    cr_assert_eq(int_of("42", &ce), 42);
    cr_assert_eq(int_of("-5", &ce), -5);
    cr_assert_eq(int_of("100", &ce), 100);
    cr_assert_eq(ce.n, 0);

    cr_assert_eq(int_of("abc", &ce), 7);
    cr_assert_eq(ce.n, 1);
    cr_assert_str_eq(ce.msg, VAR ": 'abc' is not an integer");
    static const char *bad[] = {"101", "-6", "4x", " 4", "", "0x10", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg_err_t e = {0};
        long v = int_of(bad[i], &e);
        cr_assert_eq(v, 7, "'%s' gives the default", bad[i]);
        if (bad[i][0])
            cr_assert_eq(e.n, 1, "'%s' is an error", bad[i]);
    }
    cfg_err_t e = {0};
    int_of("101", &e);
    cr_assert_str_eq(e.msg, VAR ": 101 is out of range [-5, 100]");
    int_of("x", &e);
    cr_assert_eq(e.n, 2);
    cr_assert_str_eq(e.msg, VAR ": 101 is out of range [-5, 100]", "keeps the first error");
}

Test(cfg, durations)
{
    uint64_t ms;
    cr_assert(cfg_parse_ms("250", &ms) == 0 && ms == 250);
    cr_assert(cfg_parse_ms("250ms", &ms) == 0 && ms == 250);
    cr_assert(cfg_parse_ms("5s", &ms) == 0 && ms == 5000);
    cr_assert(cfg_parse_ms("2m", &ms) == 0 && ms == 120000);
    cr_assert(cfg_parse_ms("1h", &ms) == 0 && ms == 3600000);
    cr_assert(cfg_parse_ms("0", &ms) == 0 && ms == 0);
    static const char *bad[] = {"", "s", "-1s", "+1", "1d", "1 s", "1.5s", "5sec", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(cfg_parse_ms(bad[i], &ms), -1, "'%s'", bad[i]);

    cfg_err_t ce = {0};
    cr_assert_eq(cfg_ms(VAR, 30000, 100, 60000, &ce), 30000);
    setenv(VAR, "10s", 1);
    cr_assert_eq(cfg_ms(VAR, 30000, 100, 60000, &ce), 10000);
    cr_assert_eq(ce.n, 0);
    setenv(VAR, "2m", 1);
    cr_assert_eq(cfg_ms(VAR, 30000, 100, 60000, &ce), 30000);
    cr_assert_str_eq(ce.msg, VAR ": 2m is out of range [100ms, 60000ms]");
    cfg_err_t e2 = {0};
    setenv(VAR, "soon", 1);
    cfg_ms(VAR, 1, 0, 10, &e2);
    cr_assert_not_null(strstr(e2.msg, "'soon' is not a duration"), "%s", e2.msg);
}

Test(cfg, listen)
{
    char host[64];
    int port = -1;
    cfg_err_t ce = {0};
    cr_assert_eq(cfg_listen(VAR, "127.0.0.1:8080", host, sizeof host, &port, &ce), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 8080);
    setenv(VAR, "[::1]:9000", 1);
    cr_assert_eq(cfg_listen(VAR, "127.0.0.1:8080", host, sizeof host, &port, &ce), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 9000);
    setenv(VAR, "localhost:0", 1);
    cr_assert_eq(cfg_listen(VAR, "127.0.0.1:8080", host, sizeof host, &port, &ce), 0);
    cr_assert(strcmp(host, "localhost") == 0 && port == 0);
    cr_assert_eq(ce.n, 0);

    static const struct { const char *v, *why; } bad[] = {
        {"127.0.0.1", "expected host:port"},
        {"127.0.0.1:", "port must be"},
        {"127.0.0.1:65536", "port must be"},
        {"127.0.0.1:80x", "port must be"},
        {"127.0.0.1:-1", "port must be"},
        {":8080", "host is empty"},
        {"::1:8080", "needs brackets"},
        {"[::1]8080", "expected [address]:port"},
        {"a b:80", "bad character"},
        {"user@host:80", "bad character"},
        {"averyveryveryveryveryveryveryveryveryveryveryveryveryveryverylonghost:1", "too long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg_err_t e = {0};
        setenv(VAR, bad[i].v, 1);
        cr_assert_eq(cfg_listen(VAR, "127.0.0.1:8080", host, sizeof host, &port, &e), -1, "%s",
                     bad[i].v);
        cr_assert_not_null(strstr(e.msg, bad[i].why), "'%s': %s", bad[i].v, e.msg);
        cr_assert_not_null(strstr(e.msg, VAR), "names the variable");
        cr_assert(strcmp(host, "127.0.0.1") == 0 && port == 8080, "falls back to the default");
    }
}
