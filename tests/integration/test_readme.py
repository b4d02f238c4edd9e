"""The README's configuration table is the operator's reference: every YOYAKU_* variable a binary
takes (as its --help prints it) must be in the table with the same default, so the two cannot
drift apart."""

import os
import re
import subprocess

import pytest

from ykstack import unique

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


def readme_curl_example():
    """The sh block under "Booking in 3 curl calls", as README.md shows it."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Booking in 3 curl calls"):]
    return section[section.index("```sh\n") + 6:section.index("\n```", section.index("```sh"))]


def test_curl_example_books_on_a_fresh_stack(stack):
    """Issue 9: the example booked slot "1" (the demo event's) and dated its slots in the past.
    Run as written, with only the token and address of this stack, it must book its own event.
    As on a stack deploy/local/run started, a demo event's slots exist before the example's."""
    api = stack.client
    demo = unique("demo")
    assert api.post("/v1/admin/events", {"slug": demo, "title": "demo"}, admin=True).status == 201
    r = api.post("/v1/admin/events/%s/slots" % demo,
                 {"slots": [{"starts_at": "2031-01-06T09:00:00+09:00",
                             "ends_at": "2031-01-06T09:30:00+09:00", "capacity": 20}]}, admin=True)
    assert r.status == 201, r
    script = readme_curl_example()
    first = "T=$(cat .dev/admin-token); H=http://127.0.0.1:8080"
    assert script.startswith(first + "\n"), script[:200]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert "http://127.0.0.1:8080/admin/" in f.read(), "the staff console is not mentioned"
    script = "T=%s; H=http://127.0.0.1:%d\n" % (stack.admin_token, stack.http_port) + \
        script[len(first) + 1:]
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert '"slug":"flu-2026"' in out.stdout, out.stdout
    assert '{"created":10}' in out.stdout, out.stdout
    booking = out.stdout[out.stdout.index('{"booking":'):]
    assert '"event":"flu-2026"' in booking and '"status":"confirmed"' in booking, out.stdout
