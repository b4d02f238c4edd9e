#!/usr/bin/python3
"""Prints the counts of `tests/faults/run --json FILE` runs side by side as Markdown tables (one per
part: chaos, last seat), for docs/GUARANTEES.md.

usage: tests/faults/table.py "column title=FILE" ["column title=FILE" …]"""

import json
import sys


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
        for _, v in cols:
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
