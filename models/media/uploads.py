"""Tus uploads: the resumable-upload bookkeeping behind api/routes/tus.py.

Bytes are streamed to `<upload dir>/<video id>.part` as they arrive, never held whole in memory.
As in tusd, the file's size is the upload offset, so a dropped connection keeps what arrived and
the client resumes from there (a chunk sent with Upload-Checksum is kept only once verified).
The first bytes must be a video container (judged by magic bytes, infra.ffmpeg.sniff_container)
before anything more is stored. The complete file moves into object storage as
`originals/<id>`, then one transaction turns the video `processing` and stages `media.uploaded`.
Every step of that completion is idempotent, so a HEAD after a crash in between finishes it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import AsyncIterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import func, select, update

from infra.background import BackgroundLoop
from infra.ffmpeg import VIDEO_CONTAINERS, sniff_container
from infra.storage import storage_for
from models.core import outbox
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import Event, new_id
from models.media.limits import check_budget, owner_lock_key
from models.media.videos import Video, fail, part_path, push_status, upload_dir

if TYPE_CHECKING:
    from redis.asyncio.lock import Lock

    from infra.services import Services

HEAD_BYTES = 64  # what sniff_container reads; a decision needs at most this many
CHECKSUMS = {"sha1": hashlib.sha1}
LOCK_TTL = 30.0  # seconds; renewed while a PATCH streams
LOCK_WAIT = 3.0  # a resumed PATCH may arrive while the dropped one is being torn down
FINALIZE_LOCK_TTL = 900.0

log = logging.getLogger(__name__)


class UploadNotFound(NotFound):
    code = "upload_not_found"


class UploadTooLarge(DomainError):
    status, code = 413, "upload_too_large"


class StorageQuotaExceeded(DomainError):
    status, code = 413, "storage_quota_exceeded"


class DailyUploadsExceeded(DomainError):
    status, code = 429, "upload_quota_exceeded"
    headers: dict[str, str]  # Retry-After, set where raised


class UnsupportedContainer(DomainError):
    status, code = 415, "unsupported_container"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"


class ChecksumMismatch(DomainError):
    status, code = 460, "checksum_mismatch"  # Tus checksum extension


class UploadGone(DomainError):
    status, code = 410, "upload_gone"


class UploadLocked(DomainError):
    status, code = 423, "upload_locked"


async def create_upload(svc: Services, *, owner_id: UUID, length: int, metadata: dict[str, str]) -> Video:
    """A new upload of `length` bytes, after the size and quota checks. Quotas: uploads started
    in the last 24 h, bytes of the user's videos that did not fail (this one included), and
    the transcode budget (models/media/limits.py)."""
    cfg = svc.settings
    if length > cfg.media_max_upload_bytes:
        raise UploadTooLarge(f"Upload-Length {length} is over the {cfg.media_max_upload_bytes}-byte limit")
    now = utcnow()
    async with svc.sessions() as ss, ss.begin():
        # one user's creations in turn, so two at once cannot both squeeze under a quota
        await ss.execute(select(func.pg_advisory_xact_lock(owner_lock_key(owner_id))))
        day_ago = now - timedelta(days=1)
        count, oldest = (
            await ss.execute(
                select(func.count(), func.min(Video.created_at)).where(
                    Video.owner_id == owner_id, Video.created_at > day_ago
                )
            )
        ).one()
        if count >= cfg.media_quota_uploads_per_day:
            exc = DailyUploadsExceeded(f"at most {cfg.media_quota_uploads_per_day} uploads per 24 hours")
            exc.headers = {"Retry-After": str(max(1, int((oldest - day_ago).total_seconds()) + 1))}
            raise exc
        used = (
            await ss.execute(
                select(func.coalesce(func.sum(Video.size), 0)).where(
                    Video.owner_id == owner_id, Video.status != "failed"
                )
            )
        ).scalar_one()
        if used + length > cfg.media_quota_bytes:
            raise StorageQuotaExceeded(
                f"this upload would take your videos to {used + length} bytes; the quota is {cfg.media_quota_bytes}"
            )
        await check_budget(ss, owner_id, cfg)
        video = Video(
            id=new_id(),
            owner_id=owner_id,
            status="uploading",
            progress=0,
            size=length,
            received=0,
            upload_metadata=metadata,
            upload_expires_at=now + cfg.media_upload_expiry,
            renditions=[],
            created_at=now,
            updated_at=now,
        )
        ss.add(video)
    upload_dir(cfg).mkdir(parents=True, exist_ok=True)
    part_path(cfg, video.id).touch()
    await push_status(svc, video)
    if length == 0:
        await finalize(svc, video)
        video = await _reload(svc, video.id)
    return video


async def _reload(svc: Services, video_id: UUID) -> Video:
    # None only for a video deleted meanwhile, which get_upload checks for
    async with svc.sessions() as ss:
        return cast(Video, await ss.get(Video, video_id))


async def get_upload(svc: Services, video_id: UUID, owner_id: UUID) -> Video:
    """Another user's upload does not exist for you."""
    video = await _reload(svc, video_id)
    if video is None or video.owner_id != owner_id:
        raise UploadNotFound("no such upload")
    return video


def _expired(video: Video) -> bool:
    return video.upload_expires_at is not None and video.upload_expires_at <= utcnow()


def _lock(svc: Services, video_id: UUID) -> Lock:
    return svc.redis.lock(f"tus:lock:{video_id}", timeout=LOCK_TTL, blocking_timeout=LOCK_WAIT)


async def offset(svc: Services, video: Video, *, locked: bool = False) -> int:
    """The Upload-Offset of a HEAD: bytes received so far, or the length once complete.
    410 for an upload that expired, was refused or was lost."""
    if video.status == "uploading":
        if _expired(video):
            await fail(svc, video.id, "upload_expired", "the upload was not finished in time")
            raise UploadGone("this upload expired")
        part = part_path(svc.settings, video.id)
        received = min(part.stat().st_size, video.size) if part.exists() else video.size
        if received == video.size:  # complete but not handed on: a crash in between
            lock = None if locked else _lock(svc, video.id)
            if lock is not None and not await lock.acquire():
                return received  # the request holding it is completing the upload
            try:
                await finalize(svc, await _reload(svc, video.id))
            finally:
                if lock is not None:
                    await _release(lock)
            video = await _reload(svc, video.id)
            if video.status == "failed":
                raise UploadGone(f"this upload failed: {video.reason}")
        return received
    if video.status == "failed" and video.uploaded_at is None:
        raise UploadGone(f"this upload failed: {video.reason}")
    return video.size


async def append(
    svc: Services, video: Video, *, at: int, body: AsyncIterable[bytes], checksum: tuple[str, str] | None = None
) -> int:
    """Write the request body at offset `at` (which must be the current offset); returns the new
    offset. Completes the upload when the last byte arrives."""
    lock = _lock(svc, video.id)
    if not await lock.acquire():
        raise UploadLocked("another request is writing to this upload")
    try:
        video = await _reload(svc, video.id)
        current = await offset(svc, video, locked=True)
        if video.status != "uploading" or current == video.size:
            if at == video.size:  # nothing left to send: already complete
                return video.size
            raise OffsetMismatch(f"Upload-Offset {at} does not match the upload's offset {current}")
        if at != current:
            raise OffsetMismatch(f"Upload-Offset {at} does not match the upload's offset {current}")
        written = await _write(svc, video, at, body, checksum, lock)
        new_offset = at + written
        async with svc.sessions() as ss, ss.begin():
            await ss.execute(
                update(Video)
                .where(Video.id == video.id, Video.status == "uploading")
                .values(
                    received=new_offset,
                    updated_at=utcnow(),
                    # an upload in progress does not expire
                    upload_expires_at=utcnow() + svc.settings.media_upload_expiry,
                )
            )
        if new_offset == video.size:
            # storing the original may take a while (S3): keep other requests off meanwhile
            await lock.extend(FINALIZE_LOCK_TTL, replace_ttl=True)
            await finalize(svc, video)
        return new_offset
    finally:
        await _release(lock)


async def _release(lock) -> None:
    try:
        await lock.release()
    except Exception:  # it expired meanwhile: nothing to release
        pass


async def _write(svc: Services, video: Video, at: int, body: AsyncIterable[bytes], checksum, lock) -> int:
    part = part_path(svc.settings, video.id)
    need_head = min(HEAD_BYTES, video.size)
    head = part.read_bytes()[:at] if at < need_head else None
    hasher = CHECKSUMS[checksum[0]]() if checksum else None
    remaining, written, keep, refused = video.size - at, 0, False, False
    renewed = time.monotonic()
    with part.open("r+b") as f:
        f.seek(at)
        try:
            async for chunk in body:
                if written + len(chunk) > remaining:
                    raise UploadTooLarge(f"the body goes past Upload-Length ({video.size} bytes)")
                if head is not None:
                    head += chunk[: need_head - len(head)]
                    if len(head) >= need_head:
                        if sniff_container(head) not in VIDEO_CONTAINERS:
                            refused = True
                            break
                        head = None
                f.write(chunk)
                written += len(chunk)
                if hasher:
                    hasher.update(chunk)
                if time.monotonic() - renewed > LOCK_TTL / 3:
                    await lock.reacquire()
                    renewed = time.monotonic()
            if hasher and not refused and base64.b64encode(hasher.digest()).decode() != checksum[1]:
                raise ChecksumMismatch("the chunk does not match its Upload-Checksum; it was discarded")
            keep = not refused
        except asyncio.CancelledError:
            # the client went away mid-body: keep what arrived for the resume, unless it was
            # to be verified against a checksum it can no longer be checked with
            keep = hasher is None
            raise
        finally:
            if not keep:
                f.truncate(at)
    if refused:
        await fail(
            svc,
            video.id,
            "unsupported_container",
            "the file is not an mp4, mov, webm or mkv video (judged by its first bytes)",
        )
        raise UnsupportedContainer("the file is not an mp4, mov, webm or mkv video")
    return written


async def finalize(svc: Services, video: Video) -> None:
    """Hand a complete upload on: original into storage, then processing + media.uploaded."""
    cfg, store = svc.settings, storage_for(svc.settings)
    part, key = part_path(cfg, video.id), f"originals/{video.id}"
    if part.exists():
        with part.open("rb") as f:
            head = f.read(HEAD_BYTES)
        if not head:
            await fail(svc, video.id, "empty_file", "the upload is empty (0 bytes)")
            return
        if sniff_container(head) not in VIDEO_CONTAINERS:
            await fail(svc, video.id, "unsupported_container", "the file is not an mp4, mov, webm or mkv video")
            return
        await store.put_file(key, part, move=True)
    elif not await store.exists(key):
        await fail(svc, video.id, "upload_lost", "the uploaded bytes were lost; upload the file again")
        return
    async with outbox.transaction(svc) as ss:
        done = (
            await ss.execute(
                update(Video)
                .where(Video.id == video.id, Video.status == "uploading")
                .values(
                    status="processing",
                    progress=0,
                    received=video.size,
                    original_key=key,
                    uploaded_at=utcnow(),
                    upload_expires_at=None,
                    updated_at=utcnow(),
                )
                .returning(Video)
            )
        ).scalar_one_or_none()
        if done is None:
            return
        outbox.stage(
            ss,
            Event(
                "media.uploaded",
                {"video_id": str(video.id), "owner_id": str(video.owner_id), "original_key": key, "size": video.size},
                actor=video.owner_id,
            ),
        )
    await push_status(svc, done)


async def terminate(svc: Services, video: Video) -> None:
    """Tus termination: an unfinished upload turns `failed` (terminated) and its bytes are
    deleted; the row stays, so it still counts against the daily quota. Idempotent."""
    if video.status == "failed" and video.uploaded_at is None:
        return
    if video.status != "uploading":
        raise Conflict("this upload is complete; the video is no longer an upload", code="upload_complete")
    lock = _lock(svc, video.id)
    if not await lock.acquire():
        raise UploadLocked("another request is writing to this upload")
    try:
        if await fail(svc, video.id, "terminated", "the upload was cancelled by its owner") is None:
            video = await _reload(svc, video.id)
            if video.status != "failed":  # completed meanwhile
                raise Conflict("this upload is complete", code="upload_complete")
    finally:
        await _release(lock)


async def expire_uploads(svc: Services, *, now: datetime | None = None, limit: int = 500) -> int:
    """Fail uploads past Upload-Expires and delete their bytes; returns how many."""
    async with svc.sessions() as ss:
        ids = (
            (
                await ss.execute(
                    select(Video.id)
                    .where(Video.status == "uploading", Video.upload_expires_at <= (now or utcnow()))
                    .order_by(Video.upload_expires_at)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    done = 0
    for video_id in ids:
        if await fail(svc, video_id, "upload_expired", "the upload was not finished in time"):
            done += 1
    return done


class UploadSweeper(BackgroundLoop):
    """Every API process runs one (api/app.py; the sweep is safe to run concurrently), every
    MEDIA_UPLOAD_SWEEP_INTERVAL seconds; `python -m jobs.expire_uploads` runs one sweep by hand."""

    def __init__(self, svc: Services):
        self.svc = svc

    async def _run(self) -> None:
        while True:
            try:
                if expired := await expire_uploads(self.svc):
                    log.info("expired uploads removed", extra={"count": expired})
            except Exception as exc:  # a database blip: the next sweep retries
                log.warning("upload sweep failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.svc.settings.media_upload_sweep_interval)
