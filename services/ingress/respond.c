/* respond: the ingress's shared responders (ingress_respond_*, declared in ingress.h) and the
 * small request helpers every route file uses: query parameters and invalid_fields errors. */
#include <stdlib.h>
#include <string.h>

#include "ingress.h"
#include "yk_text.h"
#include "yk_token.h"

void ingress_respond_json(yk_http_req *req, int status, json_t *json, const char *extra_headers)
{
    char *body = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (body == NULL) {
        yk_http_respond_error(req, 500, "internal", "The answer could not be built.");
        return;
    }
    yk_http_respond(req, status, "application/json", extra_headers, body, strlen(body));
    free(body);
}

int ingress_respond_stored(yk_http_req *req, const char *v, size_t len)
{
    char *end;
    long code = strtol(v, &end, 10);
    if (code < 200 || code > 599 || *end != ' ')
        return -1;
    end++;
    /* a worker's 503 (proto/streams.md, dead letters) is as the ingress's own: retry later */
    yk_http_respond(req, (int)code, "application/json", code == 503 ? "Retry-After: 1\r\n" : NULL,
                    end, len - (size_t)(end - v));
    return 0;
}

int ingress_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl >= outlen)
                return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

void ingress_add_error(json_t *errors, const char *field, const char *reason)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "reason", reason));
}

const char *ingress_string_member(json_t *body, const char *key, json_t *errors)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        ingress_add_error(errors, key, "required");
        return NULL;
    }
    if (!json_is_string(v)) {
        ingress_add_error(errors, key, "type");
        return NULL;
    }
    if (yk_text_has_crlf(json_string_value(v))) {
        ingress_add_error(errors, key, "pattern");
        return NULL;
    }
    return json_string_value(v);
}

void ingress_respond_invalid(yk_http_req *req, json_t *errors, const char *message)
{
    ingress_respond_json(
        req, 422,
        json_pack("{s:s,s:s,s:o}", "error", "invalid_fields", "message", message, "errors", errors),
        NULL);
}

void ingress_respond_unavailable(yk_http_req *req)
{
    static const char body[] =
        "{\"error\":\"unavailable\",\"message\":\"The service is busy or a backend is down; "
        "try again shortly.\"}";
    yk_http_respond(req, 503, "application/json", "Retry-After: 1\r\n", body, sizeof body - 1);
}

int ingress_booking_checkin(json_t *booking)
{
    char code[YK_CHECKIN_CODE_MAX + 1];
    const char *id = json_string_value(json_object_get(booking, "id"));
    if (id == NULL)
        return -1;
    yk_token_checkin_code(ingress.token_key, id, code);
    return code[0] ? json_object_set_new(booking, "checkin_code", json_string(code)) : -1;
}

json_t *ingress_booking(const cat_event *e, const char *booking_json)
{
    json_t *b = json_loads(booking_json, 0, NULL);
    json_t *fields = b ? catalogue_booking_fields(e, json_object_get(b, "fields")) : NULL;
    if (fields == NULL || json_object_set_new(b, "fields", fields) != 0 ||
        ingress_booking_checkin(b) != 0) {
        json_decref(b);
        return NULL;
    }
    return b;
}

json_t *ingress_load_object(yk_http_req *req, const char *const *known, json_t *errors)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        yk_http_respond_error(req, 400, "malformed_json", "The request body is not valid JSON.");
        return NULL;
    }
    if (!json_is_object(body)) {
        ingress_add_error(errors, "body", "type");
        return body;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (known == NULL)
            break;
        size_t i = 0;
        while (known[i] && strcmp(key, known[i]) != 0)
            i++;
        if (known[i] == NULL)
            ingress_add_error(errors, key, "unknown_field");
    }
    return body;
}
