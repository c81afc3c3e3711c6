"""Blocks: synchronous PostgreSQL writes (a permission must hold the moment the API answers),
announced on `users.relations` through the outbox.

Other areas call `blocked_either` / `ensure_not_blocked` before letting one user reach another
(follow, react, comment, message, tip, circle membership; `models.content.visibility.can_see` for posts).

Also here: the lookups every social module shares (a user must exist, id -> {id, username},
opaque keyset cursors, a page of relation rows).
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, and_, delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from models.core import cursors, outbox
from models.core.base import Base, utcnow
from models.core.errors import DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.accounts.users import User


class Block(Base):
    __tablename__ = "blocks"
    blocker_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    id: Mapped[UUID] = mapped_column(default=new_id)  # UUIDv7: the list's keyset
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ------------------------------------------------------------------ shared lookups

async def require_user(svc, user_id: UUID) -> None:
    async with svc.sessions() as s:
        found = (await s.execute(select(User.id).where(User.id == user_id))).first()
    if not found:
        raise NotFound("no such user", code="user_not_found")


async def people(svc, ids: list[UUID]) -> dict[UUID, dict]:
    """id -> {"id", "username"} for the ids that are accounts (deleted ones are left out)."""
    if not ids:
        return {}
    async with svc.sessions() as s:
        rows = (await s.execute(select(User.id, User.username).where(User.id.in_(ids)))).all()
    return {r.id: {"id": str(r.id), "username": r.username} for r in rows}


async def relation_page(svc, model, owner_col, owner: UUID, target_col, *, cursor: str | None,
                        limit: int) -> dict:
    """Rows of `model` owned by `owner`, newest first, keyset on the row's UUIDv7 `id` (rows added
    while paging land before the cursor, so later pages neither repeat nor skip)."""
    q = (select(model.id, model.created_at, User.id.label("uid"), User.username)
         .join(User, User.id == target_col).where(owner_col == owner)
         .order_by(model.id.desc()).limit(limit + 1))
    if cursor:
        q = q.where(model.id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [{"user": {"id": str(r.uid), "username": r.username},
                       "created_at": r.created_at.isoformat()} for r in rows],
            "next_cursor": cursors.encode_ids(rows[-1].id) if more else None}


# ------------------------------------------------------------------ the checks other areas call

def _cache_key(a: UUID, b: UUID) -> str:
    lo, hi = sorted((a, b))
    return f"blocked:{lo}:{hi}"


async def blocked_either(svc, a: UUID, b: UUID) -> bool:
    """Has a blocked b, or b blocked a? Cached in Redis per pair.

    Cache protocol: a reader fills a miss with SET NX (never overwriting); block() SETs "1" after
    its commit (overwriting any stale "0" a reader filled meanwhile), unblock() DELetes after its
    commit. So a block holds as soon as block() returns, on every API replica."""
    if a == b:
        return False
    key = _cache_key(a, b)
    cached = await svc.redis.get(key)
    if cached is not None:
        return cached == b"1"
    q = select(Block.id).where(or_(and_(Block.blocker_id == a, Block.blocked_id == b),
                                   and_(Block.blocker_id == b, Block.blocked_id == a))).limit(1)
    async with svc.sessions() as s:
        found = (await s.execute(q)).first() is not None
    await svc.redis.set(key, b"1" if found else b"0", nx=True, ex=svc.settings.block_cache_ttl)
    return found


async def ensure_not_blocked(svc, actor: UUID, other: UUID) -> None:
    """Forbidden (403 `blocked`) if either user blocked the other."""
    if await blocked_either(svc, actor, other):
        raise Forbidden("you cannot interact with this user", code="blocked")


async def blocked_among(svc, pairs: list[tuple[UUID, UUID]]) -> set[frozenset[UUID]]:
    """Which of these pairs have a block either way (one query; for agents applying a batch)."""
    if not pairs:
        return set()
    both = list({p for a, b in pairs for p in ((a, b), (b, a))})
    q = select(Block.blocker_id, Block.blocked_id).where(tuple_(Block.blocker_id, Block.blocked_id).in_(both))
    async with svc.sessions() as s:
        return {frozenset(r) for r in (await s.execute(q)).all()}


# ------------------------------------------------------------------ block / unblock

async def block(svc, *, blocker_id: UUID, target_id: UUID) -> None:
    """Idempotent. Also ends follows both ways (through the follow stream, so the counters stay
    exact) and circle memberships both ways (at once, in this transaction)."""
    from models.social.circles import drop_memberships_between
    if blocker_id == target_id:
        raise DomainError("you cannot block yourself", code="cannot_block_self")
    await require_user(svc, target_id)
    async with svc.sessions() as s, s.begin():
        added = (await s.execute(
            pg_insert(Block).values(blocker_id=blocker_id, blocked_id=target_id, id=new_id(), created_at=utcnow())
            .on_conflict_do_nothing().returning(Block.id))).first()
        if added:
            for follower, followee in ((blocker_id, target_id), (target_id, blocker_id)):
                outbox.stage(s, Event("follow.removed", {"follower_id": str(follower),
                                                         "followee_id": str(followee)}, actor=blocker_id))
            outbox.stage(s, Event("user.blocked", {"user_id": str(blocker_id), "target_id": str(target_id)},
                                  actor=blocker_id))
            await drop_memberships_between(s, blocker_id, target_id)
    svc.relay.kick()
    # Also when it already existed: repairs a cache write lost after an earlier commit.
    await svc.redis.set(_cache_key(blocker_id, target_id), b"1", ex=svc.settings.block_cache_ttl)


async def unblock(svc, *, blocker_id: UUID, target_id: UUID) -> None:
    """Idempotent; follows ended by the block stay ended."""
    await require_user(svc, target_id)
    async with svc.sessions() as s, s.begin():
        removed = (await s.execute(delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == target_id)
                                   .returning(Block.id))).first()
        if removed:
            outbox.stage(s, Event("user.unblocked", {"user_id": str(blocker_id), "target_id": str(target_id)},
                                  actor=blocker_id))
    svc.relay.kick()
    await svc.redis.delete(_cache_key(blocker_id, target_id))  # the other direction may still block


async def list_blocks(svc, user_id: UUID, *, cursor: str | None = None, limit: int = 50) -> dict:
    """Users `user_id` blocked, newest first: {"items": [{"user", "created_at"}], "next_cursor"}."""
    return await relation_page(svc, Block, Block.blocker_id, user_id, Block.blocked_id,
                               cursor=cursor, limit=limit)
