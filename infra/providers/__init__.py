"""Outbound phone-verification channels behind two small interfaces, each with a real provider
speaking the vendor's documented HTTP API and a development provider that only logs:

- `OtpSender`: delivers a one-time code (WhatsApp Cloud API, `whatsapp.py`);
- `FlashCaller`: places a missed call whose calling number carries the code (Sinch
  Verification API, `sinch.py`).

The real provider is used when its credentials are set (WHATSAPP_*, SINCH_*); otherwise the
development one (`dev.py`), which refuses to run in production rather than log codes there.
"""

from __future__ import annotations

from infra.providers.base import FlashCaller, FlashCallStarted, OtpSender, ProviderError
from infra.providers.dev import LoggingFlashCaller, LoggingOtpSender
from infra.providers.sinch import SinchFlashCall
from infra.providers.whatsapp import WhatsAppCloud
from infra.settings import Settings

__all__ = ["FlashCallStarted", "FlashCaller", "OtpSender", "ProviderError", "flash_caller", "otp_sender"]


def otp_sender(settings: Settings) -> OtpSender:
    if settings.whatsapp_access_token and settings.whatsapp_phone_number_id:
        return WhatsAppCloud(settings)
    return LoggingOtpSender(settings)


def flash_caller(settings: Settings) -> FlashCaller:
    if settings.sinch_application_key and settings.sinch_application_secret:
        return SinchFlashCall(settings)
    return LoggingFlashCaller(settings)
