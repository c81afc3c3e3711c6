"""The interfaces and the error every phone-verification provider shares (infra/providers/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from infra import http


class ProviderError(Exception):
    """The provider could not be reached (`retryable`) or refused the request. `detail` is safe to
    log and show: the vendor's error code and trace id, never a credential or a code."""

    def __init__(self, message: str, *, retryable: bool, detail: dict | None = None):
        super().__init__(message)
        self.retryable, self.detail = retryable, detail or {}


async def call(
    vendor: str, provider: str, method: str, url: str, *, timeout: float, **request
) -> tuple[httpx.Response, Any]:
    """infra.http.call for a provider: no answer is a retryable ProviderError "<vendor> unreachable:
    <error class>"; a body that is not JSON reads as None."""
    return await http.call(
        method,
        url,
        timeout=timeout,
        unreachable=lambda reason: ProviderError(
            f"{vendor} unreachable: {reason}", retryable=True, detail={"provider": provider}
        ),
        **request,
    )


@dataclass(frozen=True)
class FlashCallStarted:
    id: str  # the provider's verification id
    cli_filter: str | None  # pattern of the calling number, for the app to spot the call
    interception_timeout: int | None  # seconds the app should wait for the call
    local_code: str | None = None  # set when the code is checked here, not by the provider


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
