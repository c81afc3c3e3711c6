"""The video on a post, as its viewers get it: attaching a video to a post, whether its links
need a token, its playback links and status, and hiding it when its post is taken down.
Videos themselves (states, transitions, signed links) are models/media/videos.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from infra.storage import storage_for
from models.content.posts import Post
from models.content.visibility import can_see
from models.core.base import utcnow
from models.core.errors import Conflict
from models.media.videos import ATTACHABLE, Video, VideoNotFound, current_progress, get_video, hls_root, sign

if TYPE_CHECKING:
    from infra.services import Services


async def attach(s: AsyncSession, *, video_id: UUID, owner_id: UUID) -> None:
    """Called inside the post's transaction: the video must be the author's own, uploaded (not
    failed or rejected), and on no other post. The row lock orders concurrent attaches."""
    video = await s.get(Video, video_id, with_for_update=True)
    if video is None or video.owner_id != owner_id:
        raise VideoNotFound("no such video")
    if video.status not in ATTACHABLE:
        raise Conflict(f"a video that is {video.status} cannot be posted", code="video_not_attachable")
    if (await s.execute(select(Post.id).where(Post.video_id == video_id))).first():
        raise Conflict("this video is already on a post", code="video_already_attached")


async def post_of(s: AsyncSession, video_id: UUID):
    return (await s.execute(select(Post).where(Post.video_id == video_id))).scalar_one_or_none()


async def is_public(svc: Services, video: Video) -> bool:
    """Ready and on a public post: then links need no token (the ids are unguessable)."""
    if video.status != "ready":
        return False
    async with svc.sessions() as s:
        post = await post_of(s, video.id)
    return post is not None and post.visibility == "public"


async def hide_post_video(s: AsyncSession, post_id: UUID, reason: str) -> Video | None:
    """Inside the caller's transaction: the post's video, unless already rejected or failed,
    becomes rejected with `reason`. One still processing stays hidden: the agents' conditional
    updates then find it decided. None when there is nothing to hide."""
    on_post = select(Post.video_id).where(Post.id == post_id).scalar_subquery()
    return (
        await s.execute(
            update(Video)
            .where(Video.id == on_post, Video.status.in_(ATTACHABLE))
            .values(status="rejected", reason=reason, updated_at=utcnow())
            .returning(Video)
        )
    ).scalar_one_or_none()


async def drop_with_post(s: AsyncSession, video_id: UUID) -> Video | None:
    """Inside the post's deletion: the video row goes too (a video belongs to one post). A
    transcode still running then finds it gone and removes its own files (streams/agents/transcode.py);
    the stored files are removed after commit by the post_media agent."""
    return (await s.execute(delete(Video).where(Video.id == video_id).returning(Video))).scalar_one_or_none()


async def links(
    svc: Services, video: Video, *, base_url: str, public: bool | None = None
) -> tuple[str | None, str | None]:
    """(playback_url, thumbnail_url) for someone allowed to see the video. `public`: whether it is
    ready on a public post, when the caller already knows (else one query finds out)."""
    if video.status not in ("ready", "in_review") or not video.playlist_key:
        return None, None
    if public is None:
        public = await is_public(svc, video)
    query = "" if public else f"?t={sign(svc.settings, video.id)}"
    base = (svc.settings.media_public_url or base_url).rstrip("/")
    master = video.playlist_key[len(hls_root(video)) + 1 :]
    playback = f"{base}/media/{video.id}/hls/{master}{query}" if video.status == "ready" else None
    store = storage_for(svc.settings)
    # set with playlist_key (videos.store_transcode)
    thumb = await store.url(
        cast(str, video.thumbnail_key), public=public, expires=int(svc.settings.media_url_ttl.total_seconds())
    )
    return playback, thumb or f"{base}/media/{video.id}/thumbnail.jpg{query}"


async def video_status(svc: Services, video_id: UUID, viewer_id: UUID | None, *, base_url: str) -> dict:
    """The owner sees every state; anyone else (None: an anonymous caller) only a ready video on
    a post they may see."""
    video = await get_video(svc, video_id)
    if video is None:
        raise VideoNotFound("no such video")
    if video.owner_id != viewer_id:
        async with svc.sessions() as s:
            post = await post_of(s, video_id)
        if video.status != "ready" or post is None or not await can_see(svc, viewer_id, post):
            raise VideoNotFound("no such video")
    playback, thumb = await links(svc, video, base_url=base_url)
    return {
        "video_id": str(video.id),
        "status": video.status,
        "progress": await current_progress(svc, video),
        "reason": video.reason,
        "playback_url": playback,
        "thumbnail_url": thumb,
        "duration": video.duration,
        "width": video.width,
        "height": video.height,
        "renditions": video.renditions,
    }
