"""Transactional outbox: events staged in the same transaction as the state they describe,
relayed to Kafka only after commit (Zulip's rule: clients hear about a change only once it is
durable). The relay that publishes the rows is infra/outbox_relay.py.

A row is *pending* while `failed_at` is null. A row the broker refused `OUTBOX_MAX_ATTEMPTS`
times is *set aside*: `failed_at` and `last_error` say when and why, the relay skips it, and
`make outbox-retry` (`retry_set_aside`) makes it pending again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt, utcnow
from models.core.events import Event
from models.core.protocols import TransactionServices
from models.core.topics import TOPIC_OF_EVENT, validate_payload


class OutboxRow(CreatedAt, Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    # Times the broker refused this row (not counted while the broker is down).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The relay's scan (pending rows by id) and the age of the oldest pending row.
        Index("ix_outbox_pending", "id", postgresql_where=text("failed_at IS NULL")),
        # Set-aside rows: the gauge's count and `make outbox-retry TOPIC=...`.
        Index("ix_outbox_set_aside", "topic", postgresql_where=text("failed_at IS NOT NULL")),
    )

    @classmethod
    def pending(cls):
        return cls.failed_at.is_(None)


def stage(session: AsyncSession, event: Event) -> None:
    """Add `event` to the caller's open transaction; it leaves only if that transaction commits."""
    topic = TOPIC_OF_EVENT[event.type]
    validate_payload(event.type, event.payload)
    session.add(OutboxRow(topic=topic.name, key=str(event.payload[topic.key]), value=event.to_bytes()))


@asynccontextmanager
async def transaction(svc: TransactionServices) -> AsyncIterator[AsyncSession]:
    """A session in an open transaction, for writes that `stage` events. Leaving the block commits
    and then kicks the relay (publish now, not at its next poll), also when it is left by a
    `return`; an exception (in the block or from the commit) rolls back, propagates and kicks
    nothing."""
    async with svc.sessions() as session, session.begin():
        yield session
    svc.relay.kick()


@dataclass(frozen=True)
class Backlog:
    set_aside: int
    oldest_pending_seconds: float  # 0 when nothing is pending


async def backlog(session: AsyncSession) -> Backlog:
    """What /metrics reports: rows set aside, and how long the oldest pending row has waited.
    Both are index scans (the two partial indexes)."""
    set_aside = await session.scalar(select(func.count()).select_from(OutboxRow).where(~OutboxRow.pending()))
    oldest = await session.scalar(
        select(OutboxRow.created_at).where(OutboxRow.pending()).order_by(OutboxRow.id).limit(1)
    )
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
    return Backlog(set_aside=set_aside or 0, oldest_pending_seconds=age)


async def retry_set_aside(session: AsyncSession, topic: str | None = None) -> int:
    """Make set-aside rows (of `topic`, or all) pending again with a fresh attempt count; the
    relay retries them at its next pass. Returns how many. They publish after rows of the same
    key that were published meanwhile: consumers must take a stale event as a no-op (agents do,
    by event id)."""
    stmt = update(OutboxRow).where(~OutboxRow.pending())
    if topic is not None:
        stmt = stmt.where(OutboxRow.topic == topic)
    result = await session.execute(stmt.values(failed_at=None, attempts=0).returning(OutboxRow.id))
    return len(result.all())
