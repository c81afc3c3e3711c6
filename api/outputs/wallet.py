"""Response bodies of wallets, tips, top-ups, cashouts and creator subscriptions (amounts in minor units)."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class WalletOut(Open):
    user_id: str
    currency: str
    balance: int
    pending_cashout: int | None = None


class TransactionOut(Open):
    id: str
    kind: str
    currency: str
    created_at: str
    metadata: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = []


TransactionPage = Page[TransactionOut]


class TopupOut(Open):
    id: str
    user_id: str
    provider: str
    amount: int
    currency: str
    status: str


class CashoutOut(Open):
    id: str
    user_id: str
    provider: str
    amount: int
    currency: str
    status: str


class PaymentStartedOut(Open):
    """A pending top-up or cashout (202), or an admin adjustment's transaction (201)."""

    id: str


class MetricsOut(Open):
    """Earnings by day and source, tips, new and active subscribers."""


class SubscriptionOut(Open):
    id: str
    subscriber_id: str
    creator_id: str
    price: int
    currency: str
    status: str


SubscriptionPage = Page[SubscriptionOut]


class PlanOut(Open):
    """A creator's subscription plan: price per period."""

    price: int
    currency: str
    period_days: int
    active: bool


class CallbackOut(Open):
    """The provider's acknowledgement."""
