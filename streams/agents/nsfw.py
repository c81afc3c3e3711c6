"""NSFW agent: media.transcoded -> frames sampled at NSFW_SAMPLE_FPS + the thumbnail -> open_nsfw
(ml/nsfw.py, in a thread) -> ready | in_review (case opened) | rejected (hidden, case opened).

Idempotent: the verdict is applied by one conditional update on a transcoded video still
`processing` (models/moderation/cases.apply_verdict), so a redelivery finds it decided and does nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from uuid import UUID

from infra import ffmpeg
from infra.storage import ObjectMissing, storage_for
from ml import nsfw as classifier
from models.core.events import Received
from models.core.topics import MEDIA
from models.media import videos
from models.moderation import cases
from streams.batch import batch_agent, ids_of


@batch_agent(MEDIA, name="nsfw", max_records=4, warmup=classifier.warm)
async def nsfw(events: list[Received], svc) -> None:
    for video_id in ids_of(events, "media.transcoded", "video_id"):
        await moderate_video(svc, video_id)


async def moderate_video(svc, video_id: UUID) -> None:
    video = await videos.get_video(svc, video_id)
    if video is None or video.status != "processing" or not video.playlist_key:
        return  # not transcoded yet, already decided, or failed
    cfg, store = svc.settings, storage_for(svc.settings)
    work = videos.work_dir(cfg) / f"{video_id}.nsfw.{secrets.token_hex(4)}"
    try:
        async with store.local_copy(video.original_key, work) as src:
            frames = await ffmpeg.sample_frames(
                src, fps=cfg.nsfw_sample_fps, max_frames=cfg.nsfw_max_frames, timeout=cfg.media_transcode_timeout
            )
        thumb = await store.get_bytes(video.thumbnail_key)
    except ffmpeg.VideoError as exc:
        await videos.fail(svc, video_id, exc.reason, exc.message)
        return
    except ObjectMissing as exc:
        await videos.fail(svc, video_id, "original_missing", f"{exc.args[0]} is no longer in storage")
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # loading (once per process) and scoring are CPU-bound: off the event loop
    model = await asyncio.to_thread(classifier.load_classifier, cfg.nsfw_model)
    scores = await asyncio.to_thread(model.scores, [thumb, *frames])
    verdict = classifier.judge(scores, review_at=cfg.nsfw_review_at, reject_at=cfg.nsfw_reject_at)
    await cases.apply_verdict(svc, video_id, verdict)
