"""Posts (text for now; video and stories come with their issues). Visibility: "public",
"followers" (the author's followers), "circle" (members of one of the author's circles, `circle_id`);
who may see what is decided in models/content/visibility.py."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, Text, Uuid, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt
from models.core.errors import NotFound
from models.core.events import new_id

if TYPE_CHECKING:
    from infra.services import Services

VISIBILITIES = ("public", "followers", "circle", "subscribers")
# A post a moderator removed (models/moderation/decisions.py): nobody sees it, its author included;
# the visibility it had is kept by the decision, which an overturned appeal puts back.
REMOVED = "removed"
KINDS = ("post", "story")  # a story expires STORY_TTL (24 h) after it is made


class Post(CreatedAt, Base):
    __tablename__ = "posts"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    circle_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("circles.id", ondelete="SET NULL"), index=True, default=None
    )
    # others see the post once its video is ready (models/content/visibility.py)
    video_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), unique=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(10), default="post")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # parsed from the caption when it is written (models/core/text.py, models/content/mentions.py)
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    mentions: Mapped[list[UUID]] = mapped_column(ARRAY(Uuid), default=list, server_default="{}")
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    pinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)  # grid pins


def public(post: Post) -> dict:
    return {
        "id": str(post.id),
        "author_id": str(post.author_id),
        "caption": post.caption,
        "visibility": post.visibility,
        "circle_id": str(post.circle_id) if post.circle_id else None,
        "video_id": str(post.video_id) if post.video_id else None,
        "kind": post.kind or "post",
        "expires_at": post.expires_at.isoformat() if post.expires_at else None,
        "created_at": post.created_at.isoformat(),
        "edited_at": post.edited_at.isoformat() if post.edited_at else None,
        "hashtags": list(post.hashtags or []),
        "mentions": [str(m) for m in post.mentions or []],
    }


async def get_post(svc: Services, post_id: UUID) -> Post:
    async with svc.sessions() as s:
        post = await s.get(Post, post_id)
    if post is None:
        raise NotFound("no such post", code="post_not_found")
    return post


@dataclass(frozen=True, slots=True)
class PostRef:
    """What visibility checks need of a post (models/content/visibility.can_see takes this or a Post)."""

    id: UUID
    author_id: UUID
    visibility: str
    circle_id: UUID | None
    video_id: UUID | None = None
    expires_at: datetime | None = None  # stories

    @classmethod
    def of(cls, post) -> PostRef:
        return cls(post.id, post.author_id, post.visibility, post.circle_id, post.video_id, post.expires_at)


def generation_key(author_id: UUID) -> str:
    """A counter bumped on every post the author makes (models/content/publishing.py): caches of
    pages that show the author's own posts key on it (models/discovery/feeds.py), so the author
    sees a new post at once."""
    return f"feed:gen:{author_id}"


def remember(post: Post) -> None:
    """A post just written is known to exist (ensure_exists skips its next lookup)."""
    _known[post.id] = (time.monotonic() + _KNOWN_TTL, PostRef.of(post))


def forget(post_id: UUID) -> None:
    """A deleted post: this process stops taking it as existing at once (others within _KNOWN_TTL)."""
    _known.pop(post_id, None)


# Reactions are the hottest write: remember posts known to exist for a minute, with what the
# visibility check needs. A deletion evicts here (forget), an edit refreshes this process's entry
# (remember); other API processes may use the old state for up to _KNOWN_TTL.
_known: dict[UUID, tuple[float, PostRef]] = {}
_KNOWN_TTL, _KNOWN_MAX = 60.0, 100_000


async def ensure_exists(svc: Services, post_id: UUID) -> PostRef:
    now = time.monotonic()
    hit = _known.get(post_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    # One lookup per post at a time: when the entry of a hot post expires, the sockets re-checking
    # it (api/realtime/core.py) or a burst of reactions share one query instead of each running one.
    task = _loading.get(post_id)
    if task is None:  # its own task: a caller cancelled meanwhile does not cancel the others' lookup
        task = _loading[post_id] = asyncio.ensure_future(_lookup(svc, post_id))
        task.add_done_callback(partial(_loaded, post_id))
    return await asyncio.shield(task)


def _loaded(post_id: UUID, task: asyncio.Task[PostRef]) -> None:
    del _loading[post_id]
    if not task.cancelled():
        task.exception()  # retrieved: NotFound reaches the awaiting callers, no warning


_loading: dict[UUID, asyncio.Task[PostRef]] = {}


async def _lookup(svc: Services, post_id: UUID) -> PostRef:
    async with svc.sessions() as s:
        row = (
            await s.execute(
                select(Post.id, Post.author_id, Post.visibility, Post.circle_id, Post.video_id, Post.expires_at).where(
                    Post.id == post_id
                )
            )
        ).first()
    if not row:
        raise NotFound("no such post", code="post_not_found")
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    ref = PostRef.of(row)
    _known[post_id] = (time.monotonic() + _KNOWN_TTL, ref)
    return ref
