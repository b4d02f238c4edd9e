/* client: the client address of a request behind trusted proxies. Owns the parsed list of trusted
 * networks (static, read only after client_init). */
#include "client.h"

#include <string.h>

#include "ingress.h"
#include "yk_log.h"

static yk_cidr trusted[YK_CIDR_MAX];
static size_t n_trusted;

int client_init(const char *trusted_proxies)
{
    char err[160];
    if (yk_cidr_parse_list(trusted_proxies, trusted, YK_CIDR_MAX, &n_trusted, err, sizeof err) !=
        0) {
        yk_error("YOYAKU_TRUSTED_PROXIES: %s", err);
        return -1;
    }
    if (n_trusted > 0)
        yk_info("trusted_proxies=%zu networks: their X-Forwarded-For names the client", n_trusted);
    return 0;
}

int client_addr(const yk_http_req *req, unsigned char out[YK_IP_LEN])
{
    if (yk_ip_of(&req->peer, out) != 0)
        return 1; /* a unix socket: this machine */
    yk_forwarded_client(req->headers[YK_HDR_FORWARDED_FOR], trusted, n_trusted, out);
    return yk_ip_loopback(out);
}

/* One IPv6 user holds a whole /64 (SLAAC, privacy addresses): counted as one address. */
static void client_group(unsigned char ip[YK_IP_LEN])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(ip, mapped, sizeof mapped) != 0)
        memset(ip + 8, 0, 8);
}

int client_limited(const yk_http_req *req, unsigned char out[YK_IP_LEN])
{
    int limited = !client_addr(req, out) || ingress.rate_loopback;
    client_group(out);
    return limited;
}

int client_conn_capped(const struct sockaddr_storage *peer, unsigned char out[YK_IP_LEN])
{
    if (yk_ip_of(peer, out) != 0)
        return 0; /* a unix socket: this machine */
    /* a proxy carries many clients (their own limits apply to each request) */
    if ((yk_ip_loopback(out) && !ingress.rate_loopback) || yk_cidr_match(trusted, n_trusted, out))
        return 0;
    client_group(out);
    return 1;
}
