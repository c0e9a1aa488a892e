"""A real SMTP server on loopback (aiosmtpd) and what it received, for tests that send mail."""

from __future__ import annotations

import email
import email.message
import threading

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


@pytest.fixture
def smtp():
    inbox = Inbox()
    # aiosmtpd's Controller cannot report a port it was given as 0: pick a free one first.
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()
