/* export: the bookings.csv roster (contract §2) — its pure parts in export.c (cells, rows, header
 * labels, CP932 conversion) and the streamed route in export_route.c. */
#ifndef EXPORT_H
#define EXPORT_H

#include <iconv.h>
#include <jansson.h>
#include <stddef.h>

#include "yk_buf.h"
#include "yk_http.h"

typedef enum { EXPORT_UTF8, EXPORT_CP932 } export_encoding;
typedef enum { EXPORT_NAMES, EXPORT_JA, EXPORT_EN } export_lang;

/* What a character CP932 lacks becomes: 〓 (U+3013 GETA MARK, CP932 0x81 0xAC), the mark
 * Japanese typesetting uses for a missing glyph, never mistaken for the text's own '?'. */
#define EXPORT_SUBSTITUTE "\x81\xac"

/* The fixed columns: booking_id, slot_starts_at, slot_ends_at, status, email come before the
 * event's fields, created_at after them. */
#define EXPORT_FIXED 6

/* Query parameters: lang "" (absent: field names), "ja" or "en"; encoding "" (absent: UTF-8),
 * "utf-8" or "cp932" (case-insensitive). 0, or -1 for any other value. */
__attribute__((warn_unused_result)) int export_parse_lang(const char *s, export_lang *out);
__attribute__((warn_unused_result)) int export_parse_encoding(const char *s, export_encoding *out);

/* Appends s[0..len) as one RFC 4180 cell: a cell starting with = + - @, tab or CR gets a leading
 * ' (so a spreadsheet shows it as text instead of running it as a formula); a cell holding
 * a comma, a quote, CR or LF is quoted, its quotes doubled. Failure: out->failed. */
void export_cell(yk_buf *out, const char *s, size_t len);

/* Appends one record of n cells (NUL-terminated strings, NULL = empty) and CRLF. */
void export_row(yk_buf *out, const char *const *cells, size_t n);

/* Header of fixed column col (0..EXPORT_FIXED-1, in the order above): its name, or its label in
 * lang. A literal. */
const char *export_fixed_header(int col, export_lang lang);

/* Header of a field from its definition def (borrowed {"name","label"...}): the name, or with a
 * lang the label — a string label as it is, a {"ja","en"} label in lang, else in the other
 * language, else the name. Borrowed from def; "" when def has no name. */
const char *export_field_header(const json_t *def, export_lang lang);

/* Appends UTF-8 s[0..len) converted by cd (iconv_open("CP932", "UTF-8")) to out; each character
 * CP932 lacks (and each invalid byte) becomes EXPORT_SUBSTITUTE. Returns how many were
 * substituted. Failure: out->failed. */
size_t export_cp932(yk_buf *out, iconv_t cd, const char *s, size_t len);

/* The route (export_route.c): GET /v1/admin/events/{slug}/bookings.csv, authorised, for event e
 * (borrowed: what the export needs is copied, the catalogue may reload meanwhile). Answers req:
 * 422 for a bad lang or encoding, 503 if the first page cannot be read, else 200 streamed. */
void export_bookings_csv(yk_http_req *req, const char *event_id, const char *slug,
                         const json_t *event_json);

#endif
