"""Mutes: the muter stops seeing the muted user's content in feeds and notifications; the muted
user notices nothing and may still interact. Synchronous PostgreSQL writes + an outbox event on
`users.relations`. Feeds and notifications filter with `muted_by`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from models.core import outbox
from models.core.base import Base, utcnow
from models.core.errors import DomainError
from models.core.events import Event, new_id
from models.social.lookups import relation_page, require_user

if TYPE_CHECKING:
    from infra.services import Services


class Mute(Base):
    __tablename__ = "mutes"
    muter_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    muted_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    id: Mapped[UUID] = mapped_column(default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


async def mute(svc: Services, *, muter_id: UUID, target_id: UUID) -> None:
    """Idempotent."""
    if muter_id == target_id:
        raise DomainError("you cannot mute yourself", code="cannot_mute_self")
    await require_user(svc, target_id)
    async with outbox.transaction(svc) as s:
        added = (
            await s.execute(
                pg_insert(Mute)
                .values(muter_id=muter_id, muted_id=target_id, id=new_id(), created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(Mute.id)
            )
        ).first()
        if added:
            outbox.stage(
                s, Event("user.muted", {"user_id": str(muter_id), "target_id": str(target_id)}, actor=muter_id)
            )


async def unmute(svc: Services, *, muter_id: UUID, target_id: UUID) -> None:
    """Idempotent."""
    await require_user(svc, target_id)
    async with outbox.transaction(svc) as s:
        removed = (
            await s.execute(
                delete(Mute).where(Mute.muter_id == muter_id, Mute.muted_id == target_id).returning(Mute.id)
            )
        ).first()
        if removed:
            outbox.stage(
                s, Event("user.unmuted", {"user_id": str(muter_id), "target_id": str(target_id)}, actor=muter_id)
            )


async def muted_by(svc: Services, user: UUID) -> set[UUID]:
    """Everyone `user` muted (what their feeds and notifications leave out)."""
    async with svc.sessions() as s:
        return set((await s.execute(select(Mute.muted_id).where(Mute.muter_id == user))).scalars())


async def list_mutes(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 50) -> dict:
    """Users `user_id` muted, newest first: {"items": [{"user", "created_at"}], "next_cursor"}."""
    return await relation_page(svc, Mute, Mute.muter_id, user_id, Mute.muted_id, cursor=cursor, limit=limit)
