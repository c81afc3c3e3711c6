"""Feedback on a post: "not interested" and "hide", recorded per user in PostgreSQL.

A hidden post never shows again to that user (feeds and trending filter by `hidden_for`); both
kinds feed the recommender through `interactions.feedback` (outbox, after commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from models.content.visibility import get_visible_post
from models.core import outbox
from models.core.base import Base, utcnow
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

Kind = Literal["not_interested", "hide"]
KINDS: tuple[str, ...] = ("not_interested", "hide")


class PostFeedback(Base):
    __tablename__ = "post_feedback"
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


async def give(svc: Services, *, user_id: UUID, post_id: UUID, kind: Kind) -> bool:
    """Record it (idempotent); True if it is new. Only about a post the user can see."""
    await get_visible_post(svc, user_id, post_id)
    async with outbox.transaction(svc) as s:
        inserted = (
            await s.execute(
                pg_insert(PostFeedback)
                .values(user_id=user_id, post_id=post_id, kind=kind, created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(PostFeedback.post_id)
            )
        ).first()
        if inserted:
            outbox.stage(s, Event("feedback.added", _payload(user_id, post_id, kind), actor=user_id))
    return inserted is not None


async def take_back(svc: Services, *, user_id: UUID, post_id: UUID, kind: Kind) -> bool:
    """Remove it (idempotent); True if there was one. Works for a post no longer visible too."""
    async with outbox.transaction(svc) as s:
        removed = (
            await s.execute(
                delete(PostFeedback)
                .where(PostFeedback.user_id == user_id, PostFeedback.post_id == post_id, PostFeedback.kind == kind)
                .returning(PostFeedback.post_id)
            )
        ).first()
        if removed:
            outbox.stage(s, Event("feedback.removed", _payload(user_id, post_id, kind), actor=user_id))
    return removed is not None


def _payload(user_id: UUID, post_id: UUID, kind: str) -> dict:
    return {"post_id": str(post_id), "user_id": str(user_id), "kind": kind}


async def feedback_for(svc: Services, user_id: UUID, kinds: tuple[str, ...] = KINDS) -> set[UUID]:
    async with svc.sessions() as s:
        rows = await s.execute(
            select(PostFeedback.post_id).where(PostFeedback.user_id == user_id, PostFeedback.kind.in_(kinds))
        )
    return set(rows.scalars())


async def hidden_for(svc: Services, user: UUID) -> set[UUID]:
    """The posts `user` hid: never shown to them again."""
    return await feedback_for(svc, user, ("hide",))
