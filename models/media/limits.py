"""The transcode budget: what one upload and one account may cost the workers.

- Per video, judged right after the probe and before any transcoding: resolution (long side),
  frame rate, duration and overall bitrate (bytes × 8 / duration). Over any: `failed` with
  reason `limits_exceeded`.
- Per account: MEDIA_TRANSCODE_SECONDS_PER_DAY seconds of video (the probed duration) admitted
  for transcoding in a rolling 24 h. An upload is refused at creation (429
  `transcode_budget_exceeded`) once the budget is spent; a video that would take the account
  over it fails with reason `transcode_budget_exceeded` after the probe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import func, select, update

from models.core.base import utcnow
from models.core.errors import DomainError
from models.media.videos import Video

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from infra.ffmpeg import VideoInfo
    from infra.services import Services
    from infra.settings import Settings

WINDOW = timedelta(days=1)


class TranscodeBudgetExceeded(DomainError):
    status, code = 429, "transcode_budget_exceeded"
    headers: dict[str, str]  # Retry-After


def owner_lock_key(owner_id: UUID) -> int:
    """One account's uploads and admissions in turn (pg_advisory_xact_lock)."""
    return int.from_bytes(owner_id.bytes[:8], "big", signed=True)


def over_limits(info: VideoInfo, size: int, cfg: Settings) -> str | None:
    """Why a probed video is over the per-video limits, or None."""
    long_side = max(info.width, info.height)
    if long_side > cfg.media_max_long_side:
        return f"{info.width}x{info.height} is over the {cfg.media_max_long_side}-pixel long-side limit"
    if info.fps is not None and info.fps > cfg.media_max_fps:
        return f"{info.fps:g} fps is over the {cfg.media_max_fps:g} fps limit"
    if info.duration > cfg.media_max_duration:
        return f"{info.duration:.1f}s is over the {cfg.media_max_duration:g}s limit"
    bitrate = size * 8 / info.duration
    if bitrate > cfg.media_max_bitrate:
        return f"{bitrate / 1e6:.1f} Mbit/s is over the {cfg.media_max_bitrate / 1e6:g} Mbit/s limit"
    return None


async def _spent(s: AsyncSession, owner_id: UUID, exclude: UUID | None = None):
    """(seconds admitted in the window, when the oldest of them leaves it)."""
    since = utcnow() - WINDOW
    q = select(func.coalesce(func.sum(Video.duration), 0.0), func.min(Video.uploaded_at)).where(
        Video.owner_id == owner_id, Video.uploaded_at > since, Video.duration.is_not(None)
    )
    if exclude is not None:
        q = q.where(Video.id != exclude)
    used, oldest = (await s.execute(q)).one()
    return float(used or 0.0), oldest


def _retry_after(oldest) -> dict[str, str]:
    wait = (oldest + WINDOW - utcnow()).total_seconds() if oldest else WINDOW.total_seconds()
    return {"Retry-After": str(max(1, int(wait) + 1))}


async def check_budget(s: AsyncSession, owner_id: UUID, cfg: Settings) -> None:
    """Upload creation: refused once the account's transcode seconds are spent (the caller
    holds owner_lock_key)."""
    used, oldest = await _spent(s, owner_id)
    if used >= cfg.media_transcode_seconds_per_day:
        exc = TranscodeBudgetExceeded(
            f"{used:.0f}s of video transcoded in 24 hours; the budget is {cfg.media_transcode_seconds_per_day:g}s"
        )
        exc.headers = _retry_after(oldest)
        raise exc


async def admit(svc: Services, video: Video, info: VideoInfo) -> tuple[str, str] | None:
    """After the probe, before transcoding: (reason, message) when the video is refused;
    otherwise its duration is charged to the owner's budget (recorded on the video)."""
    cfg = svc.settings
    why = over_limits(info, video.size, cfg)
    if why:
        return "limits_exceeded", why
    async with svc.sessions() as s, s.begin():
        await s.execute(select(func.pg_advisory_xact_lock(owner_lock_key(video.owner_id))))
        used, _ = await _spent(s, video.owner_id, exclude=video.id)
        if used + info.duration > cfg.media_transcode_seconds_per_day:
            return (
                "transcode_budget_exceeded",
                f"{info.duration:.1f}s more would take the account over its "
                f"{cfg.media_transcode_seconds_per_day:g}s of video per 24 hours ({used:.0f}s used)",
            )
        await s.execute(update(Video).where(Video.id == video.id).values(duration=info.duration))
    return None
