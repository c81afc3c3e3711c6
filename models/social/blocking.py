"""Blocking and unblocking: synchronous PostgreSQL writes (a permission must hold the moment the
API answers), announced on `users.relations` through the outbox. A block also ends follows and
circle memberships both ways. The checks other areas call are models/social/blocks.py."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.core import outbox
from models.core.base import utcnow
from models.core.errors import DomainError
from models.core.events import Event, new_id
from models.social.blocks import Block, cache_key
from models.social.circles import drop_memberships_between
from models.social.lookups import relation_page, require_user

if TYPE_CHECKING:
    from infra.services import Services


async def block(svc: Services, *, blocker_id: UUID, target_id: UUID) -> None:
    """Idempotent. Also ends follows both ways (through the follow stream, so the counters stay
    exact) and circle memberships both ways (at once, in this transaction)."""
    if blocker_id == target_id:
        raise DomainError("you cannot block yourself", code="cannot_block_self")
    await require_user(svc, target_id)
    async with outbox.transaction(svc) as s:
        added = (
            await s.execute(
                pg_insert(Block)
                .values(blocker_id=blocker_id, blocked_id=target_id, id=new_id(), created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(Block.id)
            )
        ).first()
        if added:
            for follower, followee in ((blocker_id, target_id), (target_id, blocker_id)):
                outbox.stage(
                    s,
                    Event(
                        "follow.removed", {"follower_id": str(follower), "followee_id": str(followee)}, actor=blocker_id
                    ),
                )
            outbox.stage(
                s, Event("user.blocked", {"user_id": str(blocker_id), "target_id": str(target_id)}, actor=blocker_id)
            )
            await drop_memberships_between(s, blocker_id, target_id)
    # Also when it already existed: repairs a cache write lost after an earlier commit.
    await svc.redis.set(cache_key(blocker_id, target_id), b"1", ex=svc.settings.block_cache_ttl)


async def unblock(svc: Services, *, blocker_id: UUID, target_id: UUID) -> None:
    """Idempotent; follows ended by the block stay ended."""
    await require_user(svc, target_id)
    async with outbox.transaction(svc) as s:
        removed = (
            await s.execute(
                delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == target_id).returning(Block.id)
            )
        ).first()
        if removed:
            outbox.stage(
                s, Event("user.unblocked", {"user_id": str(blocker_id), "target_id": str(target_id)}, actor=blocker_id)
            )
    await svc.redis.delete(cache_key(blocker_id, target_id))  # the other direction may still block


async def list_blocks(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 50) -> dict:
    """Users `user_id` blocked, newest first: {"items": [{"user", "created_at"}], "next_cursor"}."""
    return await relation_page(svc, Block, Block.blocker_id, user_id, Block.blocked_id, cursor=cursor, limit=limit)
