/* ykload: the benchmark's load generator — N HTTP/1.1 requests over C keep-alive connections,
 * at full speed or a fixed rate, with latency measured from each request's scheduled start. */
#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    llhttp_t parser;
    char out[4096];
    int busy;             /* a request is in flight */
    int following;        /* polling a 202's Location */
    uint64_t started_ns;  /* scheduled start of the request being answered */
    char location[128];
    char hdr_name[32];
    size_t hdr_len;
    int hdr_is_location;
    char body[256];       /* first bytes of a follow-up body, to see "pending" */
    size_t body_len;
    uv_timer_t follow_timer;
} conn;

static struct {
    const char *host, *path, *method, *body_tpl, *extra_header;
    int port, nconn, idle;
    long total, sent, answered, errors;
    double rate;          /* requests per second; 0 = as fast as possible */
    int follow;           /* poll 202 answers until decided */
    uint64_t t0;
    long status[600];
    double *lat_ms;
    conn *conns;
    uv_loop_t *loop;
    uv_timer_t pacer;
    int open;
} g;

static void conn_send_next(conn *c);

static void record(conn *c, int status)
{
    double ms = (double)(uv_hrtime() - c->started_ns) / 1e6;
    if (g.answered < g.total)
        g.lat_ms[g.answered] = ms;
    g.answered++;
    if (status >= 0 && status < 600)
        g.status[status]++;
    c->busy = 0;
    c->following = 0;
    if (g.answered == g.total)
        uv_stop(g.loop);
}

static void write_cb(uv_write_t *w, int status)
{
    if (status != 0)
        g.errors++;
}

static void send_raw(conn *c, const char *method, const char *path, const char *body)
{
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(c->out, sizeof c->out,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n%s",
                     method, path, g.host, bl, g.extra_header ? g.extra_header : "",
                     g.extra_header ? "\r\n" : "", body ? body : "");
    uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
    c->body_len = 0;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0)
        g.errors++;
}

/* Replaces every %N% in the template with the request number. */
static void render_body(char *out, size_t cap, long n)
{
    const char *t = g.body_tpl;
    size_t len = 0;
    while (*t && len + 24 < cap) {
        if (strncmp(t, "%N%", 3) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%ld", n);
            t += 3;
        } else {
            out[len++] = *t++;
        }
    }
    out[len] = '\0';
}

static void conn_send_next(conn *c)
{
    if (c->busy || g.sent >= g.total)
        return;
    uint64_t now = uv_hrtime();
    uint64_t due = g.rate > 0 ? g.t0 + (uint64_t)((double)g.sent * 1e9 / g.rate) : now;
    if (due > now)
        return; /* the pacer will come back */
    char body[2048];
    render_body(body, sizeof body, g.sent);
    g.sent++;
    c->busy = 1;
    c->started_ns = due;
    send_raw(c, g.method, g.path, g.body_tpl ? body : NULL);
}

static void follow_cb(uv_timer_t *t)
{
    conn *c = t->data;
    send_raw(c, "GET", c->location, NULL);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    size_t room = sizeof c->hdr_name - 1 - (c->hdr_len < sizeof c->hdr_name - 1 ? c->hdr_len : sizeof c->hdr_name - 1);
    memcpy(c->hdr_name + (sizeof c->hdr_name - 1 - room), at, n < room ? n : room);
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
    if (g.follow && status == 202 && !c->following && c->location[0]) {
        c->following = 1; /* keep the original start time: we measure time to decision */
        uv_timer_start(&c->follow_timer, follow_cb, 50, 0);
        return 0;
    }
    if (c->following) {
        if (status == 200 && strstr(c->body, "\"pending\"")) {
            uv_timer_start(&c->follow_timer, follow_cb, 50, 0);
            return 0;
        }
        /* decided: count the final answer's code carried in the body, else 200 */
        const char *code = strstr(c->body, "\"code\":");
        status = code ? atoi(code + 7) : status;
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

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn *c = s->data;
    if (n < 0) {
        if (c->busy) {
            g.errors++;
            record(c, 0);
        }
        uv_read_stop(s);
        g.open--;
        return;
    }
    if (llhttp_execute(&c->parser, b->base, (size_t)n) != HPE_OK) {
        g.errors++;
        uv_read_stop(s);
    }
}

static void connect_cb(uv_connect_t *req, int status)
{
    conn *c = req->data;
    if (status != 0) {
        g.errors++;
        fprintf(stderr, "connect: %s\n", uv_strerror(status));
        return;
    }
    g.open++;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (g.open == g.nconn) {
        g.t0 = uv_hrtime();
        for (int i = 0; i < g.nconn && !g.idle; i++)
            conn_send_next(&g.conns[i]);
    }
}

static void pacer_cb(uv_timer_t *t)
{
    for (int i = 0; i < g.nconn && g.sent < g.total; i++)
        conn_send_next(&g.conns[i]);
}

static void idle_done_cb(uv_timer_t *t)
{
    uv_stop(g.loop);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double p)
{
    long n = g.answered < g.total ? g.answered : g.total;
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return g.lat_ms[i];
}

static void usage(void)
{
    fprintf(stderr, "usage: ykload -h HOST -p PORT -u PATH [-m METHOD] [-b BODY with %%N%%] "
                    "[-c CONNS] [-n REQUESTS] [-r RATE] [-H 'Name: value'] [-f] [-i SECONDS]\n"
                    "  -f  follow 202 answers until decided; -i hold C idle connections\n");
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
    int idle_seconds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-f") == 0) {
            g.follow = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "-h") == 0) g.host = v;
        else if (strcmp(a, "-p") == 0) g.port = atoi(v);
        else if (strcmp(a, "-u") == 0) g.path = v;
        else if (strcmp(a, "-m") == 0) g.method = v;
        else if (strcmp(a, "-b") == 0) g.body_tpl = v;
        else if (strcmp(a, "-c") == 0) g.nconn = atoi(v);
        else if (strcmp(a, "-n") == 0) g.total = atol(v);
        else if (strcmp(a, "-r") == 0) g.rate = atof(v);
        else if (strcmp(a, "-H") == 0) g.extra_header = v;
        else if (strcmp(a, "-i") == 0) idle_seconds = atoi(v), g.idle = 1;
        else usage();
    }
    g.loop = uv_default_loop();
    g.lat_ms = calloc((size_t)g.total, sizeof(double));
    g.conns = calloc((size_t)g.nconn, sizeof(conn));
    llhttp_settings_init(&settings);
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    struct sockaddr_in addr;
    uv_ip4_addr(g.host, g.port, &addr);
    for (int i = 0; i < g.nconn; i++) {
        conn *c = &g.conns[i];
        uv_tcp_init(g.loop, &c->tcp);
        uv_timer_init(g.loop, &c->follow_timer);
        c->tcp.data = c->connect.data = c->follow_timer.data = c;
        llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
        c->parser.data = c;
        uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, connect_cb);
    }
    if (g.idle) {
        uv_timer_init(g.loop, &g.pacer);
        uv_timer_start(&g.pacer, idle_done_cb, (uint64_t)idle_seconds * 1000, 0);
        uv_run(g.loop, UV_RUN_DEFAULT);
        printf("{\"idle_connections\":%d,\"errors\":%ld}\n", g.open, g.errors);
        return g.open == g.nconn ? 0 : 1;
    }
    uv_timer_init(g.loop, &g.pacer);
    if (g.rate > 0)
        uv_timer_start(&g.pacer, pacer_cb, 1, 1);
    uv_run(g.loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - g.t0) / 1e9;
    long n = g.answered < g.total ? g.answered : g.total;
    qsort(g.lat_ms, (size_t)n, sizeof(double), cmp);
    printf("{\"requests\":%ld,\"answered\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.1f,"
           "\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},"
           "\"status\":{",
           g.total, g.answered, g.errors, secs, (double)g.answered / secs, pct(0.5), pct(0.9),
           pct(0.99), pct(0.999), n ? g.lat_ms[n - 1] : 0.0);
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (g.status[s]) {
            printf("%s\"%d\":%ld", first ? "" : ",", s, g.status[s]);
            first = 0;
        }
    printf("}}\n");
    return 0;
}
