"""Videos: their processing states, the transitions the agents make, status and playback links.

uploading -> processing -> ready | in_review | rejected, or failed (with a reason) from uploading
or processing; a moderator turns in_review (or rejected as nsfw) into ready or rejected, and an
upheld report about its post rejects it. Every transition is one conditional UPDATE on the
expected state, so a redelivered event or a second attempt finds the work done and does nothing
(agents are at-least-once).
Uploads themselves (Tus) are models/media/uploads.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from infra.settings import Settings
from infra.storage import storage_for
from models.core import outbox
from models.core.base import Base, utcnow
from models.core.errors import NotFound
from models.core.events import Event, new_id

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

STATUSES = ("uploading", "processing", "in_review", "ready", "rejected", "failed")
ATTACHABLE = ("processing", "in_review", "ready")
PROGRESS_TTL = 3600


class VideoNotFound(NotFound):
    code = "video_not_found"


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (CheckConstraint(f"status IN {STATUSES}", name="status"),)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="uploading")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)  # Upload-Length
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_metadata: Mapped[dict] = mapped_column(JSONB, default=dict)
    upload_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    original_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    playlist_key: Mapped[str | None] = mapped_column(String(300), nullable=True)  # master.m3u8
    thumbnail_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    renditions: Mapped[list] = mapped_column(JSONB, default=list)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_codec: Mapped[str | None] = mapped_column(String(40), nullable=True)
    audio_codec: Mapped[str | None] = mapped_column(String(40), nullable=True)
    container: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    nsfw_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def upload_dir(settings: Settings) -> Path:
    return Path(settings.media_upload_dir or Path(settings.var_dir) / "uploads")


def work_dir(settings: Settings) -> Path:
    return Path(settings.media_work_dir or Path(settings.var_dir) / "media-work")


def part_path(settings: Settings, video_id: UUID) -> Path:
    return upload_dir(settings) / f"{video_id}.part"


def video_prefix(video_id: UUID) -> str:
    return f"videos/{video_id}/"


async def get_video(svc: Services, video_id: UUID) -> Video | None:
    async with svc.sessions() as s:
        return await s.get(Video, video_id)


# ---------------------------------------------------------------- pushes to the owner


def user_channel(user_id: UUID) -> str:
    """The Redis channel every websocket of this user is subscribed to (api/routes/ws.py)."""
    return f"user:{user_id}"


async def push_status(svc: Services, video: Video, progress: int | None = None) -> None:
    msg = {
        "type": "media.status",
        "video_id": str(video.id),
        "status": video.status,
        "progress": video.progress if progress is None else progress,
        "reason": video.reason,
    }
    try:
        await svc.redis.publish(user_channel(video.owner_id), orjson.dumps(msg))
    except Exception as exc:  # the row is the truth; GET /media/{id}/status reads it
        log.warning("media status push failed", extra={"video_id": str(video.id), "error": repr(exc)})


async def set_progress(svc: Services, video: Video, progress: int) -> None:
    """Processing progress lives in Redis (it changes every half second); the row keeps states."""
    try:
        await svc.redis.set(f"media:progress:{video.id}", progress, ex=PROGRESS_TTL)
    except Exception as exc:
        log.warning("media progress write failed", extra={"video_id": str(video.id), "error": repr(exc)})
    await push_status(svc, video, progress)


async def current_progress(svc: Services, video: Video) -> int:
    if video.status == "uploading":  # share of the bytes received so far
        return video.received * 100 // video.size if video.size else 0
    if video.status != "processing":
        return 100 if video.status in ("ready", "in_review", "rejected") else video.progress
    try:
        raw = await svc.redis.get(f"media:progress:{video.id}")
    except Exception:
        raw = None
    return max(video.progress, int(raw)) if raw else video.progress


# ---------------------------------------------------------------- transitions


async def _transition(
    svc: Services, video_id: UUID, expect: tuple[str, ...], values: dict, *, extra_where=()
) -> Video | None:
    async with svc.sessions() as s, s.begin():
        row = (
            await s.execute(
                update(Video)
                .where(Video.id == video_id, Video.status.in_(expect), *extra_where)
                .values(updated_at=utcnow(), **values)
                .returning(Video)
            )
        ).scalar_one_or_none()
    return row


async def fail(svc: Services, video_id: UUID, reason: str, message: str) -> Video | None:
    """uploading|processing -> failed, then its files go: the staged upload, the original,
    any renditions. None if the video had already left those states."""
    video = await _transition(
        svc,
        video_id,
        ("uploading", "processing"),
        {"status": "failed", "reason": reason, "message": message[:2000], "upload_expires_at": None},
    )
    if video is None:
        return None
    await remove_files(svc, video)
    await push_status(svc, video)
    return video


async def remove_files(svc: Services, video: Video) -> None:
    await remove_stored(svc, video.id, video.original_key)


async def remove_stored(svc: Services, video_id: UUID, original_key: str | None) -> int:
    """Every file of a video: the staged upload, the original, the HLS renditions and thumbnail
    (all under videos/<id>/). Idempotent; returns how many stored objects went."""
    part_path(svc.settings, video_id).unlink(missing_ok=True)
    store = storage_for(svc.settings)
    removed = 0
    if original_key and await store.exists(original_key):
        await store.delete(original_key)
        removed = 1
    return removed + await store.delete_prefix(video_prefix(video_id))


async def store_transcode(
    svc: Services, video_id: UUID, *, playlist_key: str, thumbnail_key: str, renditions: list[str], info
) -> Video | None:
    """Record a complete rendition set and hand the video to moderation (media.transcoded).
    Only the first complete set of a video is taken: None for a later one."""
    async with outbox.transaction(svc) as s:
        video = (
            await s.execute(
                update(Video)
                .where(Video.id == video_id, Video.status == "processing", Video.playlist_key.is_(None))
                .values(
                    playlist_key=playlist_key,
                    thumbnail_key=thumbnail_key,
                    renditions=renditions,
                    duration=info.duration,
                    width=info.width,
                    height=info.height,
                    video_codec=info.video_codec,
                    audio_codec=info.audio_codec,
                    container=info.container,
                    fps=info.fps,
                    progress=95,
                    updated_at=utcnow(),
                )
                .returning(Video)
            )
        ).scalar_one_or_none()
        if video is None:
            return None
        outbox.stage(
            s,
            Event(
                "media.transcoded",
                {
                    "video_id": str(video.id),
                    "owner_id": str(video.owner_id),
                    "playlist_key": playlist_key,
                    "thumbnail_key": thumbnail_key,
                    "duration": info.duration,
                },
                actor=video.owner_id,
            ),
        )
    return video


_DECISION_STATUS = {"publish": "ready", "review": "in_review", "reject": "rejected"}


async def record_verdict(s: AsyncSession, video_id: UUID, verdict) -> Video | None:
    """Inside the caller's transaction (models/moderation/cases.apply_verdict): processing
    (transcoded) -> ready | in_review | rejected. None when the video is not transcoded yet,
    already decided, or failed."""
    status = _DECISION_STATUS[verdict.decision]
    return (
        await s.execute(
            update(Video)
            .where(Video.id == video_id, Video.status == "processing", Video.playlist_key.is_not(None))
            .values(
                status=status,
                progress=100,
                nsfw_score=verdict.score,
                updated_at=utcnow(),
                ready_at=utcnow() if status == "ready" else None,
                reason={"review": "nsfw_review", "reject": "nsfw"}.get(verdict.decision),
            )
            .returning(Video)
        )
    ).scalar_one_or_none()


# A moderator decides about what the classifier held (in review) or hid (rejected as nsfw); a video
# hidden for another reason (an upheld report) stays hidden whatever the NSFW case says.
_HELD_BY_CLASSIFIER = or_(Video.status == "in_review", and_(Video.status == "rejected", Video.reason == "nsfw"))


async def apply_decision(s: AsyncSession, video_id: UUID, decision: str) -> Video | None:
    """Inside the moderator's transaction: approve -> ready, reject -> rejected
    (`moderator_rejected`). None when the video was not held by the classifier."""
    values = (
        {"status": "ready", "reason": None, "ready_at": utcnow()}
        if decision == "approve"
        else {"status": "rejected", "reason": "moderator_rejected"}
    )
    return (
        await s.execute(
            update(Video)
            .where(Video.id == video_id, _HELD_BY_CLASSIFIER)
            .values(updated_at=utcnow(), **values)
            .returning(Video)
        )
    ).scalar_one_or_none()


async def is_ready(svc: Services, video_id: UUID) -> bool:
    async with svc.sessions() as s:
        return (await s.execute(select(Video.status).where(Video.id == video_id))).scalar() == "ready"


# ---------------------------------------------------------------- playback links


def _url_key(settings: Settings) -> bytes:
    if settings.media_url_secret:
        return settings.media_url_secret.encode()
    return hmac.new(settings.jwt_secret.encode(), b"media-playback-urls", hashlib.sha256).digest()


def _mac(settings: Settings, video_id: UUID, exp: int) -> str:
    digest = hmac.new(_url_key(settings), f"{video_id}.{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sign(settings: Settings, video_id: UUID, *, now: float | None = None) -> str:
    """A query token opening every playlist, segment and thumbnail of one video until it expires."""
    exp = int((now or time.time()) + settings.media_url_ttl.total_seconds())
    return f"{exp}.{_mac(settings, video_id, exp)}"


def verify(settings: Settings, video_id: UUID, token: str | None, *, now: float | None = None) -> bool:
    if not token:
        return False
    exp, _, mac = token.partition(".")
    if not exp.isdigit() or int(exp) < (now or time.time()):
        return False
    return hmac.compare_digest(mac, _mac(settings, video_id, int(exp)))


def hls_root(video: Video) -> str:
    return cast(str, video.playlist_key).rsplit("/", 1)[0]  # of a transcoded video: the key is set
