"""Moderation cases: opened by the automatic checks (the NSFW agent), closed by a moderator.

The queue (`list_cases`) is open cases, oldest first, keyset-paginated. A decision (`decide`)
is one transaction holding the case row: approve makes the video ready (its post visible),
reject makes it rejected (`moderator_rejected`, hidden); a closed case answers 409 `case_closed`.
It is audited (who, which case and video, which decision; never the note) and published
(`moderation.case_decided` on `moderation.cases`, keyed by video), and the new
status is pushed to the owner's websockets. Thumbnails reach moderators by a signed link bound to
the case (models/media/videos.sign over the case id), whatever the video's status.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from infra.storage import storage_for
from models.content.posts import Post
from models.core import audit, cursors, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.media import videos
from models.moderation import queue

if TYPE_CHECKING:
    from infra.services import Services

STATUSES = ("open", "closed")
DECISIONS = ("approve", "reject")
AUTOMATIC = {"review": "review", "hidden": "reject"}  # action -> what the classifier decided


class CaseNotFound(NotFound):
    code = "case_not_found"


class ModerationCase(Base):
    __tablename__ = "moderation_cases"
    __table_args__ = (
        UniqueConstraint("video_id", "kind"),
        CheckConstraint(f"decision IN {DECISIONS}", name="decision"),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    video_id: Mapped[UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # "nsfw"
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    action: Mapped[str] = mapped_column(String(20))  # review (queued) | hidden (auto-rejected)
    score: Mapped[float] = mapped_column(Float)
    max_frame_score: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(10), nullable=True)  # approve | reject
    decided_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the moderator's, never audited


async def open_case(
    s: AsyncSession, *, video_id: UUID, kind: str, action: str, score: float, max_frame_score: float, frames: int
) -> None:
    """One case per (video, kind): a redelivered verdict does not open a second one."""
    await s.execute(
        insert(ModerationCase)
        .values(
            id=new_id(),
            video_id=video_id,
            kind=kind,
            status="open",
            action=action,
            score=score,
            max_frame_score=max_frame_score,
            frames=frames,
            opened_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["video_id", "kind"])
    )


async def apply_verdict(svc: Services, video_id: UUID, verdict) -> videos.Video | None:
    """The NSFW agent's verdict: processing (transcoded) -> ready | in_review (case opened) |
    rejected (hidden, case opened). Ready is the last write of the pipeline: it is what makes the
    video playable. A redelivered verdict finds the video decided and does nothing (None)."""
    async with outbox.transaction(svc) as s:
        video = await videos.record_verdict(s, video_id, verdict)
        if video is None:
            return None
        if verdict.decision != "publish":
            await open_case(
                s,
                video_id=video.id,
                kind="nsfw",
                action="review" if verdict.decision == "review" else "hidden",
                score=verdict.score,
                max_frame_score=verdict.max_frame_score,
                frames=verdict.frames,
            )
            # the one queue (models/moderation/queue.py): the video's case, flagged "nsfw"
            await queue.raise_case(
                s,
                svc,
                target_type="video",
                target_id=video.id,
                author_id=video.owner_id,
                source="nsfw",
                labels=["nsfw"],
            )
        outbox.stage(
            s,
            Event(
                "media.moderated",
                {
                    "video_id": str(video.id),
                    "owner_id": str(video.owner_id),
                    "decision": verdict.decision,
                    "score": verdict.score,
                },
                actor=video.owner_id,
            ),
        )
    await videos.push_status(svc, video)
    return video


async def cases_of(s: AsyncSession, video_id: UUID) -> list[ModerationCase]:
    return list((await s.execute(select(ModerationCase).where(ModerationCase.video_id == video_id))).scalars())


# ---------------------------------------------------------------- the moderators' queue


async def thumbnail_url(svc: Services, case: ModerationCase, video: videos.Video, *, base_url: str) -> str | None:
    """A link a moderator's browser opens without headers until MEDIA_URL_TTL: presigned with S3,
    else the API's route with a token signed over the case id (it opens nothing else)."""
    if not video.thumbnail_key or video.status == "failed":
        return None
    ttl = int(svc.settings.media_url_ttl.total_seconds())
    url = await storage_for(svc.settings).url(video.thumbnail_key, expires=ttl)
    if url:
        return url
    base = (svc.settings.media_public_url or base_url).rstrip("/")
    return f"{base}/admin/moderation/cases/{case.id}/thumbnail.jpg?t={videos.sign(svc.settings, case.id)}"


async def thumbnail_key(svc: Services, case_id: UUID, token: str | None) -> str:
    """The storage key of a case's thumbnail for the holder of its signed link; else 404 (a bad
    token looks like no case)."""
    if not videos.verify(svc.settings, case_id, token):
        raise CaseNotFound("no such case")
    async with svc.sessions() as s:
        key = (
            await s.execute(
                select(videos.Video.thumbnail_key)
                .join(ModerationCase, ModerationCase.video_id == videos.Video.id)
                .where(ModerationCase.id == case_id)
            )
        ).scalar_one_or_none()
    if not key:
        raise CaseNotFound("no such case")
    return key


async def _public(
    svc: Services, case: ModerationCase, video: videos.Video, post_id: UUID | None, *, base_url: str
) -> dict:
    return {
        "id": str(case.id),
        "kind": case.kind,
        "status": case.status,
        "video_id": str(video.id),
        "owner_id": str(video.owner_id),
        "post_id": post_id and str(post_id),
        "video_status": video.status,
        "video_reason": video.reason,
        "automatic_decision": AUTOMATIC.get(case.action, case.action),
        "score": case.score,
        "max_frame_score": case.max_frame_score,
        "frames": case.frames,
        "decision": case.decision,
        "decided_by": case.decided_by and str(case.decided_by),
        "note": case.note,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at and case.closed_at.isoformat(),
        "thumbnail_url": await thumbnail_url(svc, case, video, base_url=base_url),
    }


# Open cases: oldest first (the longest waiting is next); closed ones: latest decision first.
# The cursor is the last row's (status, time, id).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(status: str, at: datetime, case_id: UUID) -> str:
    raw = status[0].encode() + struct.pack(">q", (at - _EPOCH) // timedelta(microseconds=1)) + case_id.bytes
    return cursors.encode(raw)


def _after(status: str, cursor: str):
    try:
        raw = cursors.decode(cursor)
        if len(raw) != 25 or raw[:1] != status[0].encode():
            raise ValueError
        at = _EPOCH + timedelta(microseconds=struct.unpack(">q", raw[1:9])[0])
        case_id = UUID(bytes=raw[9:])
    except (ValueError, OverflowError, struct.error):
        raise DomainError("cursor is not valid", code="invalid_cursor") from None
    return at, case_id


async def list_cases(
    svc: Services, *, status: str = "open", cursor: str | None = None, limit: int = 50, base_url: str
) -> dict:
    if status not in STATUSES:
        raise DomainError("status must be open or closed", code="invalid_status")
    at = ModerationCase.opened_at if status == "open" else ModerationCase.closed_at
    key = tuple_(at, ModerationCase.id)
    q = (
        select(ModerationCase, videos.Video, Post.id.label("post_id"))
        .join(videos.Video, videos.Video.id == ModerationCase.video_id)
        .outerjoin(Post, Post.video_id == ModerationCase.video_id)
        .where(ModerationCase.status == status)
        .order_by(*((at, ModerationCase.id) if status == "open" else (at.desc(), ModerationCase.id.desc())))
        .limit(limit + 1)
    )
    if cursor:
        after = tuple_(*_after(status, cursor))
        q = q.where(key > after if status == "open" else key < after)
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1].ModerationCase if rows else None
    return {
        "items": [await _public(svc, r.ModerationCase, r.Video, r.post_id, base_url=base_url) for r in rows],
        "next_cursor": _cursor(status, last.opened_at if status == "open" else last.closed_at, last.id)
        if more and last is not None
        else None,
    }


async def decide(
    svc: Services,
    *,
    case_id: UUID,
    decision: str,
    actor: UUID,
    note: str | None = None,
    client: Client | None = None,
    base_url: str,
) -> dict:
    """Close an open case: approve -> the video ready, reject -> rejected (`moderator_rejected`).
    A video hidden meanwhile for another reason (an upheld report) stays as it is."""
    if decision not in DECISIONS:
        raise DomainError("decision must be approve or reject", code="invalid_decision")
    async with outbox.transaction(svc) as s:
        case = (
            await s.execute(select(ModerationCase).where(ModerationCase.id == case_id).with_for_update())
        ).scalar_one_or_none()
        if case is None:
            raise CaseNotFound("no such case")
        if case.status != "open":
            raise Conflict(f"this case was already decided ({case.decision or 'closed'})", code="case_closed")
        owner = (await s.execute(select(videos.Video.owner_id).where(videos.Video.id == case.video_id))).scalar_one()
        if owner == actor:
            raise Forbidden("you cannot decide a case about your own video", code="case_about_you")
        changed = await videos.apply_decision(s, case.video_id, decision)
        video = changed or await s.get(videos.Video, case.video_id)
        assert video is not None  # the case's foreign key, and the case is locked
        case.status, case.decision, case.decided_by = "closed", decision, actor
        case.note, case.closed_at = note or None, utcnow()
        audit.stage(
            s,
            "moderation.case_decided",
            client,
            actor=actor,
            subject=f"moderation_case:{case.id}",
            details={"video_id": str(video.id), "kind": case.kind, "decision": decision, "video_status": video.status},
        )
        outbox.stage(
            s,
            Event(
                "moderation.case_decided",
                {
                    "case_id": str(case.id),
                    "video_id": str(video.id),
                    "owner_id": str(video.owner_id),
                    "kind": case.kind,
                    "decision": decision,
                    "video_status": video.status,
                },
                actor=actor,
            ),
        )
        post_id = (await s.execute(select(Post.id).where(Post.video_id == video.id))).scalar_one_or_none()
        await queue.close_alias(s, "video", video.id)
    if changed is not None:
        await videos.push_status(svc, changed)
    return await _public(svc, case, video, post_id, base_url=base_url)
