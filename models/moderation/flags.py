"""Automatic flags: content the checks accepted but want a human to look at (verdict review).

`flag` is the single entry point: the write paths call it (through models/core/screening for
the domains below moderation) inside the transaction that stores the content, so a flag exists
exactly when its content does. The moderators' queue reads `content_flags`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt, utcnow
from models.core.events import new_id
from models.moderation import queue

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from infra.services import Services

TARGET_TYPES = ("post", "comment", "message", "profile")


class ContentFlag(CreatedAt, Base):
    __tablename__ = "content_flags"
    __table_args__ = (Index("ix_content_flags_target", "target_type", "target_id"),)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[UUID] = mapped_column()
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # the write path: caption, comment, message, profile
    labels: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


async def flag(
    s: AsyncSession,
    svc: Services,
    *,
    target_type: str,
    target_id: UUID,
    author_id: UUID,
    source: str,
    labels: list[dict],
) -> None:
    """Records an automatic flag in the caller's transaction, and raises (or adds to) the
    target's case in the moderators' queue (models/moderation/queue.py): profile text is a case
    about the user."""
    s.add(
        ContentFlag(
            id=new_id(),
            target_type=target_type,
            target_id=target_id,
            author_id=author_id,
            source=source,
            labels=labels,
            created_at=utcnow(),
        )
    )
    await queue.raise_case(
        s,
        svc,
        target_type="user" if target_type == "profile" else target_type,
        target_id=target_id,
        author_id=author_id,
        source="flag",
        labels=[str(x["label"]) for x in labels if "label" in x],
    )


async def flags_of(svc: Services, target_type: str, target_id: UUID) -> list[dict]:
    """The flags of one piece of content, oldest first."""
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(ContentFlag)
                .where(ContentFlag.target_type == target_type, ContentFlag.target_id == target_id)
                .order_by(ContentFlag.id)
            )
        ).scalars()
        return [
            {
                "id": str(f.id),
                "target_type": f.target_type,
                "target_id": str(f.target_id),
                "author_id": str(f.author_id),
                "source": f.source,
                "labels": f.labels,
                "created_at": f.created_at.isoformat(),
            }
            for f in rows
        ]
