"""Starts a throwaway yoyaku stack for the browser tests (tests/integration/ykstack.py: Redis,
PostgreSQL, SMTP sink, ingress, worker, notifier if built) with the ingress serving web/, plus a
second ingress with YOYAKU_WAIT_MS=0 (every reservation answers 202, so the queue view can be
tested); runs `node test.mjs` against it, stops everything, and prints `N passed, N failed` as the
last line (exit status 1 on any failure).

Environment: YOYAKU_BUILD_DIR (default build), YOYAKU_BROWSER_TIMEOUT (seconds for the whole node
run, default 300), YOYAKU_BROWSER_ARGS (extra arguments for test.mjs, e.g. a test name filter)."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import ykstack  # noqa: E402
from ykstack import Client, Stack, free_port, wait_until  # noqa: E402

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed")


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def start_queue_ingress(stack):
    """A second ingress on the same Redis/PostgreSQL that never waits for a decision."""
    port = free_port()
    env = dict(stack.env)
    env.update({"YOYAKU_LISTEN": "127.0.0.1:%d" % port, "YOYAKU_INGRESS_ID": "ingress-queue",
                "YOYAKU_PG": stack.pg_conninfo + " application_name=ingress-queue",
                "YOYAKU_WAIT_MS": "0"})
    stack._spawn("ingress-queue", [ykstack.binary("yoyaku-ingress")], env)
    client = Client("127.0.0.1", port)

    def ready():
        try:
            return client.get("/readyz").status == 200
        except OSError:
            return False
    try:
        wait_until(ready, 30, 0.1, what="second ingress /readyz")
    finally:
        client.close()
    return port


STAFF = (("owner", "console-owner", "コンソール 管理者"), ("staff", "console-staff", "コンソール 職員"),
         ("desk", "console-desk", "コンソール 受付"))


def add_staff(stack):
    """One staff account per role (yoyakuctl staff add, the password on stdin) →
    {role: {"login", "password"}}; {} when this yoyakuctl has no staff accounts yet."""
    out = {}
    for role, login, name in STAFF:
        password = "pw-" + os.urandom(12).hex()
        r = subprocess.run([str(ykstack.binary("yoyakuctl")), "staff", "add", "--login", login, "--name", name,
                            "--role", role], input=password + "\n", env=stack.env, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            print("browser: no staff accounts (yoyakuctl staff add: %s)"
                  % (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1], flush=True)
            return {}
        out[role] = {"login": login, "password": password, "name": name}
    return out


def main():
    """Returns (passed, failed); a stack that does not start or stop cleanly counts as a failure."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack = Stack(n_workers=1, extra_env={"YOYAKU_WEB_DIR": str(ROOT / "web")})
    passed, failed = run(stack)
    problems = stack.shutdown() if stack.procs else []
    for p in problems:
        print("browser: stack: %s" % p)
    if problems:
        failed += 1
        print("browser: stack files kept in %s" % stack.dir)
    elif not os.environ.get("YOYAKU_KEEP_TMP"):
        stack.cleanup()
    return passed, failed


def run(stack):
    passed = failed = 0
    t0 = time.monotonic()
    try:
        try:
            stack.start()
            queue_port = start_queue_ingress(stack)
            staff = add_staff(stack)
        except Exception as e:  # noqa: BLE001 - report any start failure as one failed test
            sys.stdout.write("browser: could not start the stack: %s\n" % e)
            for p in stack.procs:
                sys.stdout.write("== %s ==\n%s\n" % (p.name, p.log_text()[-2000:]))
            return 0, 1
        print("browser: stack up in %.1f s (ingress :%d, queue ingress :%d, logs %s)"
              % (time.monotonic() - t0, stack.http_port, queue_port, stack.logs), flush=True)
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        cfg = {"base": "http://127.0.0.1:%d" % stack.http_port,
               "queueBase": "http://127.0.0.1:%d" % queue_port,
               "adminToken": stack.admin_token, "outDir": str(out),
               "mailDir": str(stack.mail), "notifier": stack.notifier is not None,
               "pg": stack.pg_conninfo, "workerPids": [w.pid for w in stack.workers]}
        fd, cfg_path = tempfile.mkstemp(prefix="yoyaku-browser-", suffix=".json")
        cfg["staff"] = staff  # {role: {login, password, name}} for the console tests
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
        env["YK_BROWSER_CONFIG"] = cfg_path
        argv = ["node", str(HERE / "test.mjs")] + shlex.split(os.environ.get("YOYAKU_BROWSER_ARGS", ""))
        last = ""
        proc = subprocess.Popen(argv, cwd=HERE, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + float(os.environ.get("YOYAKU_BROWSER_TIMEOUT", "300"))
        try:
            import selectors
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                if time.monotonic() > deadline:
                    print("browser: node ran longer than YOYAKU_BROWSER_TIMEOUT; killed", flush=True)
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                if not sel.select(timeout=1):
                    if proc.poll() is not None:
                        break
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                sys.stdout.write(line)
                sys.stdout.flush()
                if line.strip():
                    last = line.strip()
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            rc = proc.wait(30)
            os.unlink(cfg_path)
        m = SUMMARY.match(last)
        if m:
            passed, failed = int(m.group(1)), int(m.group(2))
        if rc != 0 and failed == 0:
            print("browser: node exited with status %s" % rc)
            failed += 1
        return passed, failed
    except Interrupted as e:
        print("browser: interrupted (%s)" % e)
        return passed, failed + 1


if __name__ == "__main__":
    p, f = main()
    print("%d passed, %d failed" % (p, f))
    sys.exit(1 if f else 0)
