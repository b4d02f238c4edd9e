/* yk_http_text: the protocol's texts every yk_http answer carries — reason phrases and the
 * IMF-fixdate of the Date header (cached per server for a second). */
#include <stdio.h>
#include <time.h>

#include "yk_http.h"
#include "yk_http_int.h"

const char *yk_httpi_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Unknown";
    }
}

size_t yk_http_date(time_t t, char out[30])
{
    /* English names whatever the locale; snprintf is fine here, it runs once a second */
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900 || tm.tm_year < -1900) {
        t = 0;
        (void)gmtime_r(&t, &tm);
    }
    /* the modulos only show gcc that each number fits its width; none changes a value */
    snprintf(out, 30, "%.3s, %02u %.3s %04u %02u:%02u:%02u GMT", days[tm.tm_wday],
             (unsigned)tm.tm_mday % 100u, months[tm.tm_mon], (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
    return 29;
}

/* The current Date value. uv_now is the loop's cached clock: no call per answer. */
const char *yk_httpi_date(yk_http_server *srv)
{
    uint64_t now = uv_now(srv->loop);
    if (now >= srv->date_until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        yk_http_date(ts.tv_sec, srv->date);
        srv->date_until = now + 1000 - (uint64_t)ts.tv_nsec / 1000000;
    }
    return srv->date;
}
