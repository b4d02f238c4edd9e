-- wrk script for tests/bench/rush: every request books a fresh identity (e-mail made of the run id,
-- the wrk thread id and a per-thread counter) in one of the event's slots, round robin.
-- Environment: RUSH_SLUG, RUSH_SLOTS (comma-separated slot ids), RUSH_RUN (unique run id).

local slug = os.getenv("RUSH_SLUG")
local run = os.getenv("RUSH_RUN") or tostring(os.time())
local slots = {}
for id in string.gmatch(os.getenv("RUSH_SLOTS") or "", "[^,]+") do
    slots[#slots + 1] = id
end
local path = "/v1/events/" .. (slug or "") .. "/reservations"
local headers = { ["Content-Type"] = "application/json" }

local threads = {}
local next_tid = 0

function setup(thread)
    next_tid = next_tid + 1
    thread:set("tid", next_tid)
    table.insert(threads, thread)
end

function init(args)
    if not slug or #slots == 0 then
        error("RUSH_SLUG and RUSH_SLOTS must be set")
    end
    counter = 0
    confirmed = 0
    refused = 0
    pending = 0
    other = 0
end

function request()
    counter = counter + 1
    local slot = slots[(counter + tid) % #slots + 1]
    local body = string.format(
        '{"slot_id":"%s","email":"r%s-t%d-%d@bench.example","fields":{"name":"bench %d-%d"}}',
        slot, run, tid, counter, tid, counter)
    return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
    if status == 201 then
        confirmed = confirmed + 1
    elseif status == 409 then
        refused = refused + 1
    elseif status == 202 then
        pending = pending + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local c, r, p, o = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        c = c + t:get("confirmed")
        r = r + t:get("refused")
        p = p + t:get("pending")
        o = o + t:get("other")
    end
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write("---- rush ----\n")
    io.write(string.format("answered: %d requests in %.1f s: %.0f requests/s\n",
        summary.requests, secs, summary.requests / secs))
    io.write(string.format("confirmed (201): %d\n", c))
    io.write(string.format("refused (409): %d, pending (202): %d, other status: %d\n", r, p, o))
    io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
        e.connect, e.read, e.write, e.timeout))
    io.write(string.format("latency p50: %.2f ms, p99: %.2f ms, max: %.2f ms\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
