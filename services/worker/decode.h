/* decode: request entries of an XREADGROUP reply turned into entries, checked as strictly as the
 * worker needs (a malformed entry is answered 500 or only acked, never decided). */
#ifndef DECODE_H
#define DECODE_H

#include <stddef.h>

#include "entry.h"
#include "yk_reply.h"

/* The number of stream entries in an XREADGROUP reply ([[key, [entry…]]…]). */
size_t decode_count(const yk_reply *streams);

/* Fills v (room for decode_count entries, zeroed) from the reply's streams yk:req:{p} with
 * p < partitions, in reply order. Returns how many were filled. The entries borrow the reply's
 * strings, and header values are cut in place: the reply must be the caller's own (an arena
 * reply, yk_rconn_command_in) and outlive the entries. */
size_t decode_streams(entry *v, const yk_reply *streams, unsigned partitions);

/* Fills en from one stream entry [id, [field, value, …]] of partition p: ENTRY_NEW when it can be
 * decided, ENTRY_ANSWER (500) when it is malformed, ENTRY_ACK when it cannot be answered. */
void decode_entry(entry *en, unsigned p, const yk_reply *x);

#endif
