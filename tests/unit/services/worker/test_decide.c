/* Unit suite for services/worker/decide.c: seats, per-person limits (event and campaign),
 * cancellations (token, event, closed, cancelled already, twice in a batch), arrival order,
 * answers from committed rows, failure counting, and cancellations left for a retry when memory
 * runs out (issue 9, finding 7). No PostgreSQL: the partition state and the rows are built here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "decide.h"
#include "prior.h"
#include "yk_token.h"

/* Linked with -Wl,--wrap=malloc,--wrap=calloc: fail_malloc = k (fail_calloc = k) makes the k-th
 * malloc (calloc) from now of the code under test, and of this file, return NULL. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
static int fail_malloc, fail_calloc;
void *__wrap_malloc(size_t n)
{
    if (fail_malloc && --fail_malloc == 0)
        return NULL;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_calloc && --fail_calloc == 0)
        return NULL;
    return __real_calloc(n, size);
}

#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ" /* 43 characters */
#define T10 INT64_C(1893492000)                             /* 2030-01-01T10:00:00Z */
#define DAY INT64_C(86400)

/* One event with slots 10 (capacity 2) and 11 (capacity 1), limit 1, counts in *counts. */
typedef struct {
    persist_event e;
    persist_slot s10, s11;
    map counts;
} fixture;

static void fixture_init(fixture *f, int64_t id, int limit)
{
    memset(f, 0, sizeof *f);
    f->e.id = id;
    f->e.slug = "rush";
    f->e.tz = "UTC";
    f->e.limit = limit;
    f->e.counts = &f->counts;
    f->s10 = (persist_slot){10,  2,          0, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z",
                            T10, T10 + 3600, 0};
    f->s11 = (persist_slot){
        11, 1, 0, "2030-01-01T11:00:00Z", "2030-01-01T12:00:00Z", T10 + 3600, T10 + 7200, 0};
}

static void fixture_free(fixture *f)
{
    map_clear(&f->counts, NULL);
}

static void set_count(map *counts, const char *ident, intptr_t n)
{
    void **ref = map_ref(counts, ident);
    assert_non_null(ref);
    *ref = (void *)n;
}

static intptr_t count_of(map *counts, const char *ident)
{
    return (intptr_t)map_get(counts, ident);
}

static char rids[16][33];

/* A reservation already looked up (found, e and s as batch_resolve leaves them). */
static entry reserve(int i, persist_event *e, persist_slot *s, const char *ident)
{
    snprintf(rids[i], sizeof rids[i], "%032x", i + 1);
    entry en = {.st = ENTRY_NEW,
                .rid = rids[i],
                .tok = TOKEN,
                .email = "a@example.org",
                .ident = ident,
                .fields_s = "{}",
                .fields_len = 2,
                .ev = e ? e->id : 99,
                .slot = s ? s->id : 99,
                .found = e && s,
                .e = e,
                .s = s,
                .row = -1};
    return en;
}

static char hash_ok[YK_HASH_HEX_LEN + 1], hash_bad[YK_HASH_HEX_LEN + 1];

static entry cancel(int i, int64_t ev, const char *booking, const char *th)
{
    snprintf(rids[i], sizeof rids[i], "%032x", i + 100);
    entry en = {.st = ENTRY_NEW,
                .cancel = true,
                .rid = rids[i],
                .ev = ev,
                .booking_s = booking,
                .booking = atoll(booking),
                .th = th,
                .found = -1,
                .row = -1};
    return en;
}

/* Booking rows as persist_bookings returns them (texts static). */
static persist_booking row(const char *id, int64_t ev, int64_t slot, const char *status,
                           const char *identity, bool closed)
{
    return (persist_booking){.id = id,
                             .slot_id = slot == 10 ? "10" : "11",
                             .status = status,
                             .email = "a@example.org",
                             .fields = "{\"a\": \"b\"}",
                             .created_at = "2029-12-01T00:00:00Z",
                             .slug = "rush",
                             .starts_at = "2030-01-01T10:00:00Z",
                             .ends_at = "2030-01-01T11:00:00Z",
                             .request_id = "",
                             .token_hash = hash_ok,
                             .identity = identity,
                             .event_id = ev,
                             .slot = slot,
                             .closed = closed};
}

/* bk over a copy of rows[0..n) (decide_bookings_init takes a malloc'd list). */
static void bookings(decide_bookings *bk, entry *v, size_t nv, const persist_booking *rows, int n)
{
    persist_bookings_list l = {malloc(((size_t)n + 1) * sizeof *rows), n, NULL};
    assert_non_null(l.v);
    memcpy(l.v, rows, (size_t)n * sizeof *rows);
    decide_bookings_init(bk, v, nv, &l);
}

/* Resolves a cancel entry's slot as batch_resolve does, from the fixture. */
static void resolve(entry *en, const decide_bookings *bk, fixture *f)
{
    const persist_booking *b = decide_booking_of(bk, en);
    if (b && b->event_id == en->ev) {
        en->e = &f->e;
        en->s = b->slot == 10 ? &f->s10 : &f->s11;
        en->found = 1;
    }
}

static const char *body(entry *en)
{
    answer_bodies_fix(en, 1);
    assert_int_equal(en->st, ENTRY_ANSWER);
    return en->body;
}

static int setup(void **state)
{
    (void)state;
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i; /* the key of test_yk_token's check-in vectors */
    answer_set_key(key);
    answer_reset();
    yk_token_sha256_hex(TOKEN, strlen(TOKEN), hash_ok);
    yk_token_sha256_hex("other", 5, hash_bad);
    return 0;
}

static void seats_in_arrival_order(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 5);
    entry v[3] = {reserve(0, &f.e, &f.s10, "x"), reserve(1, &f.e, &f.s10, "y"),
                  reserve(2, &f.e, &f.s10, "z")};
    for (int i = 0; i < 3; i++)
        decide_reserve(&v[i]);
    assert_int_equal(v[0].st, ENTRY_ACCEPT);
    assert_int_equal(v[1].st, ENTRY_ACCEPT);
    assert_int_equal(v[2].code, 409);
    assert_string_equal(v[2].result, "slot_full");
    assert_string_equal(body(&v[2]),
                        "{\"error\":\"slot_full\",\"message\":\"This slot is full.\"}");
    assert_int_equal(f.s10.booked, 2);
    assert_true(v[0].touched && v[2].touched);
    assert_int_equal(count_of(&f.counts, "x"), 1);
    fixture_free(&f);
}

static void per_person_limit(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    set_count(&f.counts, "held", 1); /* a booking committed before */
    entry v[3] = {reserve(0, &f.e, &f.s10, "x"), reserve(1, &f.e, &f.s11, "x"),
                  reserve(2, &f.e, &f.s11, "held")};
    for (int i = 0; i < 3; i++)
        decide_reserve(&v[i]);
    assert_int_equal(v[0].st, ENTRY_ACCEPT);
    assert_int_equal(v[1].code, 409);
    assert_string_equal(v[1].result, "already_booked");
    assert_int_equal(v[2].code, 409);
    assert_string_equal(v[2].result, "already_booked");
    assert_int_equal(f.s11.booked, 0); /* a refusal takes no seat */
    fixture_free(&f);
}

/* Events of one campaign share one count map: the limit holds across them. */
static void campaign_counts(void **state)
{
    (void)state;
    fixture a, b;
    fixture_init(&a, 1, 1);
    fixture_init(&b, 2, 1);
    b.e.counts = &a.counts;
    entry v[3] = {reserve(0, &a.e, &a.s10, "x"), reserve(1, &b.e, &b.s10, "x"),
                  reserve(2, &b.e, &b.s10, "y")};
    for (int i = 0; i < 3; i++)
        decide_reserve(&v[i]);
    assert_int_equal(v[0].st, ENTRY_ACCEPT);
    assert_string_equal(v[1].result, "already_booked");
    assert_int_equal(v[2].st, ENTRY_ACCEPT);
    assert_int_equal(count_of(&a.counts, "y"), 1);
    fixture_free(&a);
    fixture_free(&b);
}

static void not_found_and_lookup_failure(void **state)
{
    (void)state;
    entry v[2] = {reserve(0, NULL, NULL, "x"), reserve(1, NULL, NULL, "x")};
    v[1].found = -1;
    decide_reserve(&v[0]);
    decide_reserve(&v[1]);
    assert_int_equal(v[0].code, 404);
    assert_string_equal(body(&v[0]), "{\"error\":\"not_found\",\"message\":\"Not found.\"}");
    assert_int_equal(v[1].st, ENTRY_RETRY); /* an error, not an answer */
}

static void cancellations(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    f.s10.booked = 2;
    set_count(&f.counts, "x", 1);
    persist_booking rows[] = {
        row("7", 1, 10, "confirmed", "x", false),
        row("8", 1, 10, "confirmed", "y", true),
        row("9", 1, 10, "attended", "z", false),
        row("12", 1, 10, "cancelled", "w", false),
    };
    entry v[] = {
        cancel(0, 1, "7", hash_ok),  /* cancels */
        cancel(1, 1, "7", hash_ok),  /* the same booking again in this batch */
        cancel(2, 1, "8", hash_bad), /* another booking's token */
        cancel(3, 2, "8", hash_ok),  /* another event's booking */
        cancel(4, 1, "5", hash_ok),  /* no such booking */
        cancel(5, 1, "8", hash_ok),  /* deadline passed */
        cancel(6, 1, "9", hash_ok),  /* attended */
        cancel(7, 1, "12", hash_ok), /* cancelled already */
    };
    size_t n = sizeof v / sizeof v[0];
    const char **ids;
    assert_int_equal(decide_cancel_ids(v, n, &ids), (int)n);
    assert_string_equal(ids[4], "5");
    free(ids);
    decide_bookings bk;
    bookings(&bk, v, n, rows, 4);
    for (size_t i = 0; i < n; i++) {
        resolve(&v[i], &bk, &f);
        decide_cancel(&v[i], &bk);
    }
    assert_int_equal(v[0].st, ENTRY_CANCEL);
    assert_true(v[0].effect && v[0].touched);
    assert_int_equal(f.s10.booked, 1);
    assert_int_equal(count_of(&f.counts, "x"), 0);
    assert_int_equal(v[1].st, ENTRY_CANCEL);
    assert_false(v[1].effect); /* answered with the first one's outcome */
    for (int i = 2; i <= 4; i++) {
        assert_int_equal(v[i].code, 404);
        assert_string_equal(v[i].result, "not_found");
    }
    assert_int_equal(v[5].code, 409);
    assert_string_equal(body(&v[5]), "{\"error\":\"cancellation_closed\",\"message\":\"The "
                                     "cancellation deadline for this booking has passed.\"}");
    assert_int_equal(v[6].code, 409);
    assert_string_equal(v[6].result, "cancellation_closed");
    assert_int_equal(v[7].code, 200);
    assert_string_equal(v[7].result, "already_cancelled");
    assert_string_equal(body(&v[7]),
                        "{\"booking\":{\"id\":\"12\",\"event\":\"rush\",\"slot_id\":\"10\","
                        "\"starts_at\":\"2030-01-01T10:00:00Z\",\"ends_at\":\"2030-01-01T11:00:"
                        "00Z\",\"status\":\"cancelled\",\"email\":\"a@example.org\",\"fields\":{"
                        "\"a\":\"b\"},\"created_at\":\"2029-12-01T00:00:00Z\",\"checkin_code\":"
                        "\"YK1-12-AW511G\"}}");
    decide_bookings_free(&bk);
    fixture_free(&f);
}

/* Staff cancel on a booker's behalf ("*"): no token, no deadline; attended stays refused. */
static void staff_cancellations(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    f.s10.booked = 2;
    set_count(&f.counts, "y", 1);
    persist_booking rows[] = {
        row("8", 1, 10, "confirmed", "y", true), /* past the booker's deadline */
        row("9", 1, 10, "attended", "z", false),
    };
    entry v[] = {cancel(0, 1, "8", "*"), cancel(1, 1, "9", "*"), cancel(2, 2, "8", "*")};
    size_t n = sizeof v / sizeof v[0];
    decide_bookings bk;
    bookings(&bk, v, n, rows, 2);
    for (size_t i = 0; i < n; i++) {
        resolve(&v[i], &bk, &f);
        decide_cancel(&v[i], &bk);
    }
    assert_int_equal(v[0].st, ENTRY_CANCEL);
    assert_true(v[0].effect);
    assert_int_equal(f.s10.booked, 1);
    assert_int_equal(v[1].code, 409);
    assert_string_equal(v[1].result, "cancellation_closed");
    assert_int_equal(v[2].code, 404); /* another event's booking, even for staff */
    decide_bookings_free(&bk);
    fixture_free(&f);
}

/* A cancellation frees its seat for the entries after it, not for those before. */
static void cancel_frees_seat_in_order(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    f.s11.booked = 1;
    set_count(&f.counts, "x", 1);
    persist_booking rows[] = {row("7", 1, 11, "confirmed", "x", false)};
    entry v[] = {reserve(0, &f.e, &f.s11, "y"), cancel(1, 1, "7", hash_ok),
                 reserve(2, &f.e, &f.s11, "z"), reserve(3, &f.e, &f.s11, "x")};
    const char **ids;
    assert_int_equal(decide_cancel_ids(v, 4, &ids), 1);
    free(ids);
    decide_bookings bk;
    bookings(&bk, v, 4, rows, 1);
    for (size_t i = 0; i < 4; i++) {
        if (v[i].cancel) {
            resolve(&v[i], &bk, &f);
            decide_cancel(&v[i], &bk);
        } else {
            decide_reserve(&v[i]);
        }
    }
    assert_string_equal(v[0].result, "slot_full");
    assert_int_equal(v[1].st, ENTRY_CANCEL);
    assert_int_equal(v[2].st, ENTRY_ACCEPT);
    assert_string_equal(v[3].result, "slot_full"); /* x's count is free again, the seat is not */
    assert_int_equal(f.s11.booked, 1);
    decide_bookings_free(&bk);
    fixture_free(&f);
}

/* A slot with a waitlist line: a seat a cancellation frees is the line's (waitlist.c offers it
 * after the commit), never a reservation's after it in the same batch. */
static void cancel_frees_seat_for_the_line(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    f.s11.booked = 1;
    f.s11.waiting = 2;
    set_count(&f.counts, "x", 1);
    persist_booking rows[] = {row("7", 1, 11, "confirmed", "x", false)};
    entry v[] = {cancel(0, 1, "7", hash_ok), reserve(1, &f.e, &f.s11, "z")};
    const char **ids;
    assert_int_equal(decide_cancel_ids(v, 2, &ids), 1);
    free(ids);
    decide_bookings bk;
    bookings(&bk, v, 2, rows, 1);
    resolve(&v[0], &bk, &f);
    decide_cancel(&v[0], &bk);
    decide_reserve(&v[1]);
    assert_int_equal(v[0].st, ENTRY_CANCEL);
    assert_true(v[0].effect);
    assert_int_equal(f.s11.booked, 0);
    assert_string_equal(v[1].result, "slot_full");
    /* once nobody waits, the seat is anyone's again */
    f.s11.waiting = 0;
    entry again = reserve(2, &f.e, &f.s11, "z");
    decide_reserve(&again);
    assert_int_equal(again.st, ENTRY_ACCEPT);
    decide_bookings_free(&bk);
    fixture_free(&f);
}

/* Finding 7: when the list of booking ids cannot be allocated, the cancellations were decided
 * against no rows and answered 404 (then acked). They must stay pending for a retry. */
static void cancel_ids_out_of_memory(void **state)
{
    (void)state;
    entry v[] = {cancel(0, 1, "7", hash_ok), reserve(1, NULL, NULL, "x"),
                 cancel(2, 1, "8", hash_ok)};
    const char **ids;
    fail_malloc = 1;
    int m = decide_cancel_ids(v, 3, &ids);
    fail_malloc = 0;
    assert_int_equal(m, 0);
    assert_null(ids);
    decide_bookings bk;
    decide_bookings_init(&bk, v, 3, NULL); /* what batch does when there is nothing to query */
    for (size_t i = 0; i < 3; i++)
        if (v[i].cancel && v[i].st == ENTRY_NEW)
            decide_cancel(&v[i], &bk);
    assert_int_equal(v[0].st, ENTRY_RETRY);
    assert_int_equal(v[2].st, ENTRY_RETRY);
    assert_int_equal(v[1].st, ENTRY_NEW); /* reservations are decided as usual */
    decide_bookings_free(&bk);
}

/* The bookings query failed, or its index could not be built: retried, never 404. */
static void cancel_rows_missing(void **state)
{
    (void)state;
    entry v[] = {cancel(0, 1, "7", hash_ok)};
    decide_bookings bk;
    decide_bookings_init(&bk, v, 1, NULL);
    assert_int_equal(v[0].st, ENTRY_RETRY);
    decide_bookings_free(&bk);

    entry w[] = {cancel(0, 1, "7", hash_ok)};
    persist_booking rows[] = {row("7", 1, 10, "confirmed", "x", false)};
    fail_calloc = 2; /* the first is bk.gone, the second the index's slots */
    bookings(&bk, w, 1, rows, 1);
    fail_calloc = 0;
    assert_int_equal(w[0].st, ENTRY_RETRY);
    decide_bookings_free(&bk);
}

/* A replayed or refused entry whose request id is committed gets its first answer. */
static void answers_from_committed_rows(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 1);
    entry v[3] = {reserve(0, &f.e, &f.s10, "x"), reserve(1, &f.e, &f.s10, "y"),
                  reserve(2, &f.e, &f.s10, "z")};
    answer_refuse(&v[2], 409, "slot_full", "This slot is full.");
    persist_booking rows[2] = {row("41", 0, 10, "confirmed", "", false),
                               row("42", 0, 10, "cancelled", "", false)};
    rows[0].request_id = v[0].rid;
    rows[1].request_id = v[2].rid;
    persist_bookings_list l = {rows, 2, NULL};
    decide_committed(v, 3, decide_want_new, &l);
    assert_int_equal(v[0].code, 201);
    assert_string_equal(v[0].result, "duplicate");
    assert_int_equal(v[1].st, ENTRY_NEW); /* not committed: decided as usual */
    assert_int_equal(v[2].code, 409);     /* not an undecided entry */
    decide_committed(v, 3, decide_want_refused, &l);
    assert_int_equal(v[2].code, 201);
    answer_bodies_fix(v, 3);
    assert_string_equal(v[0].body,
                        "{\"booking\":{\"id\":\"41\",\"event\":\"rush\",\"slot_id\":\"10\","
                        "\"starts_at\":\"2030-01-01T10:00:00Z\",\"ends_at\":\"2030-01-01T11:00:"
                        "00Z\",\"status\":\"confirmed\",\"email\":\"a@example.org\",\"fields\":{"
                        "\"a\":\"b\"},\"created_at\":\"2029-12-01T00:00:00Z\",\"checkin_code\":"
                        "\"YK1-41-AP60CN\"},\"token\":\"" TOKEN "\"}");
    assert_non_null(strstr(v[2].body, "\"status\":\"cancelled\""));
    fixture_free(&f);
}

/* Dose series (issue 10): dose 2 (event 2, min_days 28) is decided against dose 1's history
 * (event 1) in memory; a dose 1 booked or cancelled in the batch counts at once. */
static void prerequisite_in_memory(void **state)
{
    (void)state;
    map scopes = MAP_INIT, hist = MAP_INIT;
    fixture d1, d2;
    fixture_init(&d1, 1, 5);
    fixture_init(&d2, 2, 5);
    d1.e.scopes = d2.e.scopes = &scopes;
    snprintf(d1.e.hist_key, sizeof d1.e.hist_key, "h:1");
    snprintf(d2.e.hist_key, sizeof d2.e.hist_key, "h:2");
    void **ref = map_ref(&scopes, "h:1");
    assert_non_null(ref);
    *ref = &hist;
    d2.e.pre = 1;
    d2.e.pre_days = 28;
    d2.e.prior = &hist;
    persist_slot early = {12,
                          5,
                          0,
                          "2029-12-25T10:00:00Z",
                          "2029-12-25T11:00:00Z",
                          T10 - 7 * DAY,
                          T10 - 7 * DAY + 3600,
                          0};
    persist_slot month = {13,
                          5,
                          0,
                          "2029-12-04T10:00:00Z",
                          "2029-12-04T11:00:00Z",
                          T10 - 28 * DAY,
                          T10 - 28 * DAY + 3600,
                          0};
    assert_int_equal(prior_add(&hist, "late", T10 - 7 * DAY, false), 0);
    entry v[5] = {reserve(0, &d2.e, &d2.s10, "none"), reserve(1, &d2.e, &d2.s10, "late"),
                  reserve(2, &d1.e, &month, "fresh"), reserve(3, &d2.e, &d2.s10, "fresh"),
                  reserve(4, &d1.e, &early, "x")};
    for (int i = 0; i < 5; i++)
        decide_reserve(&v[i]);
    assert_int_equal(v[0].code, 409);
    assert_string_equal(v[0].result, "prerequisite_not_met");
    assert_int_equal(v[1].code, 409); /* dose 1 only 7 days before */
    assert_string_equal(v[1].result, "prerequisite_not_met");
    assert_int_equal(v[2].st, ENTRY_ACCEPT); /* dose 1, 28 days before, in this batch */
    assert_int_equal(v[3].st, ENTRY_ACCEPT); /* so dose 2 follows */
    assert_int_equal(d2.s10.booked, 1);
    assert_int_equal(count_of(&d2.counts, "none"), 0);
    assert_true(prior_met(&hist, "x", T10, 7, false));

    /* require_attended: a confirmed dose 1 is not enough, an attended one is. */
    d2.e.pre_attended = true;
    assert_int_equal(prior_add(&hist, "came", T10 - 30 * DAY, true), 0);
    entry w[2] = {reserve(5, &d2.e, &d2.s11, "fresh"), reserve(6, &d2.e, &d2.s11, "came")};
    decide_reserve(&w[0]);
    decide_reserve(&w[1]);
    assert_string_equal(w[0].result, "prerequisite_not_met");
    assert_string_equal(body(&w[0]), "{\"error\":\"prerequisite_not_met\",\"message\":\"This "
                                     "booking needs an attended booking of the prerequisite event, "
                                     "early enough before this slot.\"}");
    assert_int_equal(w[1].st, ENTRY_ACCEPT);
    prior_attend(&hist, "fresh", T10 - 28 * DAY); /* attendance decided by this worker */
    assert_true(prior_met(&hist, "fresh", T10, 28, true));

    /* A dose 1 cancelled in memory no longer counts. */
    prior_remove(&hist, "x", T10 - 7 * DAY);
    assert_false(prior_met(&hist, "x", T10, 7, false));
    map_clear(&hist, prior_list_free);
    map_clear(&scopes, NULL);
    fixture_free(&d1);
    fixture_free(&d2);
}

/* A dose 1 cancelled in the batch no longer admits the dose 2 after it (event 1's history is in
 * the partition's scopes, as persist_event_load leaves it when event 2 depends on it). */
static void cancel_updates_history(void **state)
{
    (void)state;
    map scopes = MAP_INIT, hist = MAP_INIT;
    fixture d1, d2;
    fixture_init(&d1, 1, 1);
    fixture_init(&d2, 2, 1);
    d1.e.scopes = d2.e.scopes = &scopes;
    snprintf(d1.e.hist_key, sizeof d1.e.hist_key, "h:1");
    snprintf(d2.e.hist_key, sizeof d2.e.hist_key, "h:2");
    void **ref = map_ref(&scopes, "h:1");
    assert_non_null(ref);
    *ref = &hist;
    d2.e.pre = 1;
    d2.e.prior = &hist;
    d1.s10.booked = 1;
    set_count(&d1.counts, "x", 1);
    assert_int_equal(prior_add(&hist, "x", d1.s10.start, false), 0);
    persist_booking rows[] = {row("7", 1, 10, "confirmed", "x", false)};
    entry v[] = {cancel(0, 1, "7", hash_ok), reserve(1, &d2.e, &d2.s11, "x")};
    decide_bookings bk;
    bookings(&bk, v, 2, rows, 1);
    resolve(&v[0], &bk, &d1);
    decide_cancel(&v[0], &bk);
    decide_reserve(&v[1]);
    assert_int_equal(v[0].st, ENTRY_CANCEL);
    assert_string_equal(v[1].result, "prerequisite_not_met");
    decide_bookings_free(&bk);
    map_clear(&hist, prior_list_free);
    map_clear(&scopes, NULL);
    fixture_free(&d1);
    fixture_free(&d2);
}

/* Booking window, decided by the worker too: before opens_at (with it), after closes_at (null). */
static void booking_window(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 5);
    int64_t now = (int64_t)time(NULL);
    f.e.opens = now + 3600;
    f.e.opens_at = "2030-01-01T09:00:00+09:00";
    entry v[3] = {reserve(0, &f.e, &f.s10, "x"), reserve(1, &f.e, &f.s10, "y"),
                  reserve(2, &f.e, &f.s10, "z")};
    decide_reserve(&v[0]);
    assert_int_equal(v[0].code, 409);
    assert_string_equal(body(&v[0]), "{\"error\":\"booking_closed\",\"message\":\"Bookings for "
                                     "this event are not open.\",\"opens_at\":\"2030-01-01T09:00:"
                                     "00+09:00\"}");
    f.e.opens = now - 3600;
    f.e.closes = now - 1;
    decide_reserve(&v[1]);
    assert_string_equal(body(&v[1]), "{\"error\":\"booking_closed\",\"message\":\"Bookings for "
                                     "this event are not open.\",\"opens_at\":null}");
    f.e.closes = now + 3600;
    decide_reserve(&v[2]);
    assert_int_equal(v[2].st, ENTRY_ACCEPT);
    assert_int_equal(f.s10.booked, 1);
    fixture_free(&f);
}

/* A slot that has ended takes no booking, whatever seats it has (a no-show released one). */
static void slot_ended(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 5);
    int64_t now = (int64_t)time(NULL);
    f.s10.start = now - 3600;
    f.s10.end = now;
    f.s11.start = now - 1800;
    f.s11.end = now + 1800; /* running: still bookable */
    entry v[2] = {reserve(0, &f.e, &f.s10, "x"), reserve(1, &f.e, &f.s11, "y")};
    decide_reserve(&v[0]);
    decide_reserve(&v[1]);
    assert_int_equal(v[0].code, 409);
    assert_string_equal(body(&v[0]), "{\"error\":\"booking_closed\",\"message\":\"This slot has "
                                     "ended.\",\"opens_at\":null}");
    assert_int_equal(f.s10.booked, 0);
    assert_int_equal(v[1].st, ENTRY_ACCEPT);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(seats_in_arrival_order, setup),
        cmocka_unit_test_setup(per_person_limit, setup),
        cmocka_unit_test_setup(campaign_counts, setup),
        cmocka_unit_test_setup(not_found_and_lookup_failure, setup),
        cmocka_unit_test_setup(cancellations, setup),
        cmocka_unit_test_setup(staff_cancellations, setup),
        cmocka_unit_test_setup(cancel_frees_seat_in_order, setup),
        cmocka_unit_test_setup(cancel_frees_seat_for_the_line, setup),
        cmocka_unit_test_setup(cancel_ids_out_of_memory, setup),
        cmocka_unit_test_setup(cancel_rows_missing, setup),
        cmocka_unit_test_setup(answers_from_committed_rows, setup),
        cmocka_unit_test_setup(prerequisite_in_memory, setup),
        cmocka_unit_test_setup(booking_window, setup),
        cmocka_unit_test_setup(slot_ended, setup),
        cmocka_unit_test_setup(cancel_updates_history, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
