/* Unit tests for common/yk_cluster.c and yk_cluster_map.c: key slots (values Redis's own CLUSTER
 * KEYSLOT gives), hash tags, seed lists, redirect errors, command keys, RESP pipelines split into
 * commands, and slot maps from CLUSTER SLOTS replies built by hiredis's reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "yk_cluster.h"
#include "yk_resp.h"

static unsigned slot(const char *k)
{
    return yk_cluster_slot(k, strlen(k));
}

static void slots_as_redis_computes_them(void **state)
{
    (void)state;
    /* CLUSTER KEYSLOT on Redis 7.0 */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("123456789"), 12739);
    assert_int_equal(slot("somekey"), 11058);
    assert_int_equal(slot("foo{hash_tag}"), 2515);
    assert_int_equal(slot(""), 0);
}

static void hash_tags(void **state)
{
    (void)state;
    assert_int_equal(slot("foo{hash_tag}"), slot("hash_tag"));
    /* every key of one partition: one slot (proto/streams.md) */
    for (int p = 0; p < 64; p++) {
        char a[32], b[32], c[32], d[128], tag[8];
        snprintf(a, sizeof a, "yk:req:{%d}", p);
        snprintf(b, sizeof b, "yk:seq:{%d}", p);
        snprintf(c, sizeof c, "yk:done:{%d}", p);
        snprintf(d, sizeof d, "yk:idem:{%d}:12:%064d", p, 0);
        snprintf(tag, sizeof tag, "%d", p);
        assert_int_equal(slot(a), slot(tag));
        assert_int_equal(slot(b), slot(tag));
        assert_int_equal(slot(c), slot(tag));
        assert_int_equal(slot(d), slot(tag));
    }
    /* an empty tag hashes the whole key; only the first {…} counts */
    assert_int_not_equal(slot("foo{}{bar}"), slot("bar"));
    assert_int_equal(yk_cluster_slot("foo{}{bar}", 10), slot("foo{}{bar}"));
    assert_int_equal(slot("foo{{bar}}"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_not_equal(slot("{unclosed"), slot("unclosed")); /* no '}': the whole key */
    /* the length counts, not a NUL */
    assert_int_equal(yk_cluster_slot("foobar", 3), slot("foo"));
}

static void seed_lists(void **state)
{
    (void)state;
    yk_addr s[YK_CLUSTER_SEEDS_MAX];
    char err[160];
    assert_true(yk_cluster_is_url("redis-cluster://a:1"));
    assert_false(yk_cluster_is_url("127.0.0.1:6379"));
    assert_false(yk_cluster_is_url(NULL));
    assert_int_equal(
        yk_cluster_seeds("redis-cluster://127.0.0.1:7000", 6379, s, 16, err, sizeof err), 1);
    assert_string_equal(s[0].host, "127.0.0.1");
    assert_int_equal(s[0].port, 7000);
    assert_int_equal(yk_cluster_seeds("redis-cluster://r1.example.jp,[::1]:7001,10.0.0.3:7002",
                                      6379, s, 16, err, sizeof err),
                     3);
    assert_string_equal(s[0].host, "r1.example.jp");
    assert_int_equal(s[0].port, 6379);
    assert_string_equal(s[1].host, "::1");
    assert_int_equal(s[1].port, 7001);
    assert_int_equal(s[2].port, 7002);
    const char *bad[] = {
        "redis-cluster://",        "redis-cluster://a:1,",    "redis-cluster://,a:1",
        "redis-cluster://a:0",     "redis-cluster://a:65536", "redis-cluster:///tmp/redis.sock",
        "redis-cluster://a:1\r\n", "redis-cluster://a b:1",   "redis-cluster://a:１",
        "cluster://a:1",           "127.0.0.1:6379"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(yk_cluster_seeds(bad[i], 6379, s, 16, err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
    /* more seeds than the caller holds */
    assert_int_equal(yk_cluster_seeds("redis-cluster://a:1,a:2,a:3", 6379, s, 2, err, sizeof err),
                     -1);
}

static yk_cluster_redirect redirect(const char *msg)
{
    yk_cluster_redirect r;
    yk_cluster_parse_error(msg, strlen(msg), &r);
    return r;
}

static void redirect_errors(void **state)
{
    (void)state;
    yk_cluster_redirect r = redirect("MOVED 3999 127.0.0.1:6381");
    assert_int_equal(r.kind, YK_CLUSTER_ERR_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    r = redirect("ASK 16383 redis-2.example.jp:7000");
    assert_int_equal(r.kind, YK_CLUSTER_ERR_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "redis-2.example.jp");
    r = redirect("MOVED 0 ::1:7001"); /* Redis writes an IPv6 address without brackets */
    assert_int_equal(r.kind, YK_CLUSTER_ERR_MOVED);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7001);
    r = redirect("MOVED 12 [fe80::1]:7001");
    assert_string_equal(r.host, "fe80::1");
    r = redirect("MOVED 12 :7001"); /* a node that does not know its address */
    assert_int_equal(r.kind, YK_CLUSTER_ERR_MOVED);
    assert_string_equal(r.host, "");
    assert_int_equal(redirect("TRYAGAIN Multiple keys request during rehashing of slot").kind,
                     YK_CLUSTER_ERR_TRYAGAIN);
    assert_int_equal(redirect("CLUSTERDOWN The cluster is down").kind, YK_CLUSTER_ERR_DOWN);
    assert_int_equal(redirect("CLUSTERDOWN Hash slot not served").kind, YK_CLUSTER_ERR_DOWN);
    assert_int_equal(redirect("MASTERDOWN Link with MASTER is down").kind, YK_CLUSTER_ERR_DOWN);
    const char *none[] = {"ERR unknown command",
                          "MOVED",
                          "MOVED 3999",
                          "MOVED x 127.0.0.1:1",
                          "MOVED 16384 127.0.0.1:1",
                          "MOVED 99999999999 127.0.0.1:1",
                          "MOVED 1 127.0.0.1",
                          "MOVED 1 127.0.0.1:",
                          "MOVED 1 127.0.0.1:0",
                          "MOVED 1 127.0.0.1:65536",
                          "MOVED 1 127.0.0.1:7x",
                          "MOVEDX 1 a:1",
                          "ASKING",
                          "CROSSSLOT Keys in request don't hash to the same slot",
                          "NOSCRIPT No matching script"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(redirect(none[i]).kind, YK_CLUSTER_ERR_NONE);
    yk_cluster_redirect n;
    yk_cluster_parse_error(NULL, 0, &n);
    assert_int_equal(n.kind, YK_CLUSTER_ERR_NONE);
    /* the length counts: a message cut before its port is no redirect */
    const char *m = "MOVED 3999 127.0.0.1:6381";
    yk_cluster_parse_error(m, strlen(m) - 5, &n);
    assert_int_equal(n.kind, YK_CLUSTER_ERR_NONE);
}

static int key_of(int argc, const char **argv)
{
    size_t lens[32];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return yk_cluster_key_arg(argc, argv, lens);
}

#define KEY(...)                                                                                   \
    key_of(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *), (const char *[]){__VA_ARGS__})

static void command_keys(void **state)
{
    (void)state;
    assert_int_equal(KEY("GET", "k"), 1);
    assert_int_equal(KEY("set", "k", "v", "NX", "GET", "EX", "60"), 1);
    assert_int_equal(KEY("XADD", "yk:req:{1}", "*", "h", "x"), 1);
    assert_int_equal(KEY("EVALSHA", "abc", "4", "yk:req:{1}", "b", "c", "d"), 3);
    assert_int_equal(KEY("EVAL", "return 1", "0"), YK_CLUSTER_KEYLESS);
    assert_int_equal(KEY("EVAL", "return 1", "0", "arg"), YK_CLUSTER_KEYLESS);
    assert_int_equal(KEY("XINFO", "GROUPS", "yk:req:{2}"), 2);
    assert_int_equal(KEY("XGROUP", "CREATE", "yk:req:{2}", "workers", "0", "MKSTREAM"), 2);
    assert_int_equal(KEY("XREADGROUP", "GROUP", "workers", "w1", "COUNT", "10", "BLOCK", "100",
                         "STREAMS", "a", "b", ">", ">"),
                     9);
    assert_int_equal(KEY("SCRIPT", "LOAD", "return 1"), YK_CLUSTER_ALL);
    assert_int_equal(KEY("FLUSHALL"), YK_CLUSTER_ALL);
    assert_int_equal(KEY("WAIT", "1", "100"), YK_CLUSTER_CONN);
    assert_int_equal(KEY("PING"), YK_CLUSTER_KEYLESS);
    assert_int_equal(KEY("PUBLISH", "yk:events", "catalogue"), YK_CLUSTER_KEYLESS);
    assert_int_equal(KEY("SPUBLISH", "yk:rep:i1", "x"), 1); /* a sharded channel routes as a key */
    assert_int_equal(KEY("CLUSTER", "SLOTS"), YK_CLUSTER_KEYLESS);
    assert_int_equal(yk_cluster_key_arg(0, NULL, NULL), YK_CLUSTER_KEYLESS);

    const char *rd[] = {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "c", "0", "0", "0"};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = strlen(rd[i]);
    int first = -1;
    assert_int_equal(yk_cluster_streams(11, rd, lens, &first), 3);
    assert_int_equal(first, 5);
    assert_int_equal(yk_cluster_streams(10, rd, lens, &first), 0); /* keys without all their ids */
    assert_int_equal(yk_cluster_streams(2, (const char *[]){"GET", "k"}, lens, &first), 0);
}

static void resp_pipelines(void **state)
{
    (void)state;
    yk_buf b = YK_BUF_INIT(1 << 20);
    yk_resp_cmd(&b, 3, (const char *[]){"SET", "yk:res:1", "0 {\"p\":1}"}, NULL);
    size_t first = b.len;
    yk_resp_cmd(&b, 2, (const char *[]){"GET", "bin\r\nary"}, NULL);
    const char *argv[4];
    size_t lens[4];
    int argc = 0;
    long n = yk_cluster_resp_next(b.p, b.len, argv, lens, 4, &argc);
    assert_int_equal(n, (long)first);
    assert_int_equal(argc, 3);
    assert_int_equal(lens[1], 8);
    assert_memory_equal(argv[1], "yk:res:1", 8);
    n = yk_cluster_resp_next(b.p + first, b.len - first, argv, lens, 4, &argc);
    assert_int_equal(n, (long)(b.len - first));
    assert_int_equal(lens[1], 8);
    assert_memory_equal(argv[1], "bin\r\nary", 8);
    /* every cut of an incomplete command: 0 (wait for more), never a wrong length */
    for (size_t cut = 0; cut < first; cut++)
        assert_int_equal(yk_cluster_resp_next(b.p, cut, argv, lens, 4, &argc), 0);
    /* only max arguments are filled, argc says how many there are */
    n = yk_cluster_resp_next(b.p, b.len, argv, lens, 1, &argc);
    assert_int_equal(n, (long)first);
    assert_int_equal(argc, 3);
    const char *bad[] = {"+OK\r\n", "*0\r\n",       "*1\r\n:1\r\n", "*1\r\n$3\r\nabcd\r\n",
                         "*x\r\n",  "*1\r\n$-1\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(yk_cluster_resp_next(bad[i], strlen(bad[i]), argv, lens, 4, &argc), -1);
    yk_buf_free(&b);
}

static redisReply *parse(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

/* Three masters, each with one replica, as Redis 7.0 answers CLUSTER SLOTS. */
static const char slots3[] = "*3\r\n"
                             "*4\r\n:0\r\n:5460\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\naa\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nee\r\n"
                             "*4\r\n:5461\r\n:10922\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nbb\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$2\r\nff\r\n"
                             "*4\r\n:10923\r\n:16383\r\n"
                             "*3\r\n$0\r\n\r\n:7002\r\n$2\r\ncc\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\ndd\r\n";

static void slot_maps(void **state)
{
    (void)state;
    yk_cluster_map *m = malloc(sizeof *m);
    assert_non_null(m);
    redisReply *r = parse(slots3);
    assert_int_equal(yk_cluster_map_parse(m, r, "10.0.0.9"), 0);
    freeReplyObject(r);
    assert_true(m->covered);
    assert_int_equal(m->nnodes, 6);
    int masters = 0;
    for (int i = 0; i < m->nnodes; i++) {
        masters += m->nodes[i].master;
        if (m->nodes[i].master)
            assert_int_equal(m->nodes[i].replicas, 1);
    }
    assert_int_equal(masters, 3);
    const yk_cluster_node *a = &m->nodes[m->slot_node[0]], *b = &m->nodes[m->slot_node[5461]],
                          *c = &m->nodes[m->slot_node[16383]];
    assert_int_equal(a->port, 7000);
    assert_int_equal(m->slot_node[5460], m->slot_node[0]);
    assert_int_equal(b->port, 7001);
    assert_int_equal(c->port, 7002);
    assert_string_equal(c->host, "10.0.0.9"); /* empty host: the node the reply came from */
    assert_int_equal(yk_cluster_node_index(m, "127.0.0.1", 7001), (int)m->slot_node[5461]);

    /* a range without a master: parsed, not covered; a master without replicas */
    r = parse("*1\r\n*3\r\n:0\r\n:100\r\n*2\r\n$1\r\nh\r\n:7000\r\n");
    assert_int_equal(yk_cluster_map_parse(m, r, "x"), 0);
    freeReplyObject(r);
    assert_false(m->covered);
    assert_int_equal(m->nodes[m->slot_node[100]].replicas, 0);
    assert_int_equal(m->slot_node[101], YK_CLUSTER_NO_NODE);

    const char *bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        ":1\r\n",
        "*1\r\n*2\r\n:0\r\n:1\r\n",                                  /* no master */
        "*1\r\n*3\r\n:5\r\n:1\r\n*2\r\n$1\r\nh\r\n:7000\r\n",        /* start > end */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:7000\r\n",    /* past the last slot */
        "*1\r\n*3\r\n:-1\r\n:10\r\n*2\r\n$1\r\nh\r\n:7000\r\n",      /* negative */
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n:0\r\n",          /* port 0 */
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n$4\r\n7000\r\n",  /* port as text */
        "*1\r\n*3\r\n$1\r\n0\r\n:10\r\n*2\r\n$1\r\nh\r\n:7000\r\n",  /* slot as text */
        "*1\r\n*4\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n:7000\r\n:1\r\n", /* replica not a node */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = parse(bad[i]);
        assert_int_equal(yk_cluster_map_parse(m, r, "x"), -1);
        assert_int_equal(m->nnodes, 0);
        assert_false(m->covered);
        assert_int_equal(m->slot_node[0], YK_CLUSTER_NO_NODE);
        freeReplyObject(r);
    }
    assert_int_equal(yk_cluster_map_parse(m, NULL, "x"), -1);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_as_redis_computes_them),
        cmocka_unit_test(hash_tags),
        cmocka_unit_test(seed_lists),
        cmocka_unit_test(redirect_errors),
        cmocka_unit_test(command_keys),
        cmocka_unit_test(resp_pipelines),
        cmocka_unit_test(slot_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
