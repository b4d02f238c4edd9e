/* answer: a batch's answers — their JSON texts, in one buffer reused from batch to batch, and the
 * one Redis pipeline that publishes seats, stores and relays the answers and acks (ack script). */
#ifndef ANSWER_H
#define ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "worker.h"
#include "yk_buf.h"

/* The server key (YOYAKU_TOKEN_KEY) every booking's checkin_code is derived with (copied). Until
 * set, all zero bytes. */
void answer_set_key(const unsigned char key[32]);

/* Empties the body buffer for a new batch (every body_at of the previous batch is void). */
void answer_reset(void);

/* Gives back the buffers' memory after an unusually large batch. */
void answer_trim(size_t keep);

/* Each of these ends en's answer: code and body final (ENTRY_ANSWER), or, when the body did not
 * fit (memory, cap), nothing written and en left for a retry (ENTRY_RETRY). */

/* {"error":error,"message":message}; error is a literal, also en's metrics result. */
void answer_refuse(entry *en, int code, const char *error, const char *message);

/* 409 {"error":"booking_closed","message":message,"opens_at":opens_at or null} (as the
 * ingress's); message is a literal. */
void answer_closed(entry *en, const char *message, const char *opens_at);

/* 201 {"booking":…,"token":…} for the booking just inserted for en (id, created_at as
 * PostgreSQL returned them), from en's own fields and its slot. */
void answer_booked(entry *en, const char *id, const char *created);

/* 201 for en's request id committed already: the booking as PostgreSQL has it (status
 * included), with en's token. */
void answer_committed(entry *en, const persist_booking *b);

/* 200 {"booking":…} with status cancelled, b being the booking en cancels. */
void answer_cancelled(entry *en, const persist_booking *b);

/* 200 {"booking":…} of b with the given status (attendance). */
void answer_status(entry *en, const persist_booking *b, const char *status);

/* code with the body {"<key>":<json>} (json: JSON text, e.g. PostgreSQL's json output, written
 * compact); with token, 201 {"<key>":<json>,"token":en->tok} whatever code says (waitlist.c). */
void answer_json(entry *en, int code, const char *key, const char *json, bool token);

/* Points every answered entry's body into the body buffer, which no longer moves. */
void answer_bodies_fix(entry *v, size_t n);

/* Seconds the answer of en stays in yk:res:<id> (proto/streams.md), now_ms being Unix ms. */
int64_t answer_hold_s(const entry *en, int64_t now_ms, int64_t ttl);

/* One touched slot's seats left, for the seat messages. */
typedef struct {
    int64_t ev, slot;
    int left;
} answer_seat;

/* Appends to b the whole answer pipeline of entries v[0..n): seats[0..m) (sorted by event then
 * slot, one each) as HSET yk:remaining:<ev> per event and one PUBLISH yk:events; a SET yk:res:<id>
 * … EX … GET per answer; one PUBLISH yk:rep:<ing> per waiting ingress; the ack script per
 * partition (of `partitions`) with entries not left for a retry. tag (room for 3n + partitions
 * + 2) gets, per command, the index of the entry whose SET it is, else -1. Returns the number of
 * commands, or -1 when memory ran out (b failed). */
__attribute__((warn_unused_result)) int answer_pipeline(yk_buf *b, const entry *v, size_t n,
                                                        const answer_seat *seats, size_t m,
                                                        unsigned partitions, int64_t now_ms,
                                                        int64_t ttl, int *tag);

/* Reads the count replies of a pipeline answer_pipeline built over v with tag, already sent: an
 * answer that replaced a pending marker gets the TTL (an EXPIRE, appended while reading, so its
 * reply comes after the rest). Errors are logged with what. 0, or -1 when the connection failed. */
__attribute__((warn_unused_result)) int answer_replies(worker *w, const entry *v, const int *tag,
                                                       int count, const char *what);

/* Sends the pipeline, reads its replies (an answer that replaced a value gets the TTL by a second
 * round of EXPIREs) and counts metrics. Nothing sent
 * (memory): every entry is left for a retry. WORKER_REDIS_LOST when the connection failed. */
__attribute__((warn_unused_result)) worker_status answer_send(worker *w, entry *v, size_t n,
                                                              const answer_seat *seats, size_t m);

#endif
