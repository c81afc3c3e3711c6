"""Posts (text for now; video and stories come with their issues). Visibility: "public",
"followers" (the author's followers), "circle" (members of one of the author's circles, `circle_id`);
who may see what is decided in models/content/visibility.py."""
from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from models.core import idempotency, outbox

from models.media import videos
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import DomainError, NotFound
from models.core.events import Event, new_id

VISIBILITIES = ("public", "followers", "circle", "subscribers")
KINDS = ("post", "story")  # a story expires STORY_TTL (24 h) after it is made


class Post(CreatedAt, Base):
    __tablename__ = "posts"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    circle_id: Mapped[UUID | None] = mapped_column(ForeignKey("circles.id", ondelete="SET NULL"), index=True,
                                                   default=None)
    # others see the post once its video is ready (models/content/visibility.py)
    video_id: Mapped[UUID | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"), unique=True,
                                                  default=None)
    kind: Mapped[str] = mapped_column(String(10), default="post")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def public(post: Post) -> dict:
    return {"id": str(post.id), "author_id": str(post.author_id), "caption": post.caption,
            "visibility": post.visibility, "circle_id": str(post.circle_id) if post.circle_id else None,
            "video_id": str(post.video_id) if post.video_id else None,
            "kind": post.kind or "post", "expires_at": post.expires_at.isoformat() if post.expires_at else None,
            "created_at": post.created_at.isoformat()}


async def create_post(svc, *, author_id: UUID, caption: str, visibility: str,
                      idempotency_key: str | None = None, circle_id: UUID | None = None,
                      video_id: UUID | None = None, kind: str = "post", remix=None) -> Post:
    """With an Idempotency-Key, a retry returns the post the first attempt created.
    "circle" needs `circle_id`, one of the author's circles (else 404 circle_not_found).
    kind "story": the post expires STORY_TTL after now and then exists for nobody.
    `remix`: a models.content.remixes.RemixSpec (a duet or stitch of another post's video; needs `video_id`)."""
    if (visibility == "circle") != (circle_id is not None):
        raise DomainError('circle_id is required with visibility "circle" and only with it',
                          code="validation_error", details=[{"field": "circle_id"}])
    if circle_id is not None:
        from models.social.circles import ensure_own_circle
        await ensure_own_circle(svc, author_id, circle_id)
    body = {"caption": caption, "visibility": visibility}
    if circle_id is not None:
        body["circle_id"] = str(circle_id)
    if video_id is not None:  # your own uploaded video, processing or ready (models/media/videos.attach)
        body["video_id"] = str(video_id)
    if kind != "post":
        body["kind"] = kind
    if remix is not None:
        if video_id is None:
            raise DomainError("a duet or stitch needs its own video_id", code="remix_needs_video",
                              details=[{"field": "video_id"}])
        from models.content import remixes
        remix = await remixes.check(svc, author_id, remix)
        body.update(remix.body())
    post_id = await idempotency.event_id(svc, actor=author_id, key=idempotency_key, scope="post.create",
                                         body=body)
    async with svc.sessions() as s, s.begin():
        existing = await s.get(Post, post_id)
        if existing is not None:
            return existing
        if video_id is not None:
            await videos.attach(s, video_id=video_id, owner_id=author_id)
        now = utcnow()
        expires_at = now + svc.settings.story_ttl if kind == "story" else None
        post = Post(id=post_id, author_id=author_id, caption=caption, visibility=visibility, circle_id=circle_id,
                    video_id=video_id, kind=kind, expires_at=expires_at, created_at=now)
        s.add(post)
        await s.flush()
        if remix is not None:
            await remixes.add(s, post.id, remix)
        outbox.stage(s, Event("post.created", {"post_id": str(post.id), "author_id": str(author_id),
                                               "visibility": visibility, "caption": caption,
                                               "circle_id": str(circle_id) if circle_id else None,
                                               "video_id": str(video_id) if video_id else None,
                                               "kind": kind,
                                               "expires_at": expires_at.isoformat() if expires_at else None,
                                               **(remix.body() if remix is not None else {})},
                              actor=author_id, id=post_id))
    svc.relay.kick()
    from models.discovery.feeds import own_post_created  # the author sees it in their feeds at once
    await own_post_created(svc, author_id)
    _known[post.id] = (time.monotonic() + _KNOWN_TTL, PostRef.of(post))
    return post


async def get_post(svc, post_id: UUID) -> Post:
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
    def of(cls, post) -> "PostRef":
        return cls(post.id, post.author_id, post.visibility, post.circle_id, post.video_id, post.expires_at)


# Reactions are the hottest write: remember posts known to exist for a minute, with what the
# visibility check needs (posts are not deleted or edited yet; doing so will evict here).
_known: dict[UUID, tuple[float, PostRef]] = {}
_KNOWN_TTL, _KNOWN_MAX = 60.0, 100_000


async def ensure_exists(svc, post_id: UUID) -> PostRef:
    now = time.monotonic()
    hit = _known.get(post_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    async with svc.sessions() as s:
        row = (await s.execute(select(Post.id, Post.author_id, Post.visibility, Post.circle_id, Post.video_id,
                                      Post.expires_at).where(Post.id == post_id))).first()
    if not row:
        raise NotFound("no such post", code="post_not_found")
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    ref = PostRef.of(row)
    _known[post_id] = (now + _KNOWN_TTL, ref)
    return ref
