/* buf's sticky error (buf.h): once an append fails, the buffer stays in
 * error until reset/free, and buf_steal() returns NULL, so nothing built
 * by unchecked appends can go out cut short. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "url.h"

/* A huge allocation must fail with NULL here, as it would without ASan
 * (ASAN_OPTIONS from the environment still win for the other keys). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

Test(buf, limit_error_is_sticky)
{
    buf_t b;
    buf_init(&b, 8);
    cr_assert(buf_ok(&b));
    cr_assert_eq(buf_append_str(&b, "12345678"), 0, "exactly max fits");
    cr_assert_eq(b.len, 8);
    cr_assert_eq(buf_append_str(&b, "9"), BUF_ETOOBIG);
    cr_assert_not(buf_ok(&b));
    cr_assert_eq(buf_error(&b), BUF_ETOOBIG);
    cr_assert_null(b.data, "nothing partial stays readable");
    cr_assert_eq(b.len, 0);
    /* Later appends that would fit an empty buffer do nothing and say so. */
    cr_assert_eq(buf_append_str(&b, "x"), BUF_ETOOBIG);
    cr_assert_eq(buf_append(&b, "", 0), BUF_ETOOBIG, "even an empty append reports the error");
    cr_assert_eq(buf_printf(&b, "%d", 1), BUF_ETOOBIG);
    cr_assert_eq(buf_append_uint(&b, 7), BUF_ETOOBIG);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    size_t n = 99;
    cr_assert_null(buf_steal(&b, &n), "a buffer in error is never handed out");
    cr_assert_eq(n, 0);
    /* Steal leaves it empty and usable, as buf_free does. */
    cr_assert(buf_ok(&b));
    cr_assert_eq(buf_append_str(&b, "ok"), 0);
    char *s = buf_steal(&b, &n);
    cr_assert_str_eq(s, "ok");
    cr_assert_eq(n, 2);
    free(s);
}

Test(buf, reset_and_free_clear_the_error)
{
    buf_t b;
    buf_init(&b, 4);
    cr_assert_eq(buf_printf(&b, "%s", "too long"), BUF_ETOOBIG);
    buf_reset(&b);
    cr_assert(buf_ok(&b));
    cr_assert_eq(buf_append_str(&b, "abcd"), 0);
    cr_assert_str_eq(b.data, "abcd");
    cr_assert_eq(buf_append_str(&b, "e"), BUF_ETOOBIG);
    buf_free(&b);
    cr_assert(buf_ok(&b));
    cr_assert_eq(b.max, 4, "free keeps max");
    cr_assert_eq(buf_append_str(&b, "a"), 0);
    buf_free(&b);
}

Test(buf, sizes_that_wrap_fail_cleanly)
{
    buf_t b;
    buf_init(&b, SIZE_MAX);
    cr_assert_eq(buf_append_str(&b, "ab"), 0);
    cr_assert_eq(buf_append(&b, "", SIZE_MAX), BUF_ETOOBIG, "len + n would wrap");
    cr_assert_null(buf_steal(&b, NULL));
    buf_init(&b, SIZE_MAX);
    cr_assert_eq(buf_append(&b, "", SIZE_MAX), BUF_ETOOBIG, "no room for the NUL");
    cr_assert_null(buf_steal(&b, NULL));
}

Test(buf, out_of_memory_is_an_error_not_an_abort)
{
    buf_t b;
    buf_init(&b, SIZE_MAX / 2);
    cr_assert_eq(buf_append_str(&b, "head"), 0);
    /* realloc fails before a byte is copied, so the source is never read. */
    cr_assert_eq(buf_append(&b, "", (size_t)1 << 60), BUF_ENOMEM);
    cr_assert_null(b.data);
    cr_assert_eq(buf_append_str(&b, "tail"), BUF_ENOMEM);
    cr_assert_null(buf_steal(&b, NULL));
}

Test(buf, writers_on_top_see_the_error)
{
    /* The worker's URL: a percent-encoded value that does not fit makes
     * the whole URL NULL, not a URL cut in the middle of an argument. */
    buf_t b;
    buf_init(&b, 32);
    buf_append_str(&b, "https://x.atlassian.net/a?q=");
    cr_assert_neq(url_encode(&b, "a value with spaces", 19), 0);
    buf_append_str(&b, "&more=1");
    cr_assert_null(buf_steal(&b, NULL));
    /* JSON written into a buffer already in error fails too. */
    buf_init(&b, 4);
    buf_append_str(&b, "12345");
    json_t *v = json_integer(1);
    cr_assert_eq(jsontext_dump_buf(&b, v), -1);
    cr_assert_eq(jsontext_dump_string(&b, "x", 1), -1);
    cr_assert_null(buf_steal(&b, NULL));
    json_decref(v);
    /* An undumpable value leaves the buffer whole (jsontext.h): that error is
     * the caller's, not the buffer's. */
    buf_init(&b, 64);
    buf_append_str(&b, "[");
    json_t *bad = json_stringn_nocheck("\xff", 1);
    cr_assert_eq(jsontext_dump_buf(&b, bad), -1);
    cr_assert(buf_ok(&b));
    cr_assert_str_eq(b.data, "[");
    json_decref(bad);
    buf_free(&b);
}

Test(buf, printf_into_a_bounded_buffer)
{
    buf_t b;
    buf_init(&b, 10);
    cr_assert_eq(buf_printf(&b, "%05d", 42), 0);
    cr_assert_eq(buf_printf(&b, "%s", "12345"), 0);
    cr_assert_str_eq(b.data, "0004212345");
    cr_assert_eq(buf_printf(&b, "%c", 'x'), BUF_ETOOBIG);
    cr_assert_null(buf_steal(&b, NULL));
}
