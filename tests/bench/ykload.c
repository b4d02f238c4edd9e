/* ykload: the benchmark's load generator — N HTTP/1.1 requests over C keep-alive connections,
 * at full speed or at a fixed rate, with latency measured from each request's scheduled start
 * (so a slow server cannot hide queueing delay: no coordinated omission).
 *
 * Each request is answered twice in the statistics: its FIRST answer (what the server said at
 * once, a 202 included: the accept rate) and its FINAL answer (with -f, a 202 is followed by
 * polling its Location until decided: the time to decision).
 *
 * Requests vary by number n (0, 1, …): "%N%" in the body (and path) becomes n, and with -V FILE
 * request n uses line n mod L of FILE, "PATH<TAB>BODY" (e.g. one line per slot or per event).
 *
 * Output: one JSON line on stdout. Exit status 0 when every request got an answer. */
#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t follow_timer;
    llhttp_t parser;
    int open;            /* connected and not closed */
    int busy;            /* a request (or a follow-up poll) is in flight */
    int following;       /* polling a 202's Location */
    long n;              /* number of the request in flight */
    uint64_t started_ns; /* its scheduled start */
    char location[160];
    char hdr_name[32];
    size_t hdr_len;
    int hdr_is_location;
    char body[64]; /* first bytes of a poll answer, to see "pending" */
    size_t body_len;
    struct conn *next_idle;
    char out[4096];
} conn;

typedef struct {
    char *path, *body;
} variant;

static struct {
    const char *host, *path, *method, *body_tpl, *extra_header;
    int port, nconn, idle;
    long total, sent, answered, first_answered, errors, connect_errors, polls;
    double rate;   /* requests per second; 0 = as fast as possible */
    int follow;    /* poll 202 answers until decided */
    int follow_ms; /* poll interval */
    uint64_t t0, t_last_first, t_last;
    long status[600], first_status[600];
    uint64_t last_ns[600]; /* when the last final answer of each status came */
    double *lat_ms, *first_ms;
    short *lat_status; /* final status of lat_ms[i] */
    conn *conns, *idle_head;
    variant *variants;
    size_t nvariants;
    uv_loop_t *loop;
    uv_timer_t pacer, deadline;
    int open, settled, timed_out;
} g;

static void conn_send_next(conn *c);

static void idle_push(conn *c)
{
    c->next_idle = g.idle_head;
    g.idle_head = c;
}

static void finish_if_done(void)
{
    if (g.answered >= g.total || (g.open == 0 && g.settled == g.nconn))
        uv_stop(g.loop);
}

/* The FINAL answer of request c->n. */
static void record(conn *c, int status)
{
    uint64_t now = uv_hrtime();
    if (g.answered < g.total) {
        g.lat_ms[g.answered] = (double)(now - c->started_ns) / 1e6;
        g.lat_status[g.answered] = (short)(status >= 0 && status < 600 ? status : 0);
    }
    g.answered++;
    g.t_last = now;
    if (status >= 0 && status < 600) {
        g.status[status]++;
        g.last_ns[status] = now;
    }
    c->busy = 0;
    c->following = 0;
    finish_if_done();
}

static void record_first(conn *c, int status)
{
    uint64_t now = uv_hrtime();
    if (g.first_answered < g.total)
        g.first_ms[g.first_answered] = (double)(now - c->started_ns) / 1e6;
    g.first_answered++;
    g.t_last_first = now;
    if (status >= 0 && status < 600)
        g.first_status[status]++;
}

static void write_cb(uv_write_t *w, int status)
{
    conn *c = w->data;
    if (status != 0 && c->busy) {
        g.errors++;
        if (!c->following)
            record_first(c, 0);
        record(c, 0);
    }
}

static void send_raw(conn *c, const char *method, const char *path, const char *body)
{
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(
        c->out, sizeof c->out, "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\n%s%s\r\n%s",
        method, path, g.host, body ? "Content-Type: application/json\r\n" : "", bl,
        g.extra_header ? g.extra_header : "", g.extra_header ? "\r\n" : "", body ? body : "");
    if (n < 0 || (size_t)n >= sizeof c->out) {
        fprintf(stderr, "ykload: request too long\n");
        exit(2);
    }
    uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
    c->body_len = 0;
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
        g.errors++;
        if (!c->following)
            record_first(c, 0);
        record(c, 0);
    }
}

/* Replaces every %N% in tpl with n. */
static void render(char *out, size_t cap, const char *tpl, long n)
{
    size_t len = 0;
    while (*tpl && len + 24 < cap) {
        if (strncmp(tpl, "%N%", 3) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%ld", n);
            tpl += 3;
        } else {
            out[len++] = *tpl++;
        }
    }
    out[len] = '\0';
}

static void conn_send_next(conn *c)
{
    if (c->busy || !c->open || g.sent >= g.total)
        return;
    uint64_t now = uv_hrtime();
    uint64_t due = g.rate > 0 ? g.t0 + (uint64_t)((double)g.sent * 1e9 / g.rate) : now;
    if (due > now) {
        idle_push(c); /* the pacer will come back */
        return;
    }
    long n = g.sent++;
    const char *ptpl = g.path, *btpl = g.body_tpl;
    if (g.nvariants) {
        variant *v = &g.variants[(size_t)n % g.nvariants];
        ptpl = v->path;
        btpl = v->body;
    }
    char path[512], body[3072];
    render(path, sizeof path, ptpl, n);
    if (btpl)
        render(body, sizeof body, btpl, n);
    c->busy = 1;
    c->n = n;
    c->started_ns = due;
    send_raw(c, g.method, path, btpl ? body : NULL);
}

static void follow_cb(uv_timer_t *t)
{
    conn *c = t->data;
    if (!c->open) {
        g.errors++;
        record(c, 0);
        return;
    }
    g.polls++;
    send_raw(c, "GET", c->location, NULL);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    size_t have = c->hdr_len < sizeof c->hdr_name - 1 ? c->hdr_len : sizeof c->hdr_name - 1;
    size_t room = sizeof c->hdr_name - 1 - have;
    memcpy(c->hdr_name + have, at, n < room ? n : room);
    c->hdr_len += n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->hdr_name[c->hdr_len < sizeof c->hdr_name ? c->hdr_len : sizeof c->hdr_name - 1] = '\0';
    c->hdr_is_location = strcasecmp(c->hdr_name, "location") == 0;
    c->hdr_len = 0;
    if (c->hdr_is_location)
        c->location[0] = '\0';
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->hdr_is_location) {
        size_t l = strlen(c->location);
        if (l + n < sizeof c->location) {
            memcpy(c->location + l, at, n);
            c->location[l + n] = '\0';
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    size_t room = sizeof c->body - 1 - c->body_len;
    size_t take = n < room ? n : room;
    memcpy(c->body + c->body_len, at, take);
    c->body_len += take;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    int status = llhttp_get_status_code(p);
    if (!c->busy) {
        g.errors++; /* an answer nobody asked for */
        return 0;
    }
    if (!c->following)
        record_first(c, status);
    if (g.follow && status == 202 && !c->following && c->location[0]) {
        c->following = 1; /* keep the original start time: we measure time to decision */
        uv_timer_start(&c->follow_timer, follow_cb, (uint64_t)g.follow_ms, 0);
        return 0;
    }
    /* GET /v1/requests/{id} answers 200 {"status":"pending",…} until decided, then the final
     * answer with its own status code. */
    if (c->following && status == 200 && strstr(c->body, "\"pending\"")) {
        uv_timer_start(&c->follow_timer, follow_cb, (uint64_t)g.follow_ms, 0);
        return 0;
    }
    record(c, status);
    conn_send_next(c);
    return 0;
}

static llhttp_settings_t settings;

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof buf);
}

static void conn_lost(conn *c)
{
    if (!c->open)
        return;
    c->open = 0;
    g.open--;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->busy) {
        g.errors++;
        if (!c->following)
            record_first(c, 0);
        record(c, 0);
    }
    finish_if_done();
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn *c = s->data;
    if (n < 0) {
        conn_lost(c);
        return;
    }
    if (llhttp_execute(&c->parser, b->base, (size_t)n) != HPE_OK) {
        fprintf(stderr, "ykload: bad response: %s\n", llhttp_get_error_reason(&c->parser));
        conn_lost(c);
    }
}

static void start_sending(void)
{
    g.t0 = uv_hrtime();
    if (g.idle)
        return;
    for (int i = 0; i < g.nconn; i++)
        conn_send_next(&g.conns[i]);
}

static void connect_cb(uv_connect_t *req, int status)
{
    conn *c = req->data;
    g.settled++;
    if (status != 0) {
        if (g.connect_errors++ < 3)
            fprintf(stderr, "ykload: connect: %s\n", uv_strerror(status));
    } else {
        c->open = 1;
        g.open++;
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    }
    if (g.settled == g.nconn) {
        if (g.open == 0) {
            uv_stop(g.loop);
            return;
        }
        start_sending();
    }
}

static void pacer_cb(uv_timer_t *t)
{
    if (g.settled < g.nconn)
        return;
    conn *list = g.idle_head;
    g.idle_head = NULL;
    while (list && g.sent < g.total) {
        conn *c = list;
        list = c->next_idle;
        conn_send_next(c); /* sends, or goes back on the idle list */
    }
    while (list) { /* everything sent: keep the rest on the idle list */
        conn *c = list;
        list = c->next_idle;
        idle_push(c);
    }
}

static void deadline_cb(uv_timer_t *t)
{
    g.timed_out = 1;
    uv_stop(g.loop);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void print_latency(const double *v, long n)
{
    printf("{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}", pct(v, n, 0.5),
           pct(v, n, 0.9), pct(v, n, 0.99), pct(v, n, 0.999), n ? v[n - 1] : 0.0);
}

static void print_status(const long *st)
{
    int first = 1;
    putchar('{');
    for (int s = 0; s < 600; s++)
        if (st[s]) {
            printf("%s\"%d\":%ld", first ? "" : ",", s, st[s]);
            first = 0;
        }
    putchar('}');
}

static void load_variants(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        perror(file);
        exit(2);
    }
    char line[4096];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (g.nvariants == cap) {
            cap = cap ? cap * 2 : 64;
            g.variants = realloc(g.variants, cap * sizeof *g.variants);
            if (g.variants == NULL)
                exit(2);
        }
        variant *v = &g.variants[g.nvariants++];
        if (tab) {
            *tab = '\0';
            v->body = strdup(tab + 1);
        } else {
            v->body = NULL;
        }
        v->path = strdup(line);
    }
    fclose(f);
    if (g.nvariants == 0) {
        fprintf(stderr, "ykload: no variants in %s\n", file);
        exit(2);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ykload -h HOST -p PORT -u PATH [-m METHOD] [-b BODY] [-V FILE] [-c CONNS] "
            "[-n REQUESTS]\n"
            "              [-r RATE] [-H 'Name: value'] [-f] [-F POLL_MS] [-t TIMEOUT_S] "
            "[-i SECONDS]\n"
            "  -b  body; %%N%% becomes the request number (also in PATH)\n"
            "  -V  lines 'PATH<TAB>BODY'; request n uses line n mod lines\n"
            "  -r  fixed rate (requests/s), latency from each request's scheduled start\n"
            "  -f  follow 202 answers (GET Location every POLL_MS, default 50) until decided\n"
            "  -t  give up after TIMEOUT_S seconds (default 300)\n"
            "  -i  open C connections, hold them idle SECONDS, report how many stayed open\n");
    exit(2);
}

int main(int argc, char **argv)
{
    g.host = "127.0.0.1";
    g.port = 8080;
    g.path = "/";
    g.method = "GET";
    g.nconn = 100;
    g.total = 1000;
    g.follow_ms = 50;
    int idle_seconds = 0, timeout_s = 300;
    const char *vfile = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-f") == 0) {
            g.follow = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "-h") == 0)
            g.host = v;
        else if (strcmp(a, "-p") == 0)
            g.port = atoi(v);
        else if (strcmp(a, "-u") == 0)
            g.path = v;
        else if (strcmp(a, "-m") == 0)
            g.method = v;
        else if (strcmp(a, "-b") == 0)
            g.body_tpl = v;
        else if (strcmp(a, "-V") == 0)
            vfile = v;
        else if (strcmp(a, "-c") == 0)
            g.nconn = atoi(v);
        else if (strcmp(a, "-n") == 0)
            g.total = atol(v);
        else if (strcmp(a, "-r") == 0)
            g.rate = atof(v);
        else if (strcmp(a, "-H") == 0)
            g.extra_header = v;
        else if (strcmp(a, "-F") == 0)
            g.follow_ms = atoi(v);
        else if (strcmp(a, "-t") == 0)
            timeout_s = atoi(v);
        else if (strcmp(a, "-i") == 0)
            idle_seconds = atoi(v), g.idle = 1;
        else
            usage();
    }
    if (g.nconn <= 0 || g.total <= 0)
        usage();
    if (vfile)
        load_variants(vfile);
    g.loop = uv_default_loop();
    g.lat_ms = calloc((size_t)g.total, sizeof(double));
    g.first_ms = calloc((size_t)g.total, sizeof(double));
    g.lat_status = calloc((size_t)g.total, sizeof(short));
    g.conns = calloc((size_t)g.nconn, sizeof(conn));
    if (g.lat_ms == NULL || g.first_ms == NULL || g.lat_status == NULL || g.conns == NULL)
        return 2;
    llhttp_settings_init(&settings);
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    struct sockaddr_in addr;
    if (uv_ip4_addr(g.host, g.port, &addr) != 0)
        usage();
    uv_timer_init(g.loop, &g.pacer);
    uv_timer_init(g.loop, &g.deadline);
    for (int i = 0; i < g.nconn; i++) {
        conn *c = &g.conns[i];
        uv_tcp_init(g.loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        uv_timer_init(g.loop, &c->follow_timer);
        c->tcp.data = c->connect.data = c->follow_timer.data = c;
        llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
        c->parser.data = c;
        int rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, connect_cb);
        if (rc != 0) {
            fprintf(stderr, "ykload: connect %d: %s\n", i, uv_strerror(rc));
            return 1;
        }
    }
    if (g.idle) {
        uv_timer_start(&g.deadline, deadline_cb, (uint64_t)idle_seconds * 1000, 0);
        uv_run(g.loop, UV_RUN_DEFAULT);
        printf("{\"idle_connections\":%d,\"connect_errors\":%ld,\"closed_by_server\":%d}\n", g.open,
               g.connect_errors, g.settled - (int)g.connect_errors - g.open);
        fflush(stdout);
        return g.open == g.nconn ? 0 : 1;
    }
    if (g.rate > 0)
        uv_timer_start(&g.pacer, pacer_cb, 1, 1);
    uv_timer_start(&g.deadline, deadline_cb, (uint64_t)timeout_s * 1000, 0);
    uv_run(g.loop, UV_RUN_DEFAULT);
    uint64_t end = g.t0 ? uv_hrtime() : 0;
    double secs = g.t0 ? (double)(end - g.t0) / 1e9 : 0;
    double first_secs = g.t_last_first > g.t0 ? (double)(g.t_last_first - g.t0) / 1e9 : 0;
    long n = g.answered < g.total ? g.answered : g.total;
    long nf = g.first_answered < g.total ? g.first_answered : g.total;
    /* latency of the final answers of each status, before lat_ms is sorted */
    double *by = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (by == NULL)
        return 2;
    printf("{\"by_status\":{");
    int first_st = 1;
    for (int st = 0; st < 600; st++) {
        if (g.status[st] == 0)
            continue;
        long k = 0;
        for (long i = 0; i < n; i++)
            if (g.lat_status[i] == st)
                by[k++] = g.lat_ms[i];
        qsort(by, (size_t)k, sizeof(double), cmp);
        printf("%s\"%d\":{\"last_s\":%.4f,\"latency_ms\":", first_st ? "" : ",", st,
               g.t0 && g.last_ns[st] > g.t0 ? (double)(g.last_ns[st] - g.t0) / 1e9 : 0.0);
        print_latency(by, k);
        putchar('}');
        first_st = 0;
    }
    printf("},");
    free(by);
    qsort(g.lat_ms, (size_t)n, sizeof(double), cmp);
    qsort(g.first_ms, (size_t)nf, sizeof(double), cmp);
    printf("\"requests\":%ld,\"sent\":%ld,\"answered\":%ld,\"errors\":%ld,\"connect_errors\":%ld,"
           "\"timed_out\":%s,\"connections\":%d,\"rate\":%.1f,\"polls\":%ld,"
           "\"seconds\":%.4f,\"rps\":%.1f,\"latency_ms\":",
           g.total, g.sent, g.answered, g.errors, g.connect_errors, g.timed_out ? "true" : "false",
           g.nconn, g.rate, g.polls, secs, secs > 0 ? (double)g.answered / secs : 0.0);
    print_latency(g.lat_ms, n);
    printf(",\"status\":");
    print_status(g.status);
    printf(",\"first\":{\"answered\":%ld,\"seconds\":%.4f,\"rps\":%.1f,\"latency_ms\":",
           g.first_answered, first_secs,
           first_secs > 0 ? (double)g.first_answered / first_secs : 0.0);
    print_latency(g.first_ms, nf);
    printf(",\"status\":");
    print_status(g.first_status);
    printf("}}\n");
    fflush(stdout);
    return g.answered >= g.total && !g.timed_out ? 0 : 1;
}
