"""Transactional outbox: events staged in the same transaction as the state they describe,
relayed to Kafka only after commit (Zulip's rule: clients hear about a change only once it is
durable). Several relays may run (one per API process): SKIP LOCKED shares the rows out.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import BigInteger, LargeBinary, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from infra.background import BackgroundLoop
from models.core.base import Base, CreatedAt
from models.core.errors import Unavailable
from models.core.events import Event
from models.core.topics import TOPIC_OF_EVENT, validate_payload

log = logging.getLogger(__name__)


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


class OutboxRelay(BackgroundLoop):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], producer, batch: int = 500):
        self.sessions, self.producer, self.batch = sessions, producer, batch
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Called after a commit that staged events: relay now rather than at the next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(
                select(OutboxRow).order_by(OutboxRow.id).limit(self.batch)
                .with_for_update(skip_locked=True))).scalars().all()
            if not rows:
                return 0
            # All acked or none deleted: a failure leaves the rows for the next attempt.
            await self.producer.send_many([(r.topic, r.key, r.value) for r in rows])
            await session.execute(delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])))
        return len(rows)

    async def _run(self) -> None:
        while True:
            try:
                while await self.relay_once() == self.batch:
                    pass
            except Unavailable:
                await asyncio.sleep(1)
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1)
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
