"""Transactional outbox: events staged in the same transaction as the state they describe,
relayed to Kafka only after commit (Zulip's rule: clients hear about a change only once it is
durable). The relay that publishes the rows is infra/outbox_relay.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt
from models.core.events import Event
from models.core.protocols import TransactionServices
from models.core.topics import TOPIC_OF_EVENT, validate_payload


class OutboxRow(CreatedAt, Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary)


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
