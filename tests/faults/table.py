#!/usr/bin/python3
"""Prints the counts of `tests/faults/run --json FILE` runs side by side as Markdown tables (one per
part: chaos, last seat), for docs/GUARANTEES.md.

usage: tests/faults/table.py "column title=FILE" ["column title=FILE" …]"""

import json
import re
import sys


def norm(name, value):
    """An older run's name that held a count: "… (of N probes)" → the value "V of N"."""
    m = re.match(r"(.*): probe answers 503 (.*) \(of (\d+) probes\)$", name)
    if m:
        return "%s: probes answered 503 %s" % (m.group(1), m.group(2)), "%s of %s" % (value, m.group(3))
    return name, value


def main(argv):
    columns = []
    for arg in argv:
        title, _, path = arg.partition("=")
        with open(path) as f:
            columns.append((title, json.load(f)))
    parts = []
    for _, runs in columns:
        for name in runs:
            part = name.split(" (")[0]
            if part not in parts:
                parts.append(part)
    for part in parts:
        cols = [(t, next((v for k, v in runs.items() if k.split(" (")[0] == part), None)) for t, runs in columns]
        cols = [(t, v) for t, v in cols if v is not None]
        names = []
        for i, (t, v) in enumerate(cols):
            cols[i] = (t, v) = (t, {norm(n, x)[0]: norm(n, x)[1] for n, x in v.items()})
            names += [n for n in v if n not in names]
        print("### %s\n" % part)
        print("| count | " + " | ".join(t for t, _ in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for n in names:
            cells = [str(v.get(n, "")).replace("|", "/") for _, v in cols]
            print("| %s | %s |" % (n.replace("|", "/"), " | ".join(cells)))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
