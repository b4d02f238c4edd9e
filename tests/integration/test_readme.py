"""The README's configuration table is the operator's reference: every YOYAKU_* variable a binary
takes (as its --help prints it) must be in the table with the same default, so the two cannot
drift apart."""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("YOYAKU_BUILD_DIR", "build"))
BINARIES = ["ingress/yoyaku-ingress", "worker/yoyaku-worker", "ctl/yoyakuctl",
            "notifier/yoyaku-notifier"]
HELP_LINE = re.compile(r"^\s+(YOYAKU_[A-Z0-9_]+)\s+.*\(default: (.*)\)$")
ROW = re.compile(r"^\| `(YOYAKU_[A-Z0-9_]+)` \| ([^|]*) \|")


def readme_rows():
    rows = {}
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if m:
                rows.setdefault(m.group(1), []).append(m.group(2).strip())
    return rows


@pytest.mark.parametrize("binary", BINARIES)
def test_every_variable_is_in_the_readme(binary):
    path = os.path.join(BUILD, "services", binary)
    out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10, check=True)
    rows = readme_rows()
    seen = 0
    for line in out.stdout.splitlines():
        m = HELP_LINE.match(line)
        if not m:
            continue
        seen += 1
        name, default = m.group(1), m.group(2)
        assert name in rows, "%s (from %s --help) is missing from README.md" % (name, binary)
        if default == "empty" or ROOT in default:
            continue  # computed defaults are described in words (or as <source>/…)
        assert any(("`%s`" % default) in d for d in rows[name]), \
            "%s: README says %s, %s --help says %s" % (name, rows[name], binary, default)
    assert seen >= 3, out.stdout


def test_binaries_answer_version():
    for binary in BINARIES:
        out = subprocess.run([os.path.join(BUILD, "services", binary), "--version"],
                             capture_output=True, text=True, timeout=10, check=True)
        assert re.search(r"\d+\.\d+\.\d+", out.stdout), (binary, out.stdout)
