/* testbuild: whether this binary is the test build (make SAN=1, what make
 * test uses: GCC and Clang define __SANITIZE_ADDRESS__ there). Test-only
 * profiles (the worker's conformance fixtures, JSMCP_TEST_FIXTURES) exist
 * only in it; a release binary refuses their variables at start, so a
 * forgotten one cannot change how production behaves. */
#ifndef JSMCP_TESTBUILD_H
#define JSMCP_TESTBUILD_H

#if defined(__SANITIZE_ADDRESS__)
#define JSMCP_TEST_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSMCP_TEST_BUILD 1
#endif
#endif
#ifndef JSMCP_TEST_BUILD
#define JSMCP_TEST_BUILD 0
#endif

static inline int testbuild_on(void)
{
    return JSMCP_TEST_BUILD;
}

#endif
