/* yk_roster_pg: storing an uploaded roster — one blocking PostgreSQL session per upload that
 * COPYs each row's hash (binary format, in pieces as the parser makes them) as a new generation
 * and swaps it in, in one transaction: a failed or invalid upload replaces nothing. For a thread
 * (the ingress runs it on libuv's pool) or a command-line tool; never on an event loop. */
#ifndef YK_ROSTER_PG_H
#define YK_ROSTER_PG_H

#include <stdbool.h>

#include "yk_roster.h"

typedef enum {
    YK_ROSTER_LOADED = 0,  /* so far so good; after finish: committed */
    YK_ROSTER_INVALID = 1, /* the file has problems (yk_roster_parser_error): nothing stored */
    YK_ROSTER_BUSY = 2,    /* another upload of this campaign's roster is under way */
    YK_ROSTER_FAILED = -1, /* PostgreSQL failed or memory ran out: nothing stored */
} yk_roster_status;

typedef struct yk_roster_load yk_roster_load;

/* Connects (conninfo), begins the transaction, takes the campaign's upload lock (advisory, class
 * 31602, released at the end of the transaction), draws a generation and starts the COPY. key is
 * the roster key (yk_roster_key). *out is set unless memory ran out (then FAILED and NULL); free
 * it with yk_roster_load_free whatever the status. */
__attribute__((warn_unused_result)) yk_roster_status
yk_roster_load_begin(yk_roster_load **out, const char *conninfo,
                     const unsigned char key[YK_TOKEN_KEY_BYTES], const char *campaign, bool cp932);
/* Parses data[0..len) of the file and sends the rows' hashes (when a batch is full). Returns the
 * status so far: LOADED, or FAILED (later feeds do nothing). Problems of the file are left for
 * finish. */
yk_roster_status yk_roster_load_feed(yk_roster_load *l, const char *data, size_t len);
/* The file ended: INVALID (rolled back), FAILED (rolled back), or LOADED: committed, the roster
 * replaced, yk_roster_load_updated_at set. */
yk_roster_status yk_roster_load_finish(yk_roster_load *l);
/* Rows and problems so far (borrowed from l). */
const yk_roster_parser *yk_roster_load_parser(const yk_roster_load *l);
/* RFC 3339 (UTC) of the replacement, once LOADED by finish; "" before. */
const char *yk_roster_load_updated_at(const yk_roster_load *l);
/* PostgreSQL's message of a FAILED load ("" when none). */
const char *yk_roster_load_error(const yk_roster_load *l);
/* Closes the session (rolling back what is not committed) and frees l; NULL is fine. */
void yk_roster_load_free(yk_roster_load *l);

#endif
