"""Publishes the transactional outbox (models/core/outbox.py) to Kafka after commit. Several
relays may run (one per API process and worker): SKIP LOCKED shares the rows out."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra.background import BackgroundLoop
from infra.kafka import RecordRefused
from models.core.base import utcnow
from models.core.errors import Unavailable
from models.core.outbox import OutboxRow

log = logging.getLogger(__name__)


class OutboxRelay(BackgroundLoop):
    """One pass (`relay_once`) takes up to `batch` pending rows (oldest first, SKIP LOCKED) and
    sends them in one `send_many`; all acked → all deleted.

    When the broker refuses some record (`RecordRefused`: too large, invalid topic, ...), the
    pass bisects: each half is sent in id order, an acked half is deleted, a refused half is
    split again, down to the single rows that are refused. Such a row gets `attempts + 1` and
    `last_error`; at `max_attempts` it is set aside (`failed_at`, logged once at ERROR with its
    topic, key and error, never its value) and no longer blocks anything.

    Per-key order: once a row is refused in a pass, the later rows of that pass with the same
    topic and key are held back (left pending, no attempt counted) until the pass ends, so a
    row is never published after a later row of its key while it is still pending. Once it is
    set aside, the later rows of its key publish at the next pass (a set-aside row does not
    block them; `make outbox-retry` republishes it after them).

    When the broker is down (`Unavailable`: not connected, no ack within the timeout,
    connection or leadership errors) nothing is counted: what was acked in the pass is deleted,
    the rest stays as it is, and the loop backs off 1 s and retries, as before. Rows acked just
    before a refusal of their batch may be sent again by the bisection (at-least-once, as
    ever)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], producer, batch: int = 500, max_attempts: int = 5):
        self.sessions, self.producer, self.batch, self.max_attempts = sessions, producer, batch, max_attempts
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Called after a commit that staged events: relay now rather than at the next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        """One pass; returns how many rows it took off the pending queue (published or set aside).
        Raises Unavailable (after committing what it did) when the broker is down."""
        async with self.sessions() as session, session.begin():
            rows = (
                (
                    await session.execute(
                        select(OutboxRow)
                        .where(OutboxRow.pending())
                        .order_by(OutboxRow.id)
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return 0
            acked: list[OutboxRow] = []
            refused: list[tuple[OutboxRow, str]] = []
            held: set[tuple[str, str]] = set()
            down: Unavailable | None = None
            try:
                await self._settle(list(rows), acked, refused, held)
            except Unavailable as exc:  # keep what this pass settled, then report the outage
                down = exc
            done = await self._record(session, acked, refused)
        if down is not None:
            raise down
        return done

    async def _settle(
        self,
        rows: list[OutboxRow],
        acked: list[OutboxRow],
        refused: list[tuple[OutboxRow, str]],
        held: set[tuple[str, str]],
    ) -> None:
        rows = [r for r in rows if (r.topic, r.key) not in held]
        if not rows:
            return
        try:
            await self.producer.send_many([(r.topic, r.key, r.value) for r in rows])
        except RecordRefused as exc:
            if len(rows) == 1:
                refused.append((rows[0], str(exc)))
                held.add((rows[0].topic, rows[0].key))
                return
            mid = len(rows) // 2
            await self._settle(rows[:mid], acked, refused, held)
            await self._settle(rows[mid:], acked, refused, held)
            return
        acked.extend(rows)

    async def _record(self, session: AsyncSession, acked: list[OutboxRow], refused: list[tuple[OutboxRow, str]]) -> int:
        if acked:
            await session.execute(delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in acked])))
        set_aside = 0
        for row, error in refused:
            row.attempts += 1
            row.last_error = error[:2000]
            about = {"outbox_id": row.id, "topic": row.topic, "key": row.key, "attempts": row.attempts, "error": error}
            if row.attempts >= self.max_attempts:
                row.failed_at = utcnow()
                set_aside += 1
                log.error("outbox row set aside: the broker refused it", extra=about)
            else:
                log.warning("outbox row refused by the broker", extra=about)
        return len(acked) + set_aside

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
