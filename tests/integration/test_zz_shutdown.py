"""Runs last (file order): the shared stack stops cleanly. Every service exits 0 on SIGTERM (PostgreSQL
on SIGINT), nothing is left running, and the service logs hold no sanitizer report that no earlier
test was charged with, nor any leak report (LeakSanitizer reports at exit)."""

import os


def test_stack_stops_cleanly(stack):
    problems = stack.shutdown()
    assert not problems, "\n".join(problems)
    if not os.environ.get("YOYAKU_KEEP_TMP"):
        stack.cleanup()
