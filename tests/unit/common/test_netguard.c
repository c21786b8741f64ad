/* netguard: every special-purpose range is refused, public addresses pass,
 * IPv4 carried in IPv6 is judged by its IPv4 part, and IPv4 literals are
 * read the way resolvers read them (octal, hex, one number). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "netguard.h"

static int sa_public(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1, "%s", ip);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1, "%s", ip);
    }
    return netguard_sockaddr_public((struct sockaddr *)&ss);
}

Test(netguard, special_ranges_are_refused)
{
    static const char *const deny[] = {
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
        "127.255.0.9", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1",
        "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::", "::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
        "::127.0.0.1", "2002:7f00:1::", "2002:c0a8:101::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
        "fec0::1", "ff02::1", "2001:db8::1", "100::1",
        /* IPv4 translated (SIIT), a local NAT64 prefix, Teredo, ORCHID, benchmarking */
        "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "::ffff:0:127.0.0.1", "64:ff9b:1::7f00:1", "64:ff9b:1:ffff::808:808",
        "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:10::1", "2001:20::1", "2001:2::1",
    };
    for (size_t i = 0; i < sizeof deny / sizeof *deny; i++)
        cr_expect_eq(sa_public(deny[i]), 0, "%s passed as public", deny[i]);
}

Test(netguard, public_addresses_pass)
{
    static const char *const allow[] = {"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.15.255.255",
                                        "172.32.0.1", "192.169.0.1", "198.20.0.1", "223.255.255.255",
                                        "2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8",
                                        "64:ff9b::808:808", "2002:0808:0808::1", "::ffff:0:808:808",
                                        "2001:4860:4860::8888", "2001:200::1"};
    for (size_t i = 0; i < sizeof allow / sizeof *allow; i++)
        cr_expect_eq(sa_public(allow[i]), 1, "%s refused", allow[i]);
}

Test(netguard, literals)
{
    cr_expect_eq(netguard_literal_public("127.0.0.1"), 0);
    cr_expect_eq(netguard_literal_public("0x7f.1"), 0, "hex and short forms are loopback too");
    cr_expect_eq(netguard_literal_public("2130706433"), 0, "one number is an address");
    cr_expect_eq(netguard_literal_public("0177.0.0.1"), 0, "octal");
    cr_expect_eq(netguard_literal_public("169.254.169.254"), 0);
    cr_expect_eq(netguard_literal_public("::1"), 0);
    cr_expect_eq(netguard_literal_public("::ffff:7f00:1"), 0);
    cr_expect_eq(netguard_literal_public("fe80::1%eth0"), 0, "a zone id is no public literal");
    cr_expect_eq(netguard_literal_public("8.8.8.8"), 1);
    cr_expect_eq(netguard_literal_public("2606:4700::1111"), 1);
    cr_expect_eq(netguard_literal_public("hooks.example.com"), -1);
    cr_expect_eq(netguard_literal_public("1.2.3.4.example.com"), -1);
    cr_expect_eq(netguard_literal_public("localhost"), -1, "a name: refused by name elsewhere");
}
