/* yk_resp: RESP arrays of bulk strings written into a yk_buf. */
#include "yk_resp.h"

#include <stdint.h>
#include <string.h>

void yk_resp_head(yk_buf *b, char kind, size_t n)
{
    yk_buf_addc(b, kind);
    yk_buf_int(b, (int64_t)n);
    yk_buf_add(b, "\r\n", 2);
}

void yk_resp_arg(yk_buf *b, const void *s, size_t n)
{
    yk_resp_head(b, '$', n);
    yk_buf_add(b, s, n);
    yk_buf_add(b, "\r\n", 2);
}

void yk_resp_cmd(yk_buf *b, int argc, const char *const *argv, const size_t *lens)
{
    yk_resp_head(b, '*', (size_t)argc);
    for (int i = 0; i < argc; i++)
        yk_resp_arg(b, argv[i], lens ? lens[i] : strlen(argv[i]));
}
