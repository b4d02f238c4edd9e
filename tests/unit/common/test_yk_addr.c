/* Unit tests for common/yk_addr.c: every address form of YOYAKU_REDIS, bad ports, bad and
 * overlong hosts and socket paths. Owns nothing but its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "yk_addr.h"

static void accepts(const char *s, const char *host, int port)
{
    yk_addr a;
    char err[160] = "";
    if (yk_addr_parse(s, 6379, &a, err, sizeof err) != 0)
        fail_msg("refused %s: %s", s, err);
    assert_string_equal(a.host, host);
    assert_int_equal(a.port, port);
}

/* Refused, with a message that contains want. */
static void refuses(const char *s, const char *want)
{
    yk_addr a = {"untouched", 1};
    char err[160] = "";
    if (yk_addr_parse(s, 6379, &a, err, sizeof err) == 0)
        fail_msg("accepted %s as %s port %d", s, a.host, a.port);
    if (strstr(err, want) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", s, err, want);
}

static void host_port(void **state)
{
    accepts("127.0.0.1:6379", "127.0.0.1", 6379);
    accepts("localhost:6380", "localhost", 6380);
    accepts("redis.example.com:1", "redis.example.com", 1);
    accepts("redis-1.internal.:65535", "redis-1.internal.", 65535);
    accepts("redis_primary:7000", "redis_primary", 7000); /* compose service names */
    accepts("10.0.0.5:6379", "10.0.0.5", 6379);
}

static void ipv6_in_brackets(void **state)
{
    accepts("[::1]:6379", "::1", 6379);
    accepts("[2001:db8::7]:7001", "2001:db8::7", 7001);
    accepts("[::ffff:127.0.0.1]:6379", "::ffff:127.0.0.1", 6379);
}

static void host_without_port_takes_the_default(void **state)
{
    accepts("localhost", "localhost", 6379);
    accepts("127.0.0.1", "127.0.0.1", 6379);
    accepts("[::1]", "::1", 6379);
    accepts("redis.example.com", "redis.example.com", 6379);
}

static void unix_socket_path(void **state)
{
    accepts("/run/redis/redis.sock", "/run/redis/redis.sock", 0);
    char path[120] = "/";
    memset(path + 1, 's', 106); /* 107 bytes: what sun_path holds */
    accepts(path, path, 0);
    path[107] = 's';
    refuses(path, "at most 107 bytes");
}

static void bad_ports(void **state)
{
    refuses("localhost:6379x", "port");
    refuses("localhost:0", "port");
    refuses("localhost:65536", "port");
    refuses("localhost:99999999999999999999", "port");
    refuses("localhost:", "port");
    refuses("localhost:-1", "port");
    refuses("localhost:+6379", "port");
    refuses("localhost: 6379", "port");
    refuses("[::1]:x", "port");
    refuses("[::1]:", "port");
}

static void bad_hosts(void **state)
{
    refuses("6379x", "expected host:port"); /* a mistyped port, not a host */
    refuses("6379", "expected host:port");  /* a port alone */
    refuses("127.0.0.l:6379", "expected host:port");
    refuses(":6379", "expected host:port");
    refuses("", "expected host:port");
    refuses("redis host:6379", "expected host:port");
    refuses("-redis:6379", "expected host:port");
    refuses("redis-:6379", "expected host:port");
    refuses("a..b:6379", "expected host:port");
    refuses(".:6379", "expected host:port");
    refuses("redis://localhost:6379", "expected host:port"); /* two colons */
    refuses("::1", "[address]:port");
    refuses("::1:6379", "[address]:port");
    refuses("[::1", "[address]:port");
    refuses("[::1]x", "[address]:port");
    refuses("[::1]6379", "[address]:port");
    refuses("[localhost]:6379", "IPv6");
    refuses("[]:6379", "IPv6");
}

static void overlong_hosts(void **state)
{
    char host[300];
    /* 253 bytes in labels of 63: the longest DNS name. */
    memset(host, 'a', 253);
    for (int i = 63; i < 253; i += 64)
        host[i] = '.';
    host[253] = '\0';
    accepts(host, host, 6379);
    strcpy(host + 253, ":6379");
    yk_addr a;
    char err[160];
    assert_int_equal(yk_addr_parse(host, 6379, &a, err, sizeof err), 0);
    assert_int_equal(a.port, 6379);
    assert_int_equal(strlen(a.host), 253);

    memset(host, 'a', 254);
    for (int i = 63; i < 254; i += 64)
        host[i] = '.';
    strcpy(host + 254, ":6379");
    refuses(host, "at most 253 bytes");

    memset(host, 'a', 64); /* one label of 64 */
    strcpy(host + 64, ".example:6379");
    refuses(host, "expected host:port");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_port),
        cmocka_unit_test(ipv6_in_brackets),
        cmocka_unit_test(host_without_port_takes_the_default),
        cmocka_unit_test(unix_socket_path),
        cmocka_unit_test(bad_ports),
        cmocka_unit_test(bad_hosts),
        cmocka_unit_test(overlong_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
