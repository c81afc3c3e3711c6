"""A real SMTP server (aiosmtpd) on a loopback port, collecting what the API sends."""

from __future__ import annotations

import re
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from infra.embedded import free_port


class Mailbox:
    def __init__(self):
        self.messages: list = []
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.controller.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append({"to": envelope.rcpt_tos, "subject": msg["Subject"], "body": msg.get_content()})
        return "250 OK"

    def to(self, address: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if address in m["to"]]

    def last_token(self, address: str) -> str:
        return re.search(r"token=([A-Za-z0-9_.-]+)", self.to(address)[-1]["body"]).group(1)

    def close(self) -> None:
        self.controller.stop()
