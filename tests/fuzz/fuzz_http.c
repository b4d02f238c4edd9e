/* fuzz_http: bytes → llhttp (yk_hparse, as yk_http feeds it) → the ingress's router (main.c's
 * handle) → its routes: JSON bodies, field validation, tokens, cookies, admin authorisation.
 * Redis and PostgreSQL are never there (fuzz_io.c fails every command as a lost connection); a
 * small catalogue is loaded as if read from PostgreSQL. Each answer is checked (fuzz_io.h).
 * Input: byte 0 picks the size of the reads the bytes arrive in and the client's address; the
 * rest is what the client sends on one connection, pipelined requests included. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

/* The router is a static function of the ingress's main.c: take the file whole, its main
 * renamed (libFuzzer brings its own). */
#define main yk_ingress_main
#include "main.c"
#undef main

#include "fuzz_io.h"
#include "yk_hparse.h"

static int load_pending;

static int fuzz_loader(void)
{
    load_pending = 1;
    return 0;
}

static const char fields_def[] =
    "[{\"name\":\"name\",\"label\":{\"ja\":\"氏名\",\"en\":\"Name\"},\"type\":\"text\","
    "\"required\":true,\"max_length\":20},"
    "{\"name\":\"voucher\",\"type\":\"text\",\"pattern\":\"^[0-9]{4}$\",\"identity\":true},"
    "{\"name\":\"age\",\"type\":\"number\"},"
    "{\"name\":\"plan\",\"type\":\"select\",\"options\":[\"a\",\"b\"]},"
    "{\"name\":\"tel\",\"type\":\"tel\"},{\"name\":\"day\",\"type\":\"date\"},"
    "{\"name\":\"mail\",\"type\":\"email\"},{\"name\":\"ok\",\"type\":\"checkbox\"}]";

static const char phased_fields[] = "[{\"name\":\"age\",\"type\":\"number\"},"
                                    "{\"name\":\"born\",\"type\":\"date\"}]";

/* The rows a PostgreSQL load would give: an open event with two slots (one full), a plain
 * event, one whose window has closed, an unpublished one, one opening in phases. */
static void load_rows(void)
{
    static const struct {
        int64_t id;
        const char *slug, *fields;
        bool published;
        int64_t closes_at;
        const char *more; /* members of the event's JSON beyond the basics */
    } ev[] = {
        {1, "fuzz", fields_def, true, 0, ""},
        {2, "plain", "[]", true, 0, ""},
        {3, "closed", "[]", true, 1, ""},
        {4, "draft", "[]", false, 0, ""},
        {5, "phased", phased_fields, true, 0,
         ",\"phases\":[{\"opens_at\":\"2020-01-01T09:00:00+09:00\",\"field\":\"age\",\"min\":65},"
         "{\"opens_at\":\"2021-01-01T09:00:00+09:00\",\"field\":\"born\","
         "\"max\":\"1960-12-31\"},{\"opens_at\":\"2099-01-01T00:00:00Z\"}]"},
    };
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"id\":\"%lld\",\"slug\":\"%s\",\"title\":\"T\",\"timezone\":\"Asia/Tokyo\"%s}",
                 (long long)ev[i].id, ev[i].slug, ev[i].more);
        cat_event_row row = {.id = ev[i].id,
                             .slug = ev[i].slug,
                             .fields_json = ev[i].fields,
                             .campaign = "",
                             .event_json = json,
                             .per_person_limit = 1,
                             .published = ev[i].published,
                             .closes_at = ev[i].closes_at};
        catalogue_load_event(&row);
    }
    static const struct {
        int64_t id, event;
        int remaining;
    } sl[] = {{10, 1, 5}, {11, 1, 0}, {20, 2, 3}, {30, 3, 1}, {40, 4, 1}, {50, 5, 2}};
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++) {
        cat_slot_row row = {.id = sl[i].id,
                            .event_id = sl[i].event,
                            .starts_at = "2030-01-01T09:00:00+09:00",
                            .ends_at = "2030-01-01T09:30:00+09:00",
                            .capacity = 5,
                            .remaining = sl[i].remaining,
                            .ends = 1893457800}; /* 2030-01-01T09:30+09:00: not ended */
        catalogue_load_slot(&row);
    }
    catalogue_load_end(true);
}

static void idle(void)
{
    if (load_pending) {
        load_pending = 0;
        load_rows();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("YOYAKU_LOG_LEVEL", "error", 1);
    setenv("YOYAKU_WAIT_MS", "0", 1);
    static char *args[] = {"fuzz_http", NULL};
    static const char usage[] = "fuzz_http";
    if (yk_config_main(1, args, usage, config, sizeof config / sizeof config[0]) != 0)
        abort();
    /* what main() does before it connects */
    setlocale(LC_CTYPE, "C.UTF-8");
    yk_log_init("ingress", ingress.log_level);
    yk_jarena_install();
    if (yk_token_init() != 0 || yk_token_key_parse(ingress.token_key_hex, ingress.token_key) < 0)
        abort();
    snprintf(ingress.ingress_id, sizeof ingress.ingress_id, "fuzz");
    ingress.loop = uv_default_loop();
    catalogue_init(fuzz_loader, (unsigned)ingress.partitions);
    pwhash_pool_init(ingress.loop, 1, 4);
    routes_secret_init();
    if (client_init(ingress.trusted_proxies) != 0)
        abort();
    ratelimit_init(ingress.rate);
    if (staff_init() != 0)
        abort();
    yk_settings_origin(ingress.public_url, ingress.origin, sizeof ingress.origin);
    if (yk_pg_open(&ingress.pg, ingress.loop, ingress.pg_conninfo, 1000) != 0 ||
        yk_redis_open(&ingress.redis, ingress.loop, ingress.redis_addr, 500, submit_on_connect,
                      NULL) != 0 ||
        yk_redis_open(&ingress.sub, ingress.loop, ingress.redis_addr, 500, submit_sub_connected,
                      NULL) != 0 ||
        submit_init() != 0)
        abort();
    web_load(ingress.web_dir);
    catalogue_reload(NULL, NULL);
    idle();
    cat_event *phased = catalogue_event("phased");
    if (!catalogue_current() || catalogue_event("fuzz") == NULL || phased == NULL ||
        phased->phases.n != 3) {
        fprintf(stderr, "fuzz_http: the catalogue did not load as meant\n");
        abort();
    }
    return 0;
}

static void no_hook(void *owner) {}

static const yk_hparse_hooks hooks = {no_hook, no_hook};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] & 0x3f ? (size_t)(data[0] & 0x3f) : size; /* 0: all in one read */
    int remote = data[0] & 0x40;
    data++;
    size--;
    yk_hparse hp;
    yk_hparse_init(&hp, &hooks, NULL, limits.max_header, limits.max_body);
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step, used = 0;
        int rc = yk_hparse_feed(&hp, (const char *)data + off, n, &used);
        if (rc == 0) {
            off += n;
            continue;
        }
        if (rc != 1)
            break; /* refused: yk_http answers it and closes */
        off += used;
        yk_http_req req;
        memset(&req, 0, sizeof req);
        int http10;
        (void)yk_hparse_request(&hp, &req, &http10);
        struct sockaddr_in *sin = (struct sockaddr_in *)&req.peer;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(remote ? 0xcb007101 : 0x7f000001); /* 203.0.113.1 */
        req.route = "other";
        fuzz_io_begin(&req);
        handle(&req, NULL);
        fuzz_io_settle(ingress.loop, idle);
        yk_hparse_next(&hp);
    }
    yk_hparse_free(&hp);
    return 0;
}
