"""Payment providers behind one small interface: Fawry (FawryPay: top-ups by reference number,
payment status, server notifications; cashouts) and Vodafone Cash (cashouts). Each adapter signs
its requests and verifies its callbacks the way the provider specifies (docs/wallet.md says which
parts follow published documentation and which are assumptions).

Money crosses this boundary as integer minor units; the wire format (two-decimal strings) is the
adapter's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from infra.payments.base import (
    CashoutProvider,
    InvalidSignature,
    Notification,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
    same,
    sha256_hex,
    to_minor,
    two_decimals,
)
from infra.payments.fawry import Fawry
from infra.payments.vodafone_cash import VodafoneCash

if TYPE_CHECKING:
    from infra.settings import Settings

__all__ = [
    "ProviderNotConfigured",
    "ProviderUnavailable",
    "ProviderRejected",
    "InvalidSignature",
    "Notification",
    "CashoutProvider",
    "two_decimals",
    "to_minor",
    "sha256_hex",
    "same",
    "cashout_provider",
]


def cashout_provider(settings: Settings, name: str) -> CashoutProvider:
    providers: dict[str, Callable[[Settings], CashoutProvider]] = {"fawry": Fawry, "vodafone_cash": VodafoneCash}
    return providers[name](settings)
