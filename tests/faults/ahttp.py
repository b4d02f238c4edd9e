"""A small asyncio HTTP/1.1 client for the fault suite: keep-alive connections, one request at a
time each, every call bounded by a timeout, and a failure classified by whether the request can
have reached the server (so a caller knows when a retry without an Idempotency-Key is safe)."""

import asyncio
import json
import time


class Answer:
    """One HTTP answer: status, headers (lower-case names), body bytes, its JSON (or None), and the
    seconds it took."""

    __slots__ = ("status", "headers", "body", "json", "took")

    def __init__(self, status, headers, body, took):
        self.status, self.headers, self.body, self.took = status, headers, body, took
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error(self):
        return self.json.get("error") if isinstance(self.json, dict) else None

    def __repr__(self):
        return "<HTTP %d %s>" % (self.status, self.body[:300].decode("utf-8", "replace"))


class CallFailed(Exception):
    """No answer. kind: 'connect' (nothing was sent: a retry is safe), 'timeout' (no answer within
    the timeout: a hang), 'reset' (sent, then the connection broke: the outcome is unknown)."""

    def __init__(self, kind, detail, took):
        super().__init__("%s: %s" % (kind, detail))
        self.kind, self.detail, self.took = kind, detail, took


class Conn:
    """One keep-alive connection to host:port, opened on first use and after any failure."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def connect(self, timeout=10.0):
        """Opens the connection now (so that a later request only writes)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout)

    async def request(self, method, path, body=None, headers=None, timeout=10.0):
        """The Answer, or CallFailed. body: bytes, str or a JSON-able object."""
        t0 = time.monotonic()
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body, ensure_ascii=False)
        if isinstance(body, str):
            body = body.encode("utf-8")
        head = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port),
                "Accept: application/json"]
        if body is not None:
            head += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
        for k, v in (headers or {}).items():
            head.append("%s: %s" % (k, v))
        data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + (body or b"")
        if self.reader is not None and self.reader.at_eof():
            self.close()   # the server closed it while idle (a killed ingress): nothing sent yet
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), timeout)
            except asyncio.TimeoutError:
                self.close()
                raise CallFailed("timeout", "connect", time.monotonic() - t0)
            except OSError as e:
                self.close()
                raise CallFailed("connect", repr(e), time.monotonic() - t0)
        try:
            self.writer.write(data)
            left = timeout - (time.monotonic() - t0)
            answer = await asyncio.wait_for(self._read(method), max(left, 0.001))
        except asyncio.TimeoutError:
            self.close()
            raise CallFailed("timeout", "%s %s" % (method, path), time.monotonic() - t0)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            self.close()
            raise CallFailed("reset", repr(e), time.monotonic() - t0)
        status, hdrs, payload = answer
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, hdrs, payload, time.monotonic() - t0)

    async def _read(self, method):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304):
            return status, hdrs, b""
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, hdrs, body
        n = int(hdrs.get("content-length", "0"))
        return status, hdrs, await self.reader.readexactly(n)


class Pool:
    """n connections handed out one caller at a time (a caller holds one for a whole call)."""

    def __init__(self, host, port, n):
        self.conns = asyncio.Queue()
        for _ in range(n):
            self.conns.put_nowait(Conn(host, port))
        self.all = list(self.conns._queue)

    async def request(self, *a, **kw):
        c = await self.conns.get()
        try:
            return await c.request(*a, **kw)
        finally:
            self.conns.put_nowait(c)

    def close(self):
        for c in self.all:
            c.close()
