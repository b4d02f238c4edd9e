/* Unit suite for services/ingress/client.c: the address the per-address limits count — the peer,
 * or X-Forwarded-For behind a trusted proxy; IPv6 cut to its /64, IPv4 kept whole; loopback and
 * unix sockets not limited unless YOYAKU_RATE_LOOPBACK; and who the connection cap counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "client.h"
#include "ingress.h"

ingress_state ingress;

static struct sockaddr_storage peer(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

static void key_of(const char *ip, unsigned char out[16])
{
    assert_int_equal(yk_ip_parse(ip, strlen(ip), out), 0);
}

static int limited(const char *ip, const char *xff, unsigned char out[16])
{
    yk_http_req req;
    memset(&req, 0, sizeof req);
    req.peer = peer(ip);
    req.headers[YK_HDR_FORWARDED_FOR] = xff;
    return client_limited(&req, out);
}

static void ipv6_per_64_ipv4_whole(void **state)
{
    (void)state;
    assert_int_equal(client_init(""), 0);
    ingress.rate_loopback = 0;
    unsigned char a[16], b[16], c[16], want[16];
    assert_int_equal(limited("2001:db8:1:2::1", NULL, a), 1);
    assert_int_equal(limited("2001:db8:1:2:ffff:1:2:3", NULL, b), 1);
    assert_int_equal(limited("2001:db8:1:3::1", NULL, c), 1);
    assert_memory_equal(a, b, 16);
    assert_memory_not_equal(a, c, 16);
    key_of("2001:db8:1:2::", want);
    assert_memory_equal(a, want, 16);
    assert_int_equal(limited("203.0.113.7", NULL, a), 1);
    assert_int_equal(limited("203.0.113.8", NULL, b), 1);
    assert_memory_not_equal(a, b, 16);
    key_of("203.0.113.7", want);
    assert_memory_equal(a, want, 16);
}

static void loopback_and_proxies(void **state)
{
    (void)state;
    unsigned char a[16], want[16];
    ingress.rate_loopback = 0;
    assert_int_equal(client_init("10.0.0.0/8"), 0);
    assert_int_equal(limited("127.0.0.1", NULL, a), 0);
    assert_int_equal(limited("::1", NULL, a), 0);
    /* a client's own X-Forwarded-For is not taken from an untrusted peer */
    assert_int_equal(limited("198.51.100.1", "203.0.113.9", a), 1);
    key_of("198.51.100.1", want);
    assert_memory_equal(a, want, 16);
    /* behind a trusted proxy the forwarded client counts, an IPv6 one per /64 */
    assert_int_equal(limited("10.1.2.3", "203.0.113.9", a), 1);
    key_of("203.0.113.9", want);
    assert_memory_equal(a, want, 16);
    assert_int_equal(limited("10.1.2.3", "2001:db8:aa:bb:1::9, 10.9.9.9", a), 1);
    key_of("2001:db8:aa:bb::", want);
    assert_memory_equal(a, want, 16);
    ingress.rate_loopback = 1;
    assert_int_equal(limited("127.0.0.1", NULL, a), 1);
    ingress.rate_loopback = 0;
}

static void who_the_cap_counts(void **state)
{
    (void)state;
    unsigned char k[16], want[16];
    assert_int_equal(client_init("10.0.0.0/8, 127.0.0.2"), 0);
    ingress.rate_loopback = 0;
    struct sockaddr_storage p = peer("203.0.113.5");
    assert_int_equal(client_conn_capped(&p, k), 1);
    key_of("203.0.113.5", want);
    assert_memory_equal(k, want, 16);
    p = peer("2001:db8:5:6:7:8:9:a");
    assert_int_equal(client_conn_capped(&p, k), 1);
    key_of("2001:db8:5:6::", want);
    assert_memory_equal(k, want, 16);
    p = peer("10.0.0.7"); /* a trusted proxy carries many clients */
    assert_int_equal(client_conn_capped(&p, k), 0);
    p = peer("127.0.0.1");
    assert_int_equal(client_conn_capped(&p, k), 0);
    ingress.rate_loopback = 1;
    assert_int_equal(client_conn_capped(&p, k), 1);
    p = peer("127.0.0.2"); /* trusted even with loopback limited */
    assert_int_equal(client_conn_capped(&p, k), 0);
    ingress.rate_loopback = 0;
    struct sockaddr_storage un;
    memset(&un, 0, sizeof un);
    un.ss_family = AF_UNIX;
    assert_int_equal(client_conn_capped(&un, k), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv6_per_64_ipv4_whole),
        cmocka_unit_test(loopback_and_proxies),
        cmocka_unit_test(who_the_cap_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
