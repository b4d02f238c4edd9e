/* Unit tests for common/yk_addr.c: every address form of YOYAKU_REDIS, bad ports, bad and
 * overlong hosts and socket paths; IP literals, network lists (YOYAKU_TRUSTED_PROXIES) and the
 * X-Forwarded-For walk. Owns nothing but its test cases. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* --- IP networks and X-Forwarded-For --------------------------------------------------------- */

static void ip(const char *s, unsigned char out[YK_IP_LEN])
{
    assert_int_equal(yk_ip_parse(s, strlen(s), out), 0);
}

static void ip_literals(void **state)
{
    (void)state;
    unsigned char a[YK_IP_LEN], b[YK_IP_LEN];
    char text[64];
    ip("10.1.2.3", a);
    ip("::ffff:10.1.2.3", b); /* one address, two spellings */
    assert_memory_equal(a, b, YK_IP_LEN);
    yk_ip_format(a, text, sizeof text);
    assert_string_equal(text, "10.1.2.3");
    ip("2001:db8::1", a);
    yk_ip_format(a, text, sizeof text);
    assert_string_equal(text, "2001:db8::1");
    const char *bad[] = {"",      "10.1.2",   "10.1.2.3.4",   "010.1.2.3x", "localhost",
                         "[::1]", "1.2.3.4 ", "fe80::1%eth0", "2001:db8::g"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(yk_ip_parse(bad[i], strlen(bad[i]), a), -1);
    ip("127.0.0.1", a);
    assert_true(yk_ip_loopback(a));
    ip("127.200.0.9", a);
    assert_true(yk_ip_loopback(a));
    ip("::1", a);
    assert_true(yk_ip_loopback(a));
    ip("128.0.0.1", a);
    assert_false(yk_ip_loopback(a));
    ip("::2", a);
    assert_false(yk_ip_loopback(a));
}

static void ip_of_sockaddr(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned char a[YK_IP_LEN], want[YK_IP_LEN];
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "192.0.2.7", &in->sin_addr), 1);
    assert_int_equal(yk_ip_of(&ss, a), 0);
    ip("192.0.2.7", want);
    assert_memory_equal(a, want, YK_IP_LEN);
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &in6->sin6_addr), 1);
    assert_int_equal(yk_ip_of(&ss, a), 0);
    ip("2001:db8::7", want);
    assert_memory_equal(a, want, YK_IP_LEN);
    ss.ss_family = AF_UNIX;
    assert_int_equal(yk_ip_of(&ss, a), -1);
}

static yk_cidr nets[YK_CIDR_MAX];
static size_t n_nets;

static void parse_nets(const char *s)
{
    char err[200];
    assert_int_equal(yk_cidr_parse_list(s, nets, YK_CIDR_MAX, &n_nets, err, sizeof err), 0);
}

static int in_nets(const char *s)
{
    unsigned char a[YK_IP_LEN];
    ip(s, a);
    return yk_cidr_match(nets, n_nets, a);
}

static void cidr_lists(void **state)
{
    (void)state;
    parse_nets("");
    assert_int_equal(n_nets, 0);
    assert_false(in_nets("127.0.0.1"));
    parse_nets(" 10.0.0.0/8, 192.168.1.5 ,fd00::/8\t::1 172.16.0.0/12");
    assert_int_equal(n_nets, 5);
    assert_true(in_nets("10.255.1.2"));
    assert_false(in_nets("11.0.0.1"));
    assert_true(in_nets("192.168.1.5"));
    assert_false(in_nets("192.168.1.6"));
    assert_true(in_nets("fdab::1"));
    assert_false(in_nets("fe00::1"));
    assert_true(in_nets("::1"));
    assert_false(in_nets("127.0.0.1"));
    assert_true(in_nets("172.31.255.255"));
    assert_false(in_nets("172.32.0.0"));
    assert_true(in_nets("::ffff:10.0.0.1")); /* an IPv4 peer on a dual-stack socket */
    parse_nets("0.0.0.0/0");
    assert_true(in_nets("203.0.113.9"));
    assert_false(in_nets("2001:db8::1")); /* IPv4's everything is not IPv6's */
    parse_nets("::/0");
    assert_true(in_nets("2001:db8::1"));
    /* a prefix that ends within a byte */
    parse_nets("10.1.2.2/31");
    assert_true(in_nets("10.1.2.3"));
    assert_false(in_nets("10.1.2.4"));

    char err[200];
    const char *bad[] = {"10.0.0.1/8",    "10.0.0.0/33",      "fd00::/129", "10.0.0.0/",
                         "10.0.0.0/x",    "10.1.2.3/31",      "localhost",  "10.0.0.0/-1",
                         "10.0.0.0/0008", "10.0.0.0;10.0.0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(yk_cidr_parse_list(bad[i], nets, YK_CIDR_MAX, &n_nets, err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "expected IP addresses"));
    }
    char many[YK_CIDR_MAX * 12 + 32] = "";
    for (int i = 0; i <= YK_CIDR_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d,", i);
    assert_int_equal(yk_cidr_parse_list(many, nets, YK_CIDR_MAX, &n_nets, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 64"));
}

/* The client that xff gives a request from peer, with the networks trusted. */
static const char *client(const char *trusted, const char *peer, const char *xff)
{
    static char text[64];
    unsigned char a[YK_IP_LEN];
    parse_nets(trusted);
    ip(peer, a);
    yk_forwarded_client(xff, nets, n_nets, a);
    yk_ip_format(a, text, sizeof text);
    return text;
}

static void forwarded_for(void **state)
{
    (void)state;
    /* no proxy trusted: the header is anyone's words */
    assert_string_equal(client("", "198.51.100.1", "203.0.113.5"), "198.51.100.1");
    /* an untrusted peer's header counts for nothing, even when it names a trusted proxy */
    assert_string_equal(client("10.0.0.0/8", "198.51.100.1", "203.0.113.5, 10.0.0.2"),
                        "198.51.100.1");
    /* a trusted proxy: the address it appended */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "203.0.113.5"), "203.0.113.5");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "203.0.113.5"), "203.0.113.5");
    /* what the client wrote itself is left of its real address, and never read */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "1.1.1.1, 10.9.9.9, 203.0.113.5"),
                        "203.0.113.5");
    /* a chain of trusted proxies is walked through */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "203.0.113.5,10.0.0.7, 10.0.0.3"),
                        "203.0.113.5");
    /* the proxy saw no other client (a health check): the leftmost trusted address */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "10.0.0.9"), "10.0.0.9");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", NULL), "10.0.0.2");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", ""), "10.0.0.2");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", " , ,"), "10.0.0.2");
    /* garbage stops the walk at the last trusted address: no address can be picked by it */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "203.0.113.5, unknown"), "10.0.0.2");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "203.0.113.5, unknown, 10.0.0.3"),
                        "10.0.0.3");
    /* ports and brackets, as some proxies write them; IPv6 */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "203.0.113.5:4711"), "203.0.113.5");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "[2001:db8::5]:4711"), "2001:db8::5");
    assert_string_equal(client("fd00::/8", "fd00::2", "2001:db8::5, fd12::1"), "2001:db8::5");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", "[2001:db8::5"), "10.0.0.2");
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
        cmocka_unit_test(ip_literals),
        cmocka_unit_test(ip_of_sockaddr),
        cmocka_unit_test(cidr_lists),
        cmocka_unit_test(forwarded_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
