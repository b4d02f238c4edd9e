#!/usr/bin/python3
"""SMTP sink for the local stack and the tests: accepts every message on 127.0.0.1 and writes it,
as received (RFC 5322), to DIR/<UTC timestamp>-<n>.eml. Runs until SIGTERM or SIGINT.

usage: smtp_sink.py --port PORT --dir DIR [--host 127.0.0.1]
"""
import argparse
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class EmlWriter:
    """aiosmtpd handler: one file per message; written to a temporary name first so that a reader
    never sees half a message."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "%06d" % (time.time_ns() // 1000 % 1000000)
        name = "%s-%d.eml" % (stamp, n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 OK"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    controller = Controller(EmlWriter(args.dir), hostname=args.host, port=args.port,
                            decode_data=False, data_size_limit=10 * 1024 * 1024)
    controller.start()
    print("smtp sink: listening on %s:%d, writing to %s" % (args.host, args.port, args.dir), flush=True)
    while not stop.wait(1.0):
        pass
    controller.stop()
    print("smtp sink: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
