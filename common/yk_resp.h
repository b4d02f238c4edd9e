/* yk_resp: the one RESP (Redis protocol) writer: commands encoded into a yk_buf by hand, for
 * pipelines written in one piece (hiredis's encoder, one sdscatfmt per argument, was a third of
 * the worker's instructions per entry). Failure follows yk_buf's sticky flag. */
#ifndef YK_RESP_H
#define YK_RESP_H

#include <stddef.h>

#include "yk_buf.h"

/* A header line: kind ('*' array, '$' bulk string) and its count or length. */
void yk_resp_head(yk_buf *b, char kind, size_t n);
/* One bulk string argument of n bytes. */
void yk_resp_arg(yk_buf *b, const void *s, size_t n);
/* A whole command: argc arguments, lengths in lens or, when lens is NULL, C strings. */
void yk_resp_cmd(yk_buf *b, int argc, const char *const *argv, const size_t *lens);

#endif
