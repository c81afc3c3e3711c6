"""What a moderation case can be about, and what `remove` / `restore` do to it.

One `Target` per target type: `locate` answers the author of a target the reporter may see (else
NotFound, the same 404 as for nothing: no oracle), `author` the author for a flag, `remove` takes
the content down inside the decision's transaction and returns what `restore` needs to put it back
(an overturned appeal), `show` is what a moderator sees on the case. Types of this domain and below
are here (post, comment, user, video, image); a higher domain registers its own at start-up
(`register`: messaging's "message", infra/services.wire_domains).

A post is removed by giving it visibility `removed` (models/content/posts.REMOVED: nobody sees it,
its author included) and its video `rejected` with reason `removed` (no longer served, signed
links included); the visibility and video status it had are kept in the decision. Comments and
messages get `removed_at`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.accounts.users import User
from models.content import comments, post_images, post_videos, posts, visibility
from models.content.post_images import PostImage
from models.core import outbox
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import Event
from models.media import images, videos
from models.social.lookups import people

if TYPE_CHECKING:
    from infra.services import Services

After = Callable[["Services"], Awaitable[None]]


class TargetNotFound(NotFound):
    code = "target_not_found"


@dataclass
class Removal:
    """What a removal did: `info` for restore (JSON), the media it quarantined, the work to do
    after commit (cache evictions, pushes)."""

    info: dict = field(default_factory=dict)
    media: list[tuple[str, UUID]] = field(default_factory=list)  # ("video" | "image", id)
    after: list[After] = field(default_factory=list)


class Target:
    kind = ""
    reportable = True
    removable = True

    async def locate(self, svc: Services, viewer_id: UUID, target_id: UUID) -> UUID:
        raise TargetNotFound("no such target")

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        raise NotImplementedError

    async def remove(self, s: AsyncSession, target_id: UUID, decision_id: UUID) -> Removal:
        raise DomainError(f"a {self.kind} cannot be removed", code="invalid_action")

    async def restore(self, s: AsyncSession, target_id: UUID, info: dict, decision_id: UUID) -> list[After]:
        raise DomainError(f"a {self.kind} cannot be restored", code="invalid_action")

    async def release(self, s: AsyncSession, target_id: UUID) -> list[After]:
        """`restore` of content no decision removed (a video or image the classifier held)."""
        raise Conflict(f"this {self.kind} was not removed", code="not_removed")

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        return None


TARGETS: dict[str, Target] = {}


def register(target: Target) -> None:
    """A domain above moderation adds the target type it owns (idempotent)."""
    TARGETS[target.kind] = target


def get(kind: str) -> Target:
    target = TARGETS.get(kind)
    if target is None:
        raise DomainError(f"unknown target type {kind!r}", code="invalid_target_type")
    return target


async def _video_view(svc: Services, video: videos.Video, *, base_url: str) -> dict:
    playback, thumb = await post_videos.links(svc, video, base_url=base_url, public=False)
    return {
        "id": str(video.id),
        "status": video.status,
        "reason": video.reason,
        "playback_url": playback,
        "thumbnail_url": thumb,
    }


def _forget_post(post_id: UUID, author_id: UUID) -> After:
    async def run(svc: Services) -> None:
        posts.forget(post_id)
        await svc.redis.incr(posts.generation_key(author_id))  # the author's cached feed pages

    return run


def _push_video(video: videos.Video) -> After:
    async def run(svc: Services) -> None:
        await videos.push_status(svc, video)

    return run


class PostTarget(Target):
    kind = "post"

    async def locate(self, svc: Services, viewer_id: UUID, target_id: UUID) -> UUID:
        return (await visibility.get_visible_post(svc, viewer_id, target_id)).author_id

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        return (await s.execute(select(posts.Post.author_id).where(posts.Post.id == target_id))).scalar_one_or_none()

    async def remove(self, s: AsyncSession, target_id: UUID, decision_id: UUID) -> Removal:
        post = await s.get(posts.Post, target_id, with_for_update=True)
        if post is None:
            raise TargetNotFound("the post is gone (deleted by its author)")
        if post.visibility == posts.REMOVED:
            raise Conflict("this post is already removed", code="already_removed")
        out = Removal(info={"visibility": post.visibility})
        post.visibility = posts.REMOVED
        if post.video_id is not None:
            video = await s.get(videos.Video, post.video_id, with_for_update=True)
            if video is not None:
                out.info["video"] = {"status": video.status, "reason": video.reason}
                video.status, video.reason, video.updated_at = "rejected", "removed", utcnow()
                out.media.append(("video", video.id))
                out.after.append(_push_video(video))
        image_ids = (await s.execute(select(PostImage.image_id).where(PostImage.post_id == target_id))).scalars()
        out.media += [("image", i) for i in image_ids]
        payload = {"post_id": str(post.id), "author_id": str(post.author_id), "decision_id": str(decision_id)}
        outbox.stage(s, Event("post.removed", payload, actor=post.author_id))
        out.after.append(_forget_post(post.id, post.author_id))
        return out

    async def restore(self, s: AsyncSession, target_id: UUID, info: dict, decision_id: UUID) -> list[After]:
        post = await s.get(posts.Post, target_id, with_for_update=True)
        if post is None:
            raise TargetNotFound("the post is gone (deleted by its author)")
        after: list[After] = [_forget_post(post.id, post.author_id)]
        if post.visibility == posts.REMOVED:
            post.visibility = info.get("visibility", "public")
        if post.video_id is not None and "video" in info:
            video = await s.get(videos.Video, post.video_id, with_for_update=True)
            if video is not None and video.status == "rejected" and video.reason == "removed":
                video.status, video.reason = info["video"]["status"], info["video"]["reason"]
                video.updated_at = utcnow()
                after.append(_push_video(video))
        payload = {"post_id": str(post.id), "author_id": str(post.author_id), "decision_id": str(decision_id)}
        outbox.stage(s, Event("post.restored", payload, actor=post.author_id))
        return after

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        async with svc.sessions() as s:
            post = await s.get(posts.Post, target_id)
            video = await s.get(videos.Video, post.video_id) if post is not None and post.video_id else None
        if post is None:
            return None
        shots = await post_images.images_for_posts(svc, [post.id], base_url=base_url)
        return {
            "post": posts.public(post),
            "video": await _video_view(svc, video, base_url=base_url) if video is not None else None,
            "images": shots.get(post.id, []),
        }


class CommentTarget(Target):
    kind = "comment"

    async def locate(self, svc: Services, viewer_id: UUID, target_id: UUID) -> UUID:
        c, _post = await comments.get_visible(svc, viewer_id, target_id)
        return c.author_id

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        q = select(comments.Comment.author_id).where(comments.Comment.id == target_id)
        return (await s.execute(q)).scalar_one_or_none()

    async def remove(self, s: AsyncSession, target_id: UUID, decision_id: UUID) -> Removal:
        c = await s.get(comments.Comment, target_id, with_for_update=True)
        if c is None:
            raise TargetNotFound("the comment is gone (deleted)")
        if c.removed_at is not None:
            raise Conflict("this comment is already removed", code="already_removed")
        c.removed_at = utcnow()
        return Removal()

    async def restore(self, s: AsyncSession, target_id: UUID, info: dict, decision_id: UUID) -> list[After]:
        c = await s.get(comments.Comment, target_id, with_for_update=True)
        if c is None:
            raise TargetNotFound("the comment is gone (deleted)")
        c.removed_at = None
        return []

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        async with svc.sessions() as s:
            c = await s.get(comments.Comment, target_id)
        return None if c is None else {"comment": {**comments.public(c), "removed": c.removed_at is not None}}


class UserTarget(Target):
    kind = "user"
    removable = False

    async def locate(self, svc: Services, viewer_id: UUID, target_id: UUID) -> UUID:
        async with svc.sessions() as s:
            if await s.get(User, target_id) is None:
                raise NotFound("no such user", code="user_not_found")
        return target_id

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        return target_id

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        found = await people(svc, [target_id])
        return {"user": found[target_id]} if target_id in found else None


class VideoTarget(Target):
    """A video an automatic check flagged (the NSFW agent's cases): not reportable (users report
    the post). `restore` of a held video makes it ready, as approving its NSFW case does."""

    kind = "video"
    reportable = False

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        q = select(videos.Video.owner_id).where(videos.Video.id == target_id)
        return (await s.execute(q)).scalar_one_or_none()

    async def remove(self, s: AsyncSession, target_id: UUID, decision_id: UUID) -> Removal:
        video = await s.get(videos.Video, target_id, with_for_update=True)
        if video is None:
            raise TargetNotFound("the video is gone")
        if video.status == "rejected" and video.reason == "removed":
            raise Conflict("this video is already removed", code="already_removed")
        info: dict[str, Any] = {"video": {"status": video.status, "reason": video.reason}}
        video.status, video.reason, video.updated_at = "rejected", "removed", utcnow()
        return Removal(info=info, media=[("video", video.id)], after=[_push_video(video)])

    async def restore(self, s: AsyncSession, target_id: UUID, info: dict, decision_id: UUID) -> list[After]:
        video = await s.get(videos.Video, target_id, with_for_update=True)
        if video is None:
            raise TargetNotFound("the video is gone")
        if video.status == "rejected" and video.reason == "removed":
            video.status, video.reason = info["video"]["status"], info["video"]["reason"]
            video.updated_at = utcnow()
        return [_push_video(video)]

    async def release(self, s: AsyncSession, target_id: UUID) -> list[After]:
        changed = await videos.apply_decision(s, target_id, "approve")
        if changed is None:
            raise Conflict("this video is not held", code="not_removed")
        return [_push_video(changed)]

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        async with svc.sessions() as s:
            video = await s.get(videos.Video, target_id)
            post_id = (
                await s.execute(select(posts.Post.id).where(posts.Post.video_id == target_id))
            ).scalar_one_or_none()
        if video is None:
            return None
        return {"video": await _video_view(svc, video, base_url=base_url), "post_id": post_id and str(post_id)}


class ImageTarget(Target):
    """An image an automatic check flagged: not reportable (users report the post); `restore` of
    a held image makes it ready. Removing a single image is not supported yet (remove the post)."""

    kind = "image"
    reportable = False
    removable = False

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        q = select(images.Image.owner_id).where(images.Image.id == target_id)
        return (await s.execute(q)).scalar_one_or_none()

    async def release(self, s: AsyncSession, target_id: UUID) -> list[After]:
        image = await s.get(images.Image, target_id, with_for_update=True)
        if image is None or image.status != "in_review":
            raise Conflict("this image is not held", code="not_removed")
        image.status = "ready"
        return []

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        async with svc.sessions() as s:
            image = await s.get(images.Image, target_id)
        return None if image is None else {"image": await images.view(svc, image, public=False, base_url=base_url)}


for _t in (PostTarget(), CommentTarget(), UserTarget(), VideoTarget(), ImageTarget()):
    register(_t)
