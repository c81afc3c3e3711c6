"""Bookmarks: a user's private list of posts to come back to, newest first (docs/interactions.md).

Adding needs a post you may see (404 otherwise, as if it did not exist); both writes are idempotent.
The list skips posts you can no longer see (a block, a visibility edit, a rejected video) without
forgetting them: they come back if they become visible again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from models.content import posts, visibility
from models.core import cursors
from models.core.base import Base, utcnow

if TYPE_CHECKING:
    from infra.services import Services

_BATCH_MIN = 10


class Bookmark(Base):
    __tablename__ = "bookmarks"
    __table_args__ = (Index("ix_bookmarks_user_created", "user_id", "created_at", "post_id"),)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


async def add(svc: Services, user_id: UUID, post_id: UUID) -> None:
    await visibility.ensure_visible(svc, user_id, await posts.ensure_exists(svc, post_id))
    async with svc.sessions() as s, s.begin():
        await s.execute(
            insert(Bookmark).values(user_id=user_id, post_id=post_id, created_at=utcnow()).on_conflict_do_nothing()
        )


async def remove(svc: Services, user_id: UUID, post_id: UUID) -> None:
    """Only ever touches the caller's own rows, so it needs no visibility check."""
    async with svc.sessions() as s, s.begin():
        await s.execute(delete(Bookmark).where(Bookmark.user_id == user_id, Bookmark.post_id == post_id))


async def list_bookmarks(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """{"items": [post], "next_cursor"}: your bookmarked posts you may see, most recently
    bookmarked first (posts as models/content/posts.public; the faces render them)."""
    after = cursors.decode_keyset(cursor) if cursor else None
    items: list[dict] = []
    last: tuple[datetime, UUID] | None = after
    while len(items) < limit:
        batch = max(2 * (limit - len(items)), _BATCH_MIN)
        q = (
            select(Bookmark.created_at, posts.Post)
            .join(posts.Post, posts.Post.id == Bookmark.post_id)
            .where(Bookmark.user_id == user_id)
            .order_by(Bookmark.created_at.desc(), Bookmark.post_id.desc())
            .limit(batch)
        )
        if last is not None:
            q = q.where(tuple_(Bookmark.created_at, Bookmark.post_id) < tuple_(last[0], last[1]))
        async with svc.sessions() as s:
            rows = (await s.execute(q)).all()
        seen = await visibility.visible_among(svc, user_id, [r.Post for r in rows])
        for row, ok in zip(rows, seen):
            last = (row.created_at, row.Post.id)
            if ok:
                items.append(posts.public(row.Post))
                if len(items) == limit:
                    return {"items": items, "next_cursor": cursors.encode_keyset(*last)}
        if len(rows) < batch:
            return {"items": items, "next_cursor": None}
    return {"items": items, "next_cursor": cursors.encode_keyset(*last) if last else None}
