"""Development providers: nothing leaves the machine, the code is written to the log (`make run`,
tests without a vendor stub). They refuse in production: a code in a log is a leaked code."""

from __future__ import annotations

import logging
import secrets

from infra.providers.base import FlashCallStarted, ProviderError
from infra.settings import Settings

log = logging.getLogger("daira.dev_phone")

FLASH_CALL_CODE_DIGITS = 4  # the last digits of the calling number the user types


def _refuse_in_production(settings: Settings, what: str) -> None:
    if settings.env == "production":
        raise ProviderError(f"no {what} provider is configured", retryable=False, detail={"provider": "dev"})


class LoggingOtpSender:
    name = "dev"

    def __init__(self, settings: Settings):
        self.settings = settings

    async def send_code(self, phone: str, code: str) -> str:
        _refuse_in_production(self.settings, "WhatsApp")
        message_id = f"dev-{secrets.token_hex(8)}"
        log.warning("DEV WhatsApp OTP for %s: %s (message %s)", phone, code, message_id)
        return message_id


class LoggingFlashCaller:
    """Pretends to call from a random number; the server checks its last digits itself."""

    name = "dev"

    def __init__(self, settings: Settings):
        self.settings = settings

    async def start(self, phone: str) -> FlashCallStarted:
        _refuse_in_production(self.settings, "flash-call")
        cli = "+20155" + "".join(secrets.choice("0123456789") for _ in range(7))
        log.warning("DEV flash call to %s from %s (code: %s)", phone, cli, cli[-FLASH_CALL_CODE_DIGITS:])
        # The filter names the caller's prefix only: the digits that matter must come from the call.
        return FlashCallStarted(
            id=f"dev-{secrets.token_hex(8)}",
            cli_filter=r"^\+20155\d{7}$",
            interception_timeout=60,
            local_code=cli[-FLASH_CALL_CODE_DIGITS:],
        )

    async def report(self, phone: str, cli: str) -> bool | None:
        raise AssertionError("the dev flash caller's codes are checked locally")
