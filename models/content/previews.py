"""What a shared link shows before anyone signs in (GET /p/{post_id}, docs/feeds.md#public-links):
a post as an anonymous caller may see it (public, not expired, its video ready), its author and
its thumbnail. A post a stranger may not see is NotFound, exactly as for the post itself."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.accounts import profiles
from models.content import post_videos, visibility
from models.media.videos import get_video

if TYPE_CHECKING:
    from infra.services import Services


async def preview(svc: Services, post_id: UUID, *, base_url: str) -> dict:
    post = await visibility.get_visible_post(svc, None, post_id)
    author = await profiles.get_profile(svc, post.author_id)
    thumbnail = None
    if post.video_id is not None and (video := await get_video(svc, post.video_id)) is not None:
        _, thumbnail = await post_videos.links(svc, video, base_url=base_url)
    return {
        "post_id": str(post.id),
        "kind": post.kind or "post",
        "caption": post.caption,
        "author": {"id": str(post.author_id), "username": author["username"], "display_name": author["display_name"]},
        "thumbnail_url": thumbnail,
        "video": post.video_id is not None,
    }
