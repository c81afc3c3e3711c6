"""Publishes the transactional outbox (models/core/outbox.py) to Kafka after commit. Several
relays may run (one per API process and worker): SKIP LOCKED shares the rows out."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.background import BackgroundLoop
from models.core.errors import Unavailable
from models.core.outbox import OutboxRow

log = logging.getLogger(__name__)


class OutboxRelay(BackgroundLoop):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], producer, batch: int = 500):
        self.sessions, self.producer, self.batch = sessions, producer, batch
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Called after a commit that staged events: relay now rather than at the next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        async with self.sessions() as session, session.begin():
            rows = (
                (
                    await session.execute(
                        select(OutboxRow).order_by(OutboxRow.id).limit(self.batch).with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
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
            except TimeoutError:
                pass
            self._wake.clear()
