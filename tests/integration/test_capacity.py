"""tests/bench/capacity.py (docs/SCALING.md): the model's arithmetic on the committed costs, and
its check against a run: a synthetic rush JSON whose measured CPU is made from known costs must be
predicted exactly, and one made 50 % dearer must show as −33 %."""

import json
import subprocess
import sys

from ykstack import ROOT

sys.path.insert(0, str(ROOT / "tests/bench"))
import capacity  # noqa: E402

COSTS = capacity.load_costs(ROOT / "tests/bench/costs.json")


def test_committed_costs_are_complete_and_positive():
    for kind in ("us_per_booking", "us_per_refusal"):
        assert set(COSTS[kind]) == set(capacity.COMPONENTS)
    assert all(v > 0 for v in COSTS["us_per_booking"].values())
    assert COSTS["us_per_refusal"]["ingress"] > 0
    assert COSTS["one_partition_bookings_per_s"] > 1000


def test_plan_grows_with_the_rush_and_caps_bookings_at_seats():
    small = capacity.plan(COSTS, 1_000_000, 60, 100_000, 300)
    burst = capacity.plan(COSTS, 1_000_000, 10, 100_000, 300)
    country = capacity.plan(COSTS, 10_000_000, 10, 1_000_000, 2000)
    assert small["bookings_per_s"] == round(100_000 / 60)
    assert small["ingress_processes"] <= burst["ingress_processes"] < country["ingress_processes"]
    assert small["redis_masters"] <= country["redis_masters"] and country["redis_masters"] >= 2
    # cores are exact: (bookings × per booking + refusals × per refusal) / seconds
    want = (100_000 * COSTS["us_per_booking"]["ingress"]
            + 900_000 * COSTS["us_per_refusal"]["ingress"]) / 1e6 / 10
    assert burst["busy_cores"]["ingress"] == round(want, 2)
    # more seats than requests: every request books
    assert capacity.plan(COSTS, 1000, 1, 5000, 1)["bookings_per_s"] == 1000


def test_plan_warns_when_one_event_outruns_its_writer():
    limit = COSTS["one_partition_bookings_per_s"]
    out = subprocess.run([sys.executable, ROOT / "tests/bench/capacity.py", "plan", "--requests",
                          str(limit * 10), "--seconds", "5", "--seats", str(limit * 10), "--events", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "warning: one event's bookings per second" in out
    out = subprocess.run([sys.executable, ROOT / "tests/bench/capacity.py", "plan", "--requests", "0",
                          "--seats", "1"], capture_output=True, text=True)
    assert out.returncode == 2 and "must be positive" in out.stderr


def synthetic_run(factor):
    """A rush JSON whose S1/S2/S4 CPU is what COSTS predict, times factor."""
    def cpu(bookings, refusals):
        return {("worker-1" if c == "worker" else c): factor * v
                for c, v in capacity.cpu_seconds(COSTS, bookings, refusals).items()}
    return {"scenarios": {"S1": {"seats": 6000, "requests": 100_000}, "S2": {"requests": 100_000}},
            "config": {"s4_requests": 200_000},
            "measurements": [{"name": "S1 opening rush", "cpu_s": cpu(6000, 94_000)},
                             {"name": "S2 sold out", "cpu_s": cpu(0, 100_000)},
                             {"name": "S4 durable, 2 workers, 16 events", "cpu_s": cpu(200_000, 0)},
                             {"name": "nginx wp=1 ykload", "cpu_s": {"nginx": 3.0}}]}


def test_check_predicts_a_run_made_of_the_costs(tmp_path):
    rows = capacity.check(synthetic_run(1.0), COSTS)
    assert {r[0] for r in rows} == {"S1 opening rush", "S2 sold out", "S4 durable, 2 workers, 16 events"}
    assert all(abs(model - measured) <= 0.005 for _, _, model, measured in rows)  # measured: 2 decimals
    f = tmp_path / "run.json"
    f.write_text(json.dumps(synthetic_run(1.5)))
    out = subprocess.run([sys.executable, ROOT / "tests/bench/capacity.py", "check", str(f)],
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("S4") and " ingress " in l)
    assert line.split()[-2:] == ["-33", "%"], line
