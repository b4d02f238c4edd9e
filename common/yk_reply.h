/* yk_reply: typed read access to a Redis reply, so that no hiredis type leaves common/.
 * A yk_reply is hiredis's reply object seen through these accessors only; it is owned by whoever
 * handed it out (yk_redis: valid during the callback; yk_rconn: until its arena is reused) and
 * never freed here. */
#ifndef YK_REPLY_H
#define YK_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct redisReply yk_reply; /* opaque outside yk_reply.c */

typedef enum {
    YK_REPLY_NONE = 0, /* r is NULL: no reply (not sent, or the connection failed) */
    YK_REPLY_STRING,   /* bulk or simple string */
    YK_REPLY_ARRAY,
    YK_REPLY_INTEGER,
    YK_REPLY_NIL,
    YK_REPLY_STATUS,
    YK_REPLY_ERROR,
} yk_reply_kind;

/* Every accessor accepts NULL and answers as for an absent value. */
yk_reply_kind yk_reply_type(const yk_reply *r);
bool yk_reply_is(const yk_reply *r, yk_reply_kind kind);
/* The bytes of a string, status or error reply (NUL-terminated by hiredis), else NULL; *len (may
 * be NULL) gets their length, 0 when NULL is returned. Borrowed from r. */
const char *yk_reply_str(const yk_reply *r, size_t *len);
/* The value of an integer reply, else 0. */
int64_t yk_reply_int(const yk_reply *r);
/* The number of elements of an array reply, else 0. */
size_t yk_reply_count(const yk_reply *r);
/* Element i of an array reply, NULL when r is not an array or i is out of range. */
const yk_reply *yk_reply_at(const yk_reply *r, size_t i);
/* True when r is a string equal to s (a C string). */
bool yk_reply_eq(const yk_reply *r, const char *s);
/* The message of an error reply, else NULL. */
const char *yk_reply_error(const yk_reply *r);

#endif
