"""Outgoing mail: SMTP through aiosmtplib when SMTP_URL is set; otherwise, outside production, the
mail is written to the log (like the development OTP codes), and in production it is refused.

SMTP_URL: `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it, port 587 by
default) or `smtps://…` (TLS from the first byte, port 465). One connection per mail: recovery
mail volume does not need a pool.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from infra.settings import Settings

log = logging.getLogger("daira.mail")


class MailError(Exception):
    """The mail was not accepted for delivery (no SMTP configured in production, or the server
    refused or could not be reached)."""


async def send(settings: Settings, to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, to, subject
    msg.set_content(body)
    if not settings.smtp_url:
        if settings.env == "production":
            raise MailError("no SMTP_URL is configured")
        log.info("DEV mail to %s: %s\n%s", to, subject, body)
        return
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise MailError(f"SMTP_URL must be smtp:// or smtps://, not {url.scheme}://")
    tls = url.scheme == "smtps"
    try:
        await aiosmtplib.send(
            msg,
            hostname=url.hostname,
            port=url.port or (465 if tls else 587),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=tls,
            start_tls=None if not tls else False,
            timeout=settings.smtp_timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc
