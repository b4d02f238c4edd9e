"""A controllable SMTP server for the mail tests: aiosmtpd on a free 127.0.0.1 port, in this process.
It keeps every accepted message (raw bytes and parsed) and can be switched at run time to answer
451 (at RCPT or after DATA), to drop connections, to refuse with 550, or to take its time."""

import asyncio
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller

import ykstack


class Received:
    def __init__(self, data, mail_from, rcpt_tos, session):
        self.raw = data
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.session = session
        self.at = time.time()
        self.msg = email.message_from_bytes(data, policy=email.policy.default)

    @property
    def message_id(self):
        return self.msg["Message-ID"]

    def __repr__(self):
        return "<mail %s to %s>" % (self.message_id, self.rcpt_tos)


class _Handler:
    def __init__(self, server):
        self.s = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.s.lock:
            self.s.sessions += 1
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        mode = self.s.mode
        if mode == "drop":
            with self.s.lock:
                self.s.refused += 1
            server.transport.abort()   # the connection just goes away, no reply
            return "421 4.3.0 gone"    # never reaches the client
        if mode == "tempfail_mail":
            with self.s.lock:
                self.s.refused += 1
            return "451 4.3.0 Try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.s.mode
        if mode == "tempfail":
            with self.s.lock:
                self.s.refused += 1
            return "451 4.3.0 Mailbox temporarily unavailable"
        if mode == "reject":
            with self.s.lock:
                self.s.refused += 1
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.s.delay:
            await asyncio.sleep(self.s.delay)
        if self.s.mode == "tempfail_data":
            with self.s.lock:
                self.s.refused += 1
            return "451 4.3.0 Queue full"
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        r = Received(data, envelope.mail_from, envelope.rcpt_tos, id(session))
        with self.s.lock:
            self.s.messages.append(r)
            self.s.cond.notify_all()
        return "250 OK queued"


class SmtpServer:
    """mode: "ok" (default), "tempfail" (451 to RCPT), "tempfail_mail" (451 to MAIL),
    "tempfail_data" (451 after DATA), "drop" (connection aborted at MAIL), "reject" (550 to RCPT).
    delay: seconds to wait before answering DATA."""

    def __init__(self, port=None):
        self.port = port or ykstack.free_port()
        self.mode = "ok"
        self.delay = 0.0
        self.messages = []
        self.sessions = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     decode_data=False, data_size_limit=10 * 1024 * 1024,
                                     enable_SMTPUTF8=True)

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def received(self, pred=None):
        with self.lock:
            return [m for m in self.messages if pred is None or pred(m)]

    def by_message_id(self, mid):
        return self.received(lambda m: m.message_id == mid)

    def wait_for(self, pred, count=1, timeout=30, what="mail"):
        """Waits until at least count received messages satisfy pred; returns them."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [m for m in self.messages if pred(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out after %d s waiting for %d x %s (have %d)"
                                       % (timeout, count, what, len(found)))
                self.cond.wait(min(left, 0.5))
