"""A real SMTP server (aiosmtpd) in this process, on a free local port, for the delivery tests.

``SmtpSink.refuse`` makes it refuse recipients: ``"451"`` (try again later) or ``"550"``
(never); ``delay`` slows every message down so that concurrent runs overlap; ``wait`` holds
each message without blocking the server (other connections go on), and ``peak`` is the most
messages it was holding at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    refuse: str | None = None
    delay: float = 0.0
    wait: float = 0.0
    holding: int = 0
    peak: int = 0
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse == "451":
            return "451 4.3.0 Try again later"
        if self.refuse == "550":
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)  # blocks the server loop: runs really do overlap
        if self.wait:
            self.holding += 1
            self.peak = max(self.peak, self.holding)
            await asyncio.sleep(self.wait)
            self.holding -= 1
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def bodies(self) -> list[str]:
        out = []
        for message in self.messages:
            payload = message.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append(payload.decode())
        return out


class RunningSink:
    """Start an :class:`SmtpSink` on a free port; ``stop()`` ends it."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.sink.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.sink.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def smtp_settings(port: int) -> dict[str, object]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_from": "clinic@north.example",
    }
