"""Outbound phone-verification channels behind two small interfaces, each with a real provider
speaking the vendor's documented HTTP API and a development provider that only logs:

- `OtpSender`: delivers a one-time code (WhatsApp Cloud API, `whatsapp.py`);
- `FlashCaller`: places a missed call whose calling number carries the code (Sinch
  Verification API, `sinch.py`).

The real provider is used when its credentials are set (WHATSAPP_*, SINCH_*); otherwise the
development one (`dev.py`), which refuses to run in production rather than log codes there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infra.settings import Settings


class ProviderError(Exception):
    """The provider could not be reached (`retryable`) or refused the request. `detail` is safe to
    log and show: the vendor's error code and trace id, never a credential or a code."""

    def __init__(self, message: str, *, retryable: bool, detail: dict | None = None):
        super().__init__(message)
        self.retryable, self.detail = retryable, detail or {}


@dataclass(frozen=True)
class FlashCallStarted:
    id: str                           # the provider's verification id
    cli_filter: str | None            # pattern of the calling number, for the app to spot the call
    interception_timeout: int | None  # seconds the app should wait for the call
    local_code: str | None = None     # set when the code is checked here, not by the provider


class OtpSender(Protocol):
    name: str

    async def send_code(self, phone: str, code: str) -> str:
        """Deliver `code` to `phone` (E.164); the provider's message id. Raises ProviderError."""


class FlashCaller(Protocol):
    name: str

    async def start(self, phone: str) -> FlashCallStarted:
        """Place the flash call. Raises ProviderError."""

    async def report(self, phone: str, cli: str) -> bool | None:
        """Ask the provider whether `cli` is the number that called `phone`: True verified, False
        wrong, None the verification is over (expired, denied, aborted). Raises ProviderError."""


def otp_sender(settings: Settings) -> OtpSender:
    if settings.whatsapp_access_token and settings.whatsapp_phone_number_id:
        from infra.providers.whatsapp import WhatsAppCloud
        return WhatsAppCloud(settings)
    from infra.providers.dev import LoggingOtpSender
    return LoggingOtpSender(settings)


def flash_caller(settings: Settings) -> FlashCaller:
    if settings.sinch_application_key and settings.sinch_application_secret:
        from infra.providers.sinch import SinchFlashCall
        return SinchFlashCall(settings)
    from infra.providers.dev import LoggingFlashCaller
    return LoggingFlashCaller(settings)
