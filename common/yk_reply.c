/* yk_reply: the accessors over hiredis's redisReply, which only common/ reads (yk_redis hands
 * replies out, yk_rconn builds them in its arena). */
#include "yk_reply.h"

#include <hiredis/hiredis.h>
#include <string.h>

yk_reply_kind yk_reply_type(const yk_reply *r)
{
    if (r == NULL)
        return YK_REPLY_NONE;
    switch (r->type) {
    case REDIS_REPLY_STRING:
        return YK_REPLY_STRING;
    case REDIS_REPLY_ARRAY:
        return YK_REPLY_ARRAY;
    case REDIS_REPLY_INTEGER:
        return YK_REPLY_INTEGER;
    case REDIS_REPLY_NIL:
        return YK_REPLY_NIL;
    case REDIS_REPLY_STATUS:
        return YK_REPLY_STATUS;
    case REDIS_REPLY_ERROR:
        return YK_REPLY_ERROR;
    default:
        return YK_REPLY_NONE;
    }
}

bool yk_reply_is(const yk_reply *r, yk_reply_kind kind)
{
    return yk_reply_type(r) == kind;
}

const char *yk_reply_str(const yk_reply *r, size_t *len)
{
    yk_reply_kind k = yk_reply_type(r);
    bool text = k == YK_REPLY_STRING || k == YK_REPLY_STATUS || k == YK_REPLY_ERROR;
    if (len)
        *len = text ? (size_t)r->len : 0;
    return text ? r->str : NULL;
}

int64_t yk_reply_int(const yk_reply *r)
{
    return yk_reply_is(r, YK_REPLY_INTEGER) ? (int64_t)r->integer : 0;
}

size_t yk_reply_count(const yk_reply *r)
{
    return yk_reply_is(r, YK_REPLY_ARRAY) ? r->elements : 0;
}

const yk_reply *yk_reply_at(const yk_reply *r, size_t i)
{
    return i < yk_reply_count(r) ? r->element[i] : NULL;
}

bool yk_reply_eq(const yk_reply *r, const char *s)
{
    size_t n = strlen(s);
    return yk_reply_is(r, YK_REPLY_STRING) && (size_t)r->len == n && memcmp(r->str, s, n) == 0;
}

const char *yk_reply_error(const yk_reply *r)
{
    return yk_reply_is(r, YK_REPLY_ERROR) ? r->str : NULL;
}
