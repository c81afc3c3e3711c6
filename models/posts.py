"""Posts (text for now; video, stories and restricted visibilities come with their issues)."""
from __future__ import annotations

import time
from uuid import UUID

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from models import idempotency, outbox
from models.base import Base, CreatedAt
from models.errors import NotFound
from models.events import Event, new_id

VISIBILITIES = ("public",)


class Post(CreatedAt, Base):
    __tablename__ = "posts"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20), default="public")


def public(post: Post) -> dict:
    return {"id": str(post.id), "author_id": str(post.author_id), "caption": post.caption,
            "visibility": post.visibility, "created_at": post.created_at.isoformat()}


async def create_post(svc, *, author_id: UUID, caption: str, visibility: str,
                      idempotency_key: str | None = None) -> Post:
    """With an Idempotency-Key, a retry returns the post the first attempt created."""
    body = {"caption": caption, "visibility": visibility}
    post_id = await idempotency.event_id(svc, actor=author_id, key=idempotency_key, scope="post.create",
                                         body=body)
    async with svc.sessions() as s, s.begin():
        existing = await s.get(Post, post_id)
        if existing is not None:
            return existing
        post = Post(id=post_id, author_id=author_id, caption=caption, visibility=visibility)
        s.add(post)
        await s.flush()
        outbox.stage(s, Event("post.created", {"post_id": str(post.id), "author_id": str(author_id),
                                               "visibility": visibility, "caption": caption},
                              actor=author_id, id=post_id))
    svc.relay.kick()
    _known[post.id] = time.monotonic() + _KNOWN_TTL
    return post


async def get_post(svc, post_id: UUID) -> Post:
    async with svc.sessions() as s:
        post = await s.get(Post, post_id)
    if post is None:
        raise NotFound("no such post", code="post_not_found")
    return post


# Reactions are the hottest write: remember posts known to exist for a minute (posts are not
# deleted yet; deletion will evict here).
_known: dict[UUID, float] = {}
_KNOWN_TTL, _KNOWN_MAX = 60.0, 100_000


async def ensure_exists(svc, post_id: UUID) -> None:
    now = time.monotonic()
    if _known.get(post_id, 0) > now:
        return
    async with svc.sessions() as s:
        found = (await s.execute(select(Post.id).where(Post.id == post_id))).first()
    if not found:
        raise NotFound("no such post", code="post_not_found")
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    _known[post_id] = now + _KNOWN_TTL
