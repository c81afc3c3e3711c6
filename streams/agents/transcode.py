"""Transcode agent: media.uploaded -> probe -> HLS 240p/480p/720p + thumbnail (infra/ffmpeg.py)
-> object storage -> media.transcoded (picked up by the NSFW agent).

At-least-once and crash-safe: a redelivered event for a video already transcoded (or failed) is a
no-op; an attempt killed midway is redone from the start. Each attempt writes its files under a
fresh random prefix (`videos/<id>/<set>/`) and only the conditional update recording the set
makes them reachable, so a half-uploaded set is never published; the winner removes sets left
by dead attempts. A bad file (not a video, truncated, ...) ends `failed` with the reason
ffmpeg's probe gave, and its files are removed; so does one over the per-video limits
(`limits_exceeded`) or its owner's daily transcode budget (`transcode_budget_exceeded`):
models/media/limits.py, judged after the probe, before any transcoding.

Batches are small (a transcode takes seconds to minutes) and the runner commits after the
handler, so the agent raises its consumer's max_poll_interval above the longest batch it can
take; were it exceeded anyway, the rebalance redelivers the batch, which finds the work done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from pathlib import Path
from uuid import UUID

from infra import ffmpeg
from infra.storage import ObjectMissing, Storage, storage_for
from models.core.events import Received
from models.core.topics import MEDIA
from models.media import limits, videos
from models.media.videos import Video
from streams.batch import batch_agent, ids_of

log = logging.getLogger(__name__)

TRANSCODE_SHARE = 0.9  # of the processing progress bar; storing and moderation take the rest
UPLOAD_PARALLEL = 4
_slots: asyncio.Semaphore | None = None


def _semaphore(size: int) -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(size)
    return _slots


# Up to 40 min between polls: two transcodes of at most MEDIA_TRANSCODE_TIMEOUT (15 min) each.
@batch_agent(MEDIA, name="transcode", max_records=2, max_poll_interval_ms=40 * 60_000)
async def transcode(events: list[Received], svc) -> None:
    results = await asyncio.gather(
        *(transcode_video(svc, vid) for vid in ids_of(events, "media.uploaded", "video_id")), return_exceptions=True
    )
    for r in results:  # every transcode has finished; a failed one makes the batch retry
        if isinstance(r, BaseException):
            raise r


async def transcode_video(svc, video_id: UUID) -> None:
    video = await videos.get_video(svc, video_id)
    if video is None or video.status != "processing" or video.playlist_key:
        return  # gone, failed, or already transcoded: a redelivery
    cfg = svc.settings
    async with _semaphore(cfg.media_transcode_concurrency):
        root = videos.work_dir(cfg)
        remove_stale(root, older_than=cfg.media_transcode_timeout + 600)
        work = root / f"{video_id}.{secrets.token_hex(4)}"
        work.mkdir(parents=True)
        try:
            refused = await _transcode(svc, video, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if refused:  # recorded only once nothing of the attempt is left on disk
        await videos.fail(svc, video.id, *refused)


async def _transcode(svc, video: Video, work: Path) -> tuple[str, str] | None:
    """Transcodes and publishes the set; a refused file gives (reason, message) instead."""
    cfg, store = svc.settings, storage_for(svc.settings)
    await videos.set_progress(svc, video, 0)

    async def progress(pct: float) -> None:
        await videos.set_progress(svc, video, int(pct * TRANSCODE_SHARE))

    try:
        async with store.local_copy(video.original_key, work) as src:
            info = await ffmpeg.probe(src)
            refused = await limits.admit(svc, video, info)  # before any transcoding
            if refused:
                log.info("video over its limits", extra={"video_id": str(video.id), "reason": refused[0]})
                return refused
            hls = await ffmpeg.transcode_hls(
                src,
                work / "hls",
                info,
                on_progress=progress,
                timeout=cfg.media_transcode_timeout,
                segment_seconds=cfg.media_segment_seconds,
                preset=cfg.media_ffmpeg_preset,
            )
            thumb = await ffmpeg.thumbnail(src, at=1.0, duration=info.duration)
    except ffmpeg.VideoError as exc:
        log.info("video refused", extra={"video_id": str(video.id), "reason": exc.reason, "error": exc.message})
        return exc.reason, exc.message
    except ObjectMissing:
        return "original_missing", "the uploaded file is no longer in storage"
    set_name = secrets.token_urlsafe(12)
    prefix = f"{videos.video_prefix(video.id)}{set_name}"
    await _store_files(store, work / "hls", hls.files, prefix)
    await store.put_bytes(f"{prefix}/thumbnail.jpg", thumb)
    stored = await videos.store_transcode(
        svc,
        video.id,
        playlist_key=f"{prefix}/{hls.master.relative_to(work / 'hls').as_posix()}",
        thumbnail_key=f"{prefix}/thumbnail.jpg",
        renditions=hls.renditions,
        info=info,
    )
    if stored is None:  # another attempt recorded its set first (or the video left processing)
        await store.delete_prefix(prefix + "/")
        return None
    await _remove_other_sets(store, video.id, keep=set_name)
    await videos.set_progress(svc, stored, 95)
    return None


async def _store_files(store: Storage, base: Path, files: list[Path], prefix: str) -> None:
    gate = asyncio.Semaphore(UPLOAD_PARALLEL)

    async def put(rel: Path) -> None:
        async with gate:
            await store.put_file(f"{prefix}/{rel.as_posix()}", base / rel, move=True)

    await asyncio.gather(*(put(rel) for rel in files))


async def _remove_other_sets(store: Storage, video_id: UUID, *, keep: str) -> None:
    root = videos.video_prefix(video_id)
    sets = {k[len(root) :].split("/", 1)[0] for k in await store.list(root)} - {keep}
    for name in sets:
        await store.delete_prefix(f"{root}{name}/")


def remove_stale(root: Path, *, older_than: float) -> None:
    """Scratch folders of attempts whose process died (no `finally` ran)."""
    if not root.is_dir():
        return
    cutoff = time.time() - older_than
    for p in root.iterdir():
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)
