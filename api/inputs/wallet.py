"""Wallet request shapes (tips, transactions, metrics, plans), shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from api.inputs import Strict

MAX_AMOUNT = 10**10  # minor units; far above any limit, below bigint


class TipIn(Strict):
    to_user_id: UUID
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True)
    post_id: UUID | None = None
    message: str | None = Field(None, max_length=500)


class TransactionIn(Strict):
    """`topup` (Fawry reference number; credited when Fawry confirms), `cashout` (provider +
    destination mobile number), `adjustment` (admins only; signed amount and a reason)."""

    type: Literal["topup", "cashout", "adjustment"]
    amount: int = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True)
    provider: Literal["fawry", "vodafone_cash"] | None = None
    destination: str | None = Field(None, max_length=20)
    mobile: str | None = Field(None, max_length=20)
    reason: str | None = Field(None, min_length=1, max_length=300)

    @model_validator(mode="after")
    def _per_type(self):
        if self.type != "adjustment" and self.amount <= 0:
            raise ValueError("amount must be positive")
        if self.type == "cashout" and not (self.provider and self.destination):
            raise ValueError("a cashout needs provider and destination")
        if self.type == "adjustment" and not self.reason:
            raise ValueError("an adjustment needs a reason")
        return self


class MetricsIn(Strict):
    days: int = Field(30, ge=1, le=366)


class PlanIn(Strict):
    price: int = Field(gt=0, le=MAX_AMOUNT, strict=True)
    period_days: int = Field(30, ge=1, le=366)
    active: bool = True
