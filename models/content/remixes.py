"""Duets and stitches (docs/interactions.md): a post that reuses a time range of another post's
video. The remix row is written in the new post's transaction (models/content/publishing.create_post) and its
reference rides on the post.created event, so the notifications agent can tell the source's owner.

A source's owner may turn duets and/or stitches off per post (`remix_settings`; no row = both
allowed). That switch is read inside the creating transaction, the rest (visibility, blocks) before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.content.posts import Post, get_post, public
from models.content.visibility import can_see, ensure_visible
from models.core import cursors
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, Forbidden
from models.media.videos import Video
from models.social.blocks import ensure_not_blocked

if TYPE_CHECKING:
    from infra.services import Services

TYPES = ("duet", "stitch")


class Remix(Base):
    __tablename__ = "remixes"
    __table_args__ = (
        CheckConstraint("type IN ('duet', 'stitch')", name="type"),
        CheckConstraint("start_ms >= 0 AND end_ms > start_ms", name="range"),
        Index("ix_remixes_source", "source_post_id", "post_id"),
        Index("ix_remixes_source_type", "source_post_id", "type", "post_id"),
    )
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    source_post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(10))
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RemixSettings(Base):
    __tablename__ = "remix_settings"
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    allow_duets: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_stitches: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True, slots=True)
class RemixSpec:
    type: str
    source_post_id: UUID
    start_ms: int
    end_ms: int
    source_author_id: UUID | None = None  # filled by `check`
    source_video_id: UUID | None = None

    def body(self) -> dict:
        """What an Idempotency-Key's request body records, and the event's remix fields."""
        return {
            "remix_type": self.type,
            "remix_source_post_id": str(self.source_post_id),
            "remix_source_author_id": str(self.source_author_id) if self.source_author_id else None,
            "remix_start_ms": self.start_ms,
            "remix_end_ms": self.end_ms,
        }


def _ref(r: Remix) -> dict:
    return {"type": r.type, "source_post_id": str(r.source_post_id), "start_ms": r.start_ms, "end_ms": r.end_ms}


async def check(svc: Services, author_id: UUID, spec: RemixSpec) -> RemixSpec:
    """Before the post's transaction: the range's shape, the source exists for the author, no block
    either way. Returns the spec with the source's author and video."""
    if spec.type not in TYPES:
        raise DomainError(
            'remix type must be "duet" or "stitch"', code="validation_error", details=[{"field": "remix.type"}]
        )
    if spec.start_ms < 0 or spec.end_ms <= spec.start_ms:
        raise DomainError("the remix range needs 0 <= start_ms < end_ms", code="remix_invalid_range")
    limit = svc.settings.remix_stitch_max_ms
    if spec.type == "stitch" and spec.end_ms - spec.start_ms > limit:
        raise DomainError(f"a stitch takes at most {limit} ms of its source", code="remix_range_too_long")
    source = await get_post(svc, spec.source_post_id)
    # a block is known to both sides already: say so rather than hide the post
    await ensure_not_blocked(svc, author_id, source.author_id)
    await ensure_visible(svc, author_id, source)
    if source.video_id is None:
        raise DomainError("the source post has no video", code="remix_source_has_no_video")
    return RemixSpec(spec.type, spec.source_post_id, spec.start_ms, spec.end_ms, source.author_id, source.video_id)


async def add(s: AsyncSession, post_id: UUID, spec: RemixSpec) -> None:
    """Inside the new post's transaction: the source's switch, its video ready and long enough."""
    settings = await s.get(RemixSettings, spec.source_post_id)
    if settings is not None and not (settings.allow_duets if spec.type == "duet" else settings.allow_stitches):
        raise Forbidden(f"the owner of this post turned {spec.type}s off", code="remix_disabled")
    video = await s.get(Video, spec.source_video_id)
    if video is None or video.status != "ready" or video.duration is None:
        raise Conflict("the source video is not ready", code="remix_source_not_ready")
    if spec.end_ms > round(video.duration * 1000):
        raise DomainError("the remix range ends after the source video", code="remix_range_out_of_bounds")
    s.add(
        Remix(
            post_id=post_id,
            source_post_id=spec.source_post_id,
            type=spec.type,
            start_ms=spec.start_ms,
            end_ms=spec.end_ms,
        )
    )


async def ref_of(svc: Services, post_id: UUID) -> dict | None:
    async with svc.sessions() as s:
        r = await s.get(Remix, post_id)
    return _ref(r) if r else None


async def set_settings(
    svc: Services, user_id: UUID, post_id: UUID, *, allow_duets: bool | None = None, allow_stitches: bool | None = None
) -> dict:
    """The post's owner only (403 not_owner); an omitted switch keeps its value."""
    post = await get_post(svc, post_id)
    await ensure_visible(svc, user_id, post)
    if post.author_id != user_id:
        raise Forbidden("only the post's owner may change its remix settings", code="not_owner")
    async with svc.sessions() as s, s.begin():
        current = await s.get(RemixSettings, post_id, with_for_update=True)
        duets = allow_duets if allow_duets is not None else (current.allow_duets if current else True)
        stitches = allow_stitches if allow_stitches is not None else (current.allow_stitches if current else True)
        await s.execute(
            pg_insert(RemixSettings)
            .values(post_id=post_id, allow_duets=duets, allow_stitches=stitches, updated_at=utcnow())
            .on_conflict_do_update(
                index_elements=[RemixSettings.post_id],
                set_={"allow_duets": duets, "allow_stitches": stitches, "updated_at": utcnow()},
            )
        )
    return {"post_id": str(post_id), "allow_duets": duets, "allow_stitches": stitches}


async def list_remixes(
    svc: Services,
    viewer_id: UUID,
    post_id: UUID,
    *,
    type: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> dict:
    """Remixes of a post the viewer can see, newest first (keyset on the remix post's UUIDv7),
    each one the viewer may see with its `remix` reference. A page scans past remixes hidden from
    the viewer; `next_cursor` is set when more rows exist, so a last page may come back empty."""
    if type is not None and type not in TYPES:
        raise DomainError('type must be "duet" or "stitch"', code="validation_error", details=[{"field": "type"}])
    await ensure_visible(svc, viewer_id, await get_post(svc, post_id))
    after = cursors.decode_ids(cursor, 1)[0] if cursor else None
    items: list[dict] = []
    last: UUID | None = None
    more = False
    while not more:
        q = (
            select(Post, Remix)
            .join(Remix, Remix.post_id == Post.id)
            .where(Remix.source_post_id == post_id)
            .order_by(Remix.post_id.desc())
            .limit(limit + 1)
        )
        if type:
            q = q.where(Remix.type == type)
        if after is not None:
            q = q.where(Remix.post_id < after)
        async with svc.sessions() as s:
            rows = (await s.execute(q)).all()
        for post, remix in rows:
            if len(items) == limit:
                more = True
                break
            last = post.id
            if await can_see(svc, viewer_id, post):
                items.append({**public(post), "remix": _ref(remix)})
        if len(rows) <= limit and not more:
            break
        after = last
    return {"items": items, "next_cursor": cursors.encode_ids(last) if more and last else None}
