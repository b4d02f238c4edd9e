# proto/openapi.yaml against the contract (§2 HTTP API v1): every route, error code and header the
# contract names is described, and every $ref resolves. Needs only Debian's python3-yaml.
import pathlib

import pytest

yaml = pytest.importorskip("yaml")

SPEC_PATH = pathlib.Path(__file__).resolve().parents[2] / "proto" / "openapi.yaml"

# (method, path) exactly as in the contract's tables.
ROUTES = [
    ("get", "/v1/events"),
    ("get", "/v1/events/{slug}"),
    ("post", "/v1/events/{slug}/unlock"),
    ("get", "/v1/events/{slug}/slots"),
    ("post", "/v1/events/{slug}/reservations"),
    ("get", "/v1/requests/{request_id}"),
    ("get", "/v1/bookings/{id}"),
    ("get", "/v1/bookings/{id}/qr.svg"),
    ("post", "/v1/bookings/{id}/cancel"),
    ("post", "/v1/bookings/{id}/review"),
    ("post", "/v1/admin/events"),
    ("get", "/v1/admin/events"),
    ("get", "/v1/admin/events/{slug}"),
    ("patch", "/v1/admin/events/{slug}"),
    ("post", "/v1/admin/events/{slug}/slots"),
    ("get", "/v1/admin/events/{slug}/bookings"),
    ("get", "/v1/admin/events/{slug}/bookings.csv"),
    ("get", "/v1/admin/bookings/{id}"),
    ("post", "/v1/admin/bookings/{id}/attendance"),
    ("post", "/v1/admin/bookings/{id}/cancel"),
    ("post", "/v1/admin/checkin"),
    ("post", "/v1/admin/login"),
    ("post", "/v1/admin/logout"),
    ("get", "/v1/admin/me"),
    ("get", "/v1/admin/staff"),
    ("post", "/v1/admin/staff"),
    ("patch", "/v1/admin/staff/{login}"),
    ("get", "/v1/admin/audit"),
    ("get", "/v1/admin/events/{slug}/reviews"),
    ("get", "/v1/admin/queue"),
    # waitlist
    ("post", "/v1/events/{slug}/slots/{slot_id}/waitlist"),
    ("get", "/v1/waitlist/{id}"),
    ("post", "/v1/waitlist/{id}/accept"),
    ("post", "/v1/waitlist/{id}/leave"),
    ("get", "/v1/admin/events/{slug}/waitlist"),
    ("put", "/v1/admin/campaigns/{campaign}/roster"),
    ("get", "/v1/admin/campaigns/{campaign}/roster"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
]

ERROR_CODES = [
    "not_found", "method_not_allowed", "malformed_json", "too_large", "rate_limited", "unavailable",
    "password_required", "wrong_password", "cancellation_closed", "not_attended", "already_reviewed",
    "invalid_fields", "idempotency_conflict", "slot_full", "already_booked", "booking_closed",
    "prerequisite_not_met", "unauthorized", "slug_taken", "prerequisite_not_attended", "bad_request",
    "forbidden", "login_taken", "not_today", "cancelled", "last_owner",
    "slot_available", "already_waiting", "waitlist_closed", "offer_expired", "not_offered",
    "not_eligible", "invalid_roster", "roster_busy", "seat_released",
]

# Contract v1.1 codes of routes and rules this codebase does not have yet: named in ErrorCode only.
V11_CODES = [
]

REASONS = {"required", "too_long", "pattern", "type", "unknown_option", "unknown_field"}

# (method, path, status, codes the contract gives that answer)
REFUSALS = [
    ("get", "/v1/events/{slug}", "401", {"password_required"}),
    ("post", "/v1/events/{slug}/unlock", "401", {"wrong_password"}),
    ("post", "/v1/events/{slug}/unlock", "429", {"rate_limited"}),
    ("post", "/v1/events/{slug}/reservations", "409",
     {"slot_full", "already_booked", "booking_closed", "prerequisite_not_met", "idempotency_conflict",
      "not_eligible"}),
    ("post", "/v1/events/{slug}/reservations", "422", {"invalid_fields"}),
    ("post", "/v1/bookings/{id}/cancel", "409", {"cancellation_closed"}),
    ("post", "/v1/bookings/{id}/review", "409", {"not_attended", "already_reviewed"}),
    ("post", "/v1/bookings/{id}/review", "422", {"invalid_fields"}),
    ("post", "/v1/admin/events", "409", {"slug_taken"}),
    ("post", "/v1/admin/events", "422", {"invalid_fields"}),
    ("post", "/v1/admin/bookings/{id}/attendance", "409",
     {"prerequisite_not_attended", "cancelled", "seat_released", "already_booked"}),
    ("post", "/v1/admin/checkin", "409",
     {"prerequisite_not_attended", "not_today", "cancelled", "seat_released", "already_booked"}),
    ("post", "/v1/admin/bookings/{id}/cancel", "409", {"cancellation_closed"}),
    ("post", "/v1/admin/login", "401", {"wrong_password"}),
    ("post", "/v1/admin/staff", "409", {"login_taken"}),
    ("patch", "/v1/admin/staff/{login}", "409", {"last_owner"}),
    ("post", "/v1/events/{slug}/slots/{slot_id}/waitlist", "409",
     {"slot_available", "already_booked", "already_waiting", "waitlist_closed"}),
    ("post", "/v1/events/{slug}/slots/{slot_id}/waitlist", "422", {"invalid_fields"}),
    ("post", "/v1/waitlist/{id}/accept", "409", {"offer_expired", "not_offered"}),
    ("put", "/v1/admin/campaigns/{campaign}/roster", "422", {"invalid_roster", "invalid_fields"}),
    ("put", "/v1/admin/campaigns/{campaign}/roster", "409", {"roster_busy"}),
]


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    """Follows $ref chains inside the document."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def codes_in(spec, node, seen=None):
    """Every string an `error` property may take (const or enum) anywhere under node."""
    seen = set() if seen is None else seen
    out = set()
    if isinstance(node, dict):
        if "$ref" in node:
            if node["$ref"] in seen:
                return out
            seen.add(node["$ref"])
            return codes_in(spec, resolve(spec, node), seen)
        err = node.get("properties", {}).get("error") if isinstance(node.get("properties"), dict) else None
        if isinstance(err, dict):
            err = resolve(spec, err)
            if "const" in err:
                out.add(err["const"])
            out.update(err.get("enum", []))
        for v in node.values():
            out |= codes_in(spec, v, seen)
    elif isinstance(node, list):
        for v in node:
            out |= codes_in(spec, v, seen)
    return out


def test_version(spec):
    assert spec["openapi"].startswith("3.1")


@pytest.mark.parametrize("method,path", ROUTES)
def test_route_described(spec, method, path):
    assert path in spec["paths"], path
    assert method in spec["paths"][path], f"{method.upper()} {path}"


def test_no_route_outside_contract(spec):
    described = {(m, p) for p, item in spec["paths"].items() for m in item
                 if m in ("get", "post", "put", "patch", "delete")}
    assert described == set(ROUTES)


def test_every_ref_resolves(spec):
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(spec, node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)


def test_error_codes(spec):
    assert set(resolve(spec, {"$ref": "#/components/schemas/ErrorCode"})["enum"]) == \
        set(ERROR_CODES) | set(V11_CODES)
    assert set(ERROR_CODES) <= codes_in(spec, spec)


@pytest.mark.parametrize("method,path,status,codes", REFUSALS)
def test_refusal(spec, method, path, status, codes):
    responses = spec["paths"][path][method]["responses"]
    assert status in responses, f"{method.upper()} {path} {status}"
    assert codes <= codes_in(spec, responses[status])


def test_invalid_field_reasons(spec):
    # the contract's six, plus `duplicate`, which only event definitions give
    assert set(resolve(spec, {"$ref": "#/components/schemas/InvalidReason"})["enum"]) == \
        REASONS | {"duplicate"}


def test_admin_needs_bearer_or_session(spec):
    scheme = spec["components"]["securitySchemes"]["adminBearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    cookie = spec["components"]["securitySchemes"]["staffSession"]
    assert cookie == dict(cookie, type="apiKey", **{"in": "cookie"}, name="yoyaku_session")
    for method, path in ROUTES:
        op = spec["paths"][path][method]
        if path == "/v1/admin/login":
            assert op.get("security") == [], path
        elif path.startswith("/v1/admin/"):
            assert op.get("security") == [{"adminBearer": []}, {"staffSession": []}], path
            assert "401" in op["responses"], path
        else:
            assert not op.get("security", spec.get("security")), path


def _header_params(spec, path, method):
    item = spec["paths"][path]
    params = item.get("parameters", []) + item[method].get("parameters", [])
    return {p["name"] for p in (resolve(spec, x) for x in params) if p["in"] == "header"}


def test_headers(spec):
    assert "Idempotency-Key" in _header_params(spec, "/v1/events/{slug}/reservations", "post")
    for path in ("/v1/bookings/{id}", "/v1/bookings/{id}/cancel", "/v1/bookings/{id}/review"):
        method = "get" if path == "/v1/bookings/{id}" else "post"
        assert {"X-Booking-Token", "X-Access-Token"} <= _header_params(spec, path, method), path
    for path in ("/v1/events/{slug}", "/v1/events/{slug}/slots", "/v1/events/{slug}/reservations"):
        method = "post" if path.endswith("reservations") else "get"
        assert "X-Access-Token" in _header_params(spec, path, method), path
    pending = spec["paths"]["/v1/events/{slug}/reservations"]["post"]["responses"]["202"]
    assert "Location" in pending["headers"]
    for name in ("RateLimited", "Unavailable"):
        assert "Retry-After" in spec["components"]["responses"][name]["headers"]


def test_booking_schema(spec):
    booking = resolve(spec, {"$ref": "#/components/schemas/Booking"})
    assert set(booking["required"]) == {"id", "event", "slot_id", "starts_at", "ends_at", "status",
                                        "email", "fields", "created_at"}
    status = resolve(spec, booking["properties"]["status"])
    assert set(status["enum"]) == {"confirmed", "cancelled", "attended", "no_show"}


def test_no_stray_keys(spec):
    """An unquoted ', ' inside a flow mapping silently makes a key of the text after it."""
    def walk(node, parent):
        if isinstance(node, dict):
            for k, v in node.items():
                if parent not in ("content", "paths", "responses"):
                    assert " " not in str(k), f"stray key {k!r} under {parent!r}"
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, parent)
    walk(spec, None)


def _responses(spec):
    """(where, response object resolved) of every response of every operation and component."""
    for name, r in spec["components"]["responses"].items():
        yield "components.responses." + name, r
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                for code, r in op["responses"].items():
                    yield "%s %s %s" % (method.upper(), path, code), resolve(spec, r)


def test_every_response_has_date(spec):
    """Contract §2: every response has Date (RFC 9110)."""
    missing = [where for where, r in _responses(spec) if "Date" not in r.get("headers", {})]
    assert not missing, missing
    assert resolve(spec, {"$ref": "#/components/headers/Date"})["required"] is True


def test_required_headers(spec):
    """405 has Allow; 429 and 503 Retry-After; the 202 Location: each required, so a validator
    (Prism) refuses an answer without it."""
    h = spec["components"]["headers"]
    for name in ("Date", "Allow", "RetryAfter", "Location"):
        assert h[name]["required"] is True, name
    assert "Allow" in spec["components"]["responses"]["MethodNotAllowed"]["headers"]
    pending = spec["paths"]["/v1/events/{slug}/reservations"]["post"]["responses"]["202"]
    assert resolve(spec, pending["headers"]["Location"])["required"] is True


def test_bad_request(spec):
    """400 bad_request (not exactly one Host, conflicting framing) is described beside
    malformed_json, on every route that takes a body."""
    assert {"bad_request", "malformed_json"} <= codes_in(spec, spec["components"]["responses"]["BadRequest"])
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch") and "requestBody" in op:
                assert "bad_request" in codes_in(spec, op["responses"]["400"]), (method, path)


def test_probes_say_json(spec):
    """/healthz and /readyz answer {"status":"ok"} as application/json (what the ingress sends), and
    /readyz's 503 is the usual unavailable error with Retry-After."""
    for path in ("/healthz", "/readyz"):
        ok = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])
        assert list(ok["content"]) == ["application/json"], path
        schema = resolve(spec, ok["content"]["application/json"]["schema"])
        assert schema["properties"]["status"] == {"const": "ok"}, path
    unready = resolve(spec, spec["paths"]["/readyz"]["get"]["responses"]["503"])
    assert "unavailable" in codes_in(spec, unready) and "Retry-After" in unready["headers"]


def test_position_one_is_next(spec):
    """Contract §2: `position` 1 means next in its event's line."""
    pos = resolve(spec, {"$ref": "#/components/schemas/Position"})
    assert pos["minimum"] == 1
    pending = resolve(spec, {"$ref": "#/components/schemas/Pending"})
    assert resolve(spec, pending["properties"]["position"]) is pos


def test_pending_has_estimated_wait(spec):
    """Contract v1.1 §2: the 202 and a pending request status carry estimated_wait_seconds."""
    pending = resolve(spec, {"$ref": "#/components/schemas/Pending"})
    assert {"request_id", "status", "position", "estimated_wait_seconds"} <= set(pending["required"])
    state = resolve(spec, {"$ref": "#/components/schemas/RequestState"})["oneOf"][0]
    assert {"status", "position", "estimated_wait_seconds"} <= set(state["required"])
