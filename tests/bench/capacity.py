#!/usr/bin/python3
"""The capacity model of docs/SCALING.md: measured CPU costs in, a deployment out.

  capacity.py costs RUSH.json            costs per booking and per refusal of each component, from a
                                          tests/bench/rush run (JSON on stdout; tests/bench/costs.json
                                          is one, committed)
  capacity.py check RUSH.json [--costs F] predicts the CPU seconds of each measured scenario of that
                                          run (S1 mixes bookings and refusals, so it checks the model
                                          on a load it was not fitted to) and prints model vs measured
  capacity.py plan --requests N --seconds T --seats S --events E [--costs F] [--utilisation U]
                                          processes for a rush: N requests within T seconds for S
                                          seats over E events (every seat sold within the rush)

Costs: per booking from S4 (2 workers, 16 events: every request books), per refusal from S2 (the
sold-out event: refused at the ingress from its cached seat counts); one partition's booking rate
from S4's "2 workers, 1 event" (one event = one partition = one writer); WAL bytes per booking from
S4. The model is linear in bookings and refusals; each component's processes are single-threaded
(one libuv loop per ingress, Redis, one writer per partition) except PostgreSQL, which is given in
cores. --utilisation is the busy fraction planned per core (default 0.6: room for polls of 202s,
mail and admin traffic, and for the rush's first second being denser than its average)."""

import argparse
import json
import math
import sys
from pathlib import Path

COMPONENTS = ("ingress", "redis", "worker", "postgres")
HERE = Path(__file__).resolve().parent


def per_component(cpu):
    """{component: value} from a rush JSON cpu map, the workers (worker-1, worker-2…) summed."""
    out = dict.fromkeys(COMPONENTS, 0.0)
    for k, v in cpu.items():
        key = "worker" if k.startswith("worker") else k
        if key in out:
            out[key] += v
    return {k: round(v, 2) for k, v in out.items()}


def costs_of(run):
    s = run["scenarios"]
    s4, s4one = s["S4"]["2 workers, 16 events"], s["S4"]["2 workers, 1 event"]
    return {
        "source": {"commit": run["source"]["commit"], "started": run["started"],
                   "machine": "%d × %s" % (run["machine"]["cpus"], run["machine"]["cpu"])},
        "us_per_booking": per_component(s4["cpu_us_per_booking"]),
        "us_per_refusal": per_component(s["S2"]["cpu_us_per_request"]),
        "one_partition_bookings_per_s": round(s4one["confirmed_per_s"]),
        "wal_bytes_per_booking": s4.get("wal_bytes_per_booking"),
    }


def load_costs(path):
    return json.loads(Path(path).read_text())


def cpu_seconds(costs, bookings, refusals):
    """Predicted CPU seconds of each component for that many bookings and refusals."""
    return {c: (bookings * costs["us_per_booking"][c] + refusals * costs["us_per_refusal"][c]) / 1e6
            for c in COMPONENTS}


def check(run, costs):
    """[(scenario, component, model s, measured s)] for every measured S1/S2/S4 run."""
    rows = []
    for m in run["measurements"]:
        name = m["name"]
        if name.startswith("S1"):
            booked, total = run["scenarios"]["S1"]["seats"], run["scenarios"]["S1"]["requests"]
        elif name.startswith("S2"):
            booked, total = 0, run["scenarios"]["S2"]["requests"]
        elif name.startswith("S4"):
            booked = total = run["config"]["s4_requests"]
        else:
            continue
        model = cpu_seconds(costs, booked, total - booked)
        measured = per_component(m["cpu_s"])
        for c in COMPONENTS:
            rows.append((name, c, model[c], measured[c]))
    return rows


def plan(costs, requests, seconds, seats, events, utilisation=0.6):
    """The deployment for a rush, as a dict (see docs/SCALING.md for each line's reasoning)."""
    bookings = min(seats, requests)
    cpu = cpu_seconds(costs, bookings, requests - bookings)
    cores = {c: cpu[c] / seconds for c in COMPONENTS}
    per_event = bookings / seconds / max(events, 1)
    one = costs["one_partition_bookings_per_s"]
    workers = max(1, math.ceil(cores["worker"] / utilisation))
    masters = max(1, math.ceil(cores["redis"] / utilisation))
    partitions = max(16, 2 ** math.ceil(math.log2(max(workers, masters * 3, 1) * 2)))
    wal = costs.get("wal_bytes_per_booking") or 0
    return {
        "requests_per_s": round(requests / seconds),
        "bookings_per_s": round(bookings / seconds),
        "busy_cores": {c: round(v, 2) for c, v in cores.items()},
        "ingress_processes": max(1, math.ceil(cores["ingress"] / utilisation)),
        "workers": workers,
        "redis_masters": masters,
        "postgres_cores": max(1, math.ceil(cores["postgres"] / utilisation)),
        "partitions": min(partitions, 1024),
        "wal_mb_per_s": round(bookings / seconds * wal / 1e6, 1),
        "bookings_per_s_per_event": round(per_event),
        "one_event_writer_limit_per_s": one,
        "one_event_writer_share": round(per_event / one, 3) if one else None,
        "total_cores": round(sum(cores.values()) / utilisation, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("costs")
    a.add_argument("run")
    a = sub.add_parser("check")
    a.add_argument("run")
    a.add_argument("--costs", default=HERE / "costs.json")
    a = sub.add_parser("plan")
    a.add_argument("--requests", type=int, required=True)
    a.add_argument("--seconds", type=float, default=60.0)
    a.add_argument("--seats", type=int, required=True)
    a.add_argument("--events", type=int, default=1)
    a.add_argument("--utilisation", type=float, default=0.6)
    a.add_argument("--costs", default=HERE / "costs.json")
    a.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "costs":
        json.dump(costs_of(json.loads(Path(args.run).read_text())), sys.stdout, indent=2)
        print()
    elif args.cmd == "check":
        rows = check(json.loads(Path(args.run).read_text()), load_costs(args.costs))
        print("%-36s %-9s %9s %9s %7s" % ("scenario", "component", "model s", "measured", "error"))
        for name, c, model, measured in rows:
            err = "%+.0f %%" % ((model - measured) / measured * 100) if measured >= 0.05 else "-"
            print("%-36s %-9s %9.2f %9.2f %7s" % (name, c, model, measured, err))
    else:
        if args.requests <= 0 or args.seconds <= 0 or args.seats < 0 or not 0 < args.utilisation <= 1:
            ap.error("--requests and --seconds must be positive, --utilisation in (0, 1]")
        p = plan(load_costs(args.costs), args.requests, args.seconds, args.seats, args.events,
                 args.utilisation)
        if args.json:
            json.dump(p, sys.stdout, indent=2)
            print()
            return
        for k, v in p.items():
            print("%-32s %s" % (k, v))
        if p["one_event_writer_share"] and p["one_event_writer_share"] > args.utilisation:
            print("warning: one event's bookings per second exceed %.0f %% of what one partition's "
                  "writer commits; spread its slots over more events or campaigns"
                  % (args.utilisation * 100))


if __name__ == "__main__":
    main()
