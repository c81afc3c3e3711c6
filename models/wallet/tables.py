"""ORM mappings of the wallet tables (schema and constraints: migration 0007)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Identity, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt, utcnow
from models.core.events import new_id


class Account(CreatedAt, Base):
    __tablename__ = "wallet_accounts"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(30))  # "user" or a system account (ledger.SYSTEM)
    user_id: Mapped[UUID | None] = mapped_column(nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # user accounts only


class Transaction(CreatedAt, Base):
    __tablename__ = "wallet_transactions"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    actor_id: Mapped[UUID | None] = mapped_column(nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)


class Entry(Base):
    __tablename__ = "wallet_entries"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    transaction_id: Mapped[UUID] = mapped_column(ForeignKey("wallet_transactions.id"))
    account_id: Mapped[UUID] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)


class Topup(CreatedAt, Base):
    __tablename__ = "wallet_topups"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column()
    provider: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, paid, failed
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    provider_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transaction_id: Mapped[UUID | None] = mapped_column(nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Cashout(CreatedAt, Base):
    __tablename__ = "wallet_cashouts"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column()
    provider: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, done, failed
    hold_transaction_id: Mapped[UUID] = mapped_column(unique=True)
    settle_transaction_id: Mapped[UUID | None] = mapped_column(nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Plan(CreatedAt, Base):
    __tablename__ = "subscription_plans"
    creator_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Subscription(CreatedAt, Base):
    __tablename__ = "subscriptions"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    subscriber_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # active, grace, lapsed, canceled
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    grace_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CreatorEarning(Base):
    __tablename__ = "creator_earnings"
    transaction_id: Mapped[UUID] = mapped_column(primary_key=True)
    creator_id: Mapped[UUID] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    new_subscriber: Mapped[bool] = mapped_column(Boolean)


class CreatorMetricsDaily(Base):
    __tablename__ = "creator_metrics_daily"
    creator_id: Mapped[UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    earnings: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    new_subscribers: Mapped[int] = mapped_column(Integer)
