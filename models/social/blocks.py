"""Blocks: the table and the checks other areas call (`blocked_either` / `ensure_not_blocked`)
before letting one user reach another (follow, react, comment, message, tip, circle membership;
`models.content.visibility.can_see` for posts). Blocking and unblocking: models/social/blocking.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, and_, or_, select, tuple_
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, utcnow
from models.core.errors import Forbidden
from models.core.events import new_id

if TYPE_CHECKING:
    from infra.services import Services


class Block(Base):
    __tablename__ = "blocks"
    blocker_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    id: Mapped[UUID] = mapped_column(default=new_id)  # UUIDv7: the list's keyset
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ------------------------------------------------------------------ the checks other areas call


def cache_key(a: UUID, b: UUID) -> str:
    lo, hi = sorted((a, b))
    return f"blocked:{lo}:{hi}"


async def blocked_either(svc: Services, a: UUID, b: UUID) -> bool:
    """Has a blocked b, or b blocked a? Cached in Redis per pair.

    Cache protocol: a reader fills a miss with SET NX (never overwriting); block() SETs "1" after
    its commit (overwriting any stale "0" a reader filled meanwhile), unblock() DELetes after its
    commit. So a block holds as soon as block() returns, on every API replica."""
    if a == b:
        return False
    key = cache_key(a, b)
    cached = await svc.redis.get(key)
    if cached is not None:
        return cached == b"1"
    q = (
        select(Block.id)
        .where(
            or_(and_(Block.blocker_id == a, Block.blocked_id == b), and_(Block.blocker_id == b, Block.blocked_id == a))
        )
        .limit(1)
    )
    async with svc.sessions() as s:
        found = (await s.execute(q)).first() is not None
    await svc.redis.set(key, b"1" if found else b"0", nx=True, ex=svc.settings.block_cache_ttl)
    return found


async def blocked_with(svc: Services, user_ids: list[UUID], other: UUID) -> set[UUID]:
    """Which of `user_ids` have a block either way with `other`: blocked_either for many users at
    once (one push fanned out to many sockets), one MGET of the same cache and one query for the
    misses, which it fills the same way (SET NX)."""
    ids = [u for u in dict.fromkeys(user_ids) if u != other]
    if not ids:
        return set()
    cached = await svc.redis.mget([cache_key(u, other) for u in ids])
    out = {u for u, c in zip(ids, cached) if c == b"1"}
    misses = [u for u, c in zip(ids, cached) if c is None]
    if misses:
        found = await blocked_among(svc, [(u, other) for u in misses])
        async with svc.redis.pipeline(transaction=False) as p:
            for u in misses:
                hit = frozenset((u, other)) in found
                if hit:
                    out.add(u)
                p.set(cache_key(u, other), b"1" if hit else b"0", nx=True, ex=svc.settings.block_cache_ttl)
            await p.execute()
    return out


async def ensure_not_blocked(svc: Services, actor: UUID, other: UUID) -> None:
    """Forbidden (403 `blocked`) if either user blocked the other."""
    if await blocked_either(svc, actor, other):
        raise Forbidden("you cannot interact with this user", code="blocked")


async def blocked_among(svc: Services, pairs: list[tuple[UUID, UUID]]) -> set[frozenset[UUID]]:
    """Which of these pairs have a block either way (one query; for agents applying a batch)."""
    if not pairs:
        return set()
    both = list({p for a, b in pairs for p in ((a, b), (b, a))})
    q = select(Block.blocker_id, Block.blocked_id).where(tuple_(Block.blocker_id, Block.blocked_id).in_(both))
    async with svc.sessions() as s:
        return {frozenset(r) for r in (await s.execute(q)).all()}
