"""What every payment adapter shares (infra/payments/): errors, the callback type, the
provider interface, amount formats and signature helpers."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx

from infra import http
from models.core.errors import DomainError, Unauthorized, Unavailable


class ProviderNotConfigured(Unavailable):
    code = "provider_not_configured"


class ProviderUnavailable(Unavailable):
    """No answer (timeout, connection, 5xx): the outcome of the request is unknown."""

    code = "provider_unavailable"


class ProviderRejected(DomainError):
    """The provider answered and refused: nothing happened there."""

    status, code = 502, "provider_rejected"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


@dataclass(frozen=True)
class Notification:
    """A verified callback, in provider-neutral terms."""

    reference: str  # our reference (top-up or cashout id, hex)
    provider_ref: str | None  # the provider's transaction / reference number
    outcome: str  # "paid" / "done", "failed", or "pending" (nothing to do)
    amount: int | None  # minor units, as the provider states it
    reason: str | None = None


class CashoutProvider(Protocol):
    name: str

    def ensure_configured(self) -> None: ...

    async def payout(self, *, reference: str, destination: str, amount: int, currency: str) -> str: ...

    async def payout_status(self, reference: str) -> Notification:
        """What became of a payout, asked by the reconcile job (jobs/reconcile_payments.py)."""
        ...

    def verify_notification(self, body: dict) -> Notification: ...


async def call(
    vendor: str, method: str, path: str, *, base_url: str, timeout: float, **request
) -> tuple[httpx.Response, Any]:
    """infra.http.call for a payment provider: no answer, an answer that is not JSON and an HTTP
    5xx are ProviderUnavailable (the outcome is unknown); the caller judges the rest."""
    r, body = await http.call(
        method,
        path,
        base_url=base_url,
        timeout=timeout,
        require_json=True,
        unreachable=lambda reason: ProviderUnavailable(f"{vendor} did not answer: {reason}"),
        **request,
    )
    if r.status_code >= 500:
        raise ProviderUnavailable(f"{vendor} answered HTTP {r.status_code}")
    return r, body


def two_decimals(minor: int) -> str:
    """1234 -> "12.34" (the providers' amount format)."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def to_minor(value) -> int:
    """840.0 / "840.00" -> 84000; anything that is not a whole number of minor units is refused."""
    try:
        minor = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        raise DomainError("the amount is not a number", code="bad_notification") from None
    if minor != minor.to_integral_value():
        raise DomainError("the amount has more than two decimals", code="bad_notification")
    return int(minor)


def sha256_hex(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def same(a: str | None, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a.lower().encode(), b.lower().encode())
