/* multipart/form-data as curl and browsers send it: parts, names, file
 * names, content types, binary data; malformed bodies are errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sb_multipart.h"

static sb_part_t parts[SB_MULTIPART_MAX_PARTS];
static char err[200];

Test(multipart, curl_style_body)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n"
                               "Content-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ\r\n"
                               "Content-Disposition: form-data; name=\"comment\"\r\n\r\nhi\r\n--XyZ--\r\n";
    int n = sb_multipart_parse("multipart/form-data; boundary=XyZ", body, sizeof body - 1, parts, 16, err, sizeof err);
    cr_assert_eq(n, 2, "%s", err);
    cr_assert_str_eq(parts[0].name, "file");
    cr_assert_str_eq(parts[0].filename, "a b.txt");
    cr_assert_str_eq(parts[0].ctype, "text/plain");
    cr_assert_eq(parts[0].len, 12);
    cr_assert(!memcmp(parts[0].data, "hello\r\nworld", 12), "data may hold CRLF");
    cr_assert_str_eq(parts[1].name, "comment");
    cr_assert_str_eq(parts[1].filename, "");
}

Test(multipart, binary_data_quoted_boundary_and_preamble)
{
    char body[256];
    size_t n = 0;
    n += (size_t)sprintf(body + n, "preamble\r\n--b\"q\r\nContent-Disposition: form-data; name=file; filename=x.bin\r\n\r\n");
    const char bin[] = {0, 1, '\r', '\n', '-', '-', 2, (char)0xff};
    memcpy(body + n, bin, sizeof bin);
    n += sizeof bin;
    n += (size_t)sprintf(body + n, "\r\n--b\"q--");
    int k = sb_multipart_parse("multipart/form-data; boundary=\"b\\\"q\"", body, n, parts, 16, err, sizeof err);
    cr_assert_eq(k, 1, "%s", err);
    cr_assert_eq(parts[0].len, sizeof bin);
    cr_assert(!memcmp(parts[0].data, bin, sizeof bin));
    cr_assert_str_eq(parts[0].filename, "x.bin");
}

Test(multipart, malformed)
{
    static const char *const bad[][2] = {
        {"application/json", "{}"},
        {"multipart/form-data", "--x\r\n\r\n--x--"},
        {"multipart/form-data; boundary=x", "no boundary here"},
        {"multipart/form-data; boundary=x", "--x\r\nContent-Type: a\r\n\r\ndata\r\n--x--"},
        {"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nunterminated"},
        {"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: attachment; name=f\r\n\r\nd\r\n--x--"},
        {"multipart/form-data; boundary=x", "--xjunk"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sb_multipart_parse(bad[i][0], bad[i][1], strlen(bad[i][1]), parts, 16, err, sizeof err), -1,
                     "case %zu", i);
    static const char many[] = "--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                               "--x\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--x--";
    cr_assert_eq(sb_multipart_parse("multipart/form-data; boundary=x", many, sizeof many - 1, parts, 1, err, sizeof err), -1,
                 "more parts than room");
}
