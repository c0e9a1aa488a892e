"""A real SMTP server on loopback (aiosmtpd) and what it received, for tests that send mail."""

from __future__ import annotations

import contextlib
import email
import email.message
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Inbox:
    """What an SMTP server on loopback received."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, n: int, seconds: float = 20) -> list[email.message.Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= n, timeout=seconds)
        return list(self.messages)


@contextlib.contextmanager
def smtp_server(handler: Any, **options: Any) -> Iterator[Controller]:
    """An SMTP server on loopback handing what it receives to ``handler`` (an :class:`Inbox`,
    digest_helpers' ScriptedInbox); ``options`` go to aiosmtpd's Controller
    (``enable_SMTPUTF8=True``). Stopped on leaving."""
    # aiosmtpd's Controller cannot report a port it was given as 0: pick a free one first.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp():
    inbox = Inbox()
    with smtp_server(inbox) as controller:
        yield controller, inbox
