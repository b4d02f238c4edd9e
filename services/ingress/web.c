/* web: owns the in-memory copies of the page files. Pages are few and small, so reading them once
 * keeps the ingress's hot loop free of file I/O; a new deploy restarts the process anyway. */
#include "web.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"

typedef struct {
    char name[64]; /* file name inside the web directory, or "assets/<name>" */
    const char *type;
    char *data;
    size_t len;
} web_file;

#define WEB_MAX_FILES 64
#define WEB_MAX_SIZE (2u << 20)
static web_file files[WEB_MAX_FILES];
static size_t nfiles;

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
    };
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

static void load_file(const char *dir, const char *sub, const char *name)
{
    char path[1024];
    if (nfiles == WEB_MAX_FILES || name[0] == '.' || strlen(name) + strlen(sub) >= 63)
        return;
    snprintf(path, sizeof path, "%s/%s%s", dir, sub, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    web_file *w = &files[nfiles];
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && (size_t)n <= WEB_MAX_SIZE && (w->data = malloc((size_t)n + 1)) != NULL) {
            rewind(f);
            if (fread(w->data, 1, (size_t)n, f) == (size_t)n) {
                w->len = (size_t)n;
                snprintf(w->name, sizeof w->name, "%s%s", sub, name);
                w->type = content_type(name);
                nfiles++;
            } else {
                free(w->data);
                w->data = NULL;
            }
        }
    }
    fclose(f);
}

static int load_dir(const char *dir, const char *sub)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_type == DT_REG || e->d_type == DT_LNK)
            load_file(dir, sub, e->d_name);
    closedir(d);
    return 0;
}

int web_load(const char *dir)
{
    if (load_dir(dir, "") != 0) {
        yk_warn("web: cannot read %s; only the API is served", dir);
        return -1;
    }
    (void)load_dir(dir, "assets/");
    yk_info("web: %zu files from %s", nfiles, dir);
    return 0;
}

static const web_file *find(const char *name)
{
    for (size_t i = 0; i < nfiles; i++)
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

/* True if s holds no further '/'. (A loop, not strchr: GCC's overread check misjudges the
 * pointer after a strncmp against a literal and fails the sanitizer build.) */
static int last_segment(const char *s)
{
    for (; *s; s++)
        if (*s == '/')
            return 0;
    return 1;
}

int web_handle(yk_http_req *req)
{
    const char *p = req->path, *name = NULL;
    char asset[64];
    size_t len = req->path_len;
    if (strcmp(p, "/") == 0 || strcmp(p, "/index.html") == 0)
        name = "index.html";
    else if (len > 8 && strncmp(p, "/events/", 8) == 0 && last_segment(p + 8))
        name = "event.html";
    else if (len > 10 && strncmp(p, "/bookings/", 10) == 0 && last_segment(p + 10))
        name = "booking.html";
    else if (len > 10 && strncmp(p, "/waitlist/", 10) == 0 && last_segment(p + 10))
        name = "waitlist.html";
    else if (strcmp(p, "/admin") == 0 || strncmp(p, "/admin/", 7) == 0)
        name = "admin.html";
    else if (len > 8 && strncmp(p, "/assets/", 8) == 0 && last_segment(p + 8) &&
             len - 1 < sizeof asset) {
        snprintf(asset, sizeof asset, "%s", p + 1);
        name = asset;
    }
    if (name == NULL)
        return 0;
    req->route = "web";
    const web_file *f = find(name);
    if (f == NULL) {
        yk_http_respond_error(req, 404, "not_found", "No such page.");
        return 1;
    }
    if (req->method != YK_M_GET && req->method != YK_M_HEAD) {
        yk_http_respond_not_allowed(req, "GET, HEAD");
        return 1;
    }
    /* The pages use only their own scripts and styles and talk only to this origin; no-referrer
     * keeps a booking link's token out of other sites' logs. */
    yk_http_respond(req, 200, f->type,
                    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                    "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
                    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
                    "style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; "
                    "base-uri 'none'; frame-ancestors 'none'\r\n",
                    f->data, f->len);
    return 1;
}

void web_free(void)
{
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    nfiles = 0;
}
