/* reply: commands whose (large) reply tree hiredis builds in an arena instead of one malloc per
 * element: the XREADGROUP replies of a batch, freed all at once. */
#ifndef REPLY_H
#define REPLY_H

#include <hiredis/hiredis.h>

typedef struct reply_chunk reply_chunk;

/* Chunks of memory reused from reply to reply. Zero-initialise; reply_arena_free releases it. */
typedef struct {
    reply_chunk *head, *cur;
} reply_arena;

/* redisCommandArgv whose reply (an ordinary redisReply tree) lives in a: valid until the next
 * reply_command on a or reply_arena_free, and never given to freeReplyObject. NULL as for
 * redisCommandArgv (the context then failed, or memory ran out). Only for commands whose reply
 * the caller reads at once: c's other replies still use hiredis's own allocation. */
__attribute__((warn_unused_result)) redisReply *reply_command(redisContext *c, reply_arena *a,
                                                             int argc, const char **argv);

/* Releases every chunk of a (and every reply in it). */
void reply_arena_free(reply_arena *a);

#endif
