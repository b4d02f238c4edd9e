/* entry: one request entry of a batch as decode, decide, commit, answer and batch pass it along.
 * Types only; each module says which fields it sets. */
#ifndef ENTRY_H
#define ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist.h"

typedef enum {
    ENTRY_NEW,    /* valid, not decided yet */
    ENTRY_ACCEPT, /* decided yes (counted in memory); waits for the insert */
    ENTRY_CANCEL, /* cancel decided yes (seat freed in memory, or by an earlier entry of this
                     batch); waits for the commit */
    ENTRY_DUP,    /* accepted but the insert found its request id already committed */
    ENTRY_ANSWER, /* code and body are final */
    ENTRY_ACK,    /* nothing to answer (deleted or unanswerable entry): only ack it */
    ENTRY_RETRY,  /* not decided (transient error): left pending, replayed at the next tick */
} entry_state;

typedef struct {
    unsigned p;
    entry_state st;
    /* Borrowed from the XREADGROUP reply, which outlives the batch; NULL when absent. */
    const char *sid, *rid, *ing, *type, *email, *ident, *tok, *fields_s, *dl_s, *ev_s, *slot_s;
    const char *idem;              /* "1" when the request carries an Idempotency-Key */
    const char *booking_s, *th;    /* t=cancel: the booking id and the presented token's hash,
                                      or "*" for staff (no token, no deadline); t=attend: id */
    const char *st_s, *today_s;    /* t=attend: "attended" or "no_show"; "1" at the desk */
    bool cancel;                   /* t=cancel */
    bool attend;                   /* t=attend; neither: t=reserve */
    int64_t dl, ev, slot, booking; /* a cancel's slot is its booking's, once decided; dl: the
                                      ingress's deadline (Unix ms), 0 when unknown */
    size_t fields_len;             /* strlen(fields_s), once yk_buf_fields_ok accepted it */
    int found;          /* batch's lookup of ev and slot before deciding: 1 found (e and s set),
                           0 no such event or slot, -1 not looked up or failed */
    persist_event *e;   /* borrowed from the partition; valid until that partition is forgotten */
    persist_slot *s;    /* idem */
    bool touched;       /* decided against s: publish its seats */
    bool effect;        /* ENTRY_CANCEL: this entry frees the seat (not an earlier one) */
    bool committed;     /* ENTRY_CANCEL: the booking is cancelled in PostgreSQL now */
    bool cascade;       /* ENTRY_CANCEL: dependent bookings were cancelled with it: reread */
    int row;            /* cancel: row of its booking in the batch's booking rows, or -1 */
    const char *result; /* yoyaku_bookings_total label: a literal */
    int code;           /* ENTRY_ANSWER: HTTP status */
    size_t body_at;     /* ENTRY_ANSWER: offset of the body in answer's body buffer */
    char *body;         /* ENTRY_ANSWER: the body; set only by answer_bodies_fix, right before
                           answer_send */
    bool inserted;      /* the insert returned its row: texts at row_at in commit's row buffer */
    size_t row_at;      /* booking id '\0' created_at '\0' */
    bool full;          /* soldout.c: a reservation whose slot was full before the batch */
    bool early;         /* soldout.c: answered before the commit; the batch only acks it */
} entry;

#endif
