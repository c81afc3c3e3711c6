"""Publishing a post: checks the circle, the video and the remix it names, writes the post with
its `post.created` event (outbox) in one transaction, then bumps the author's feed generation.
Posts themselves (table, reads, the existence cache) are models/content/posts.py."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.content import post_images, post_videos, posts, remixes
from models.content.mentions import resolve_mentions
from models.core import idempotency, outbox, screening, text
from models.core.base import utcnow
from models.core.errors import DomainError
from models.core.events import Event
from models.social.circles import ensure_own_circle

if TYPE_CHECKING:
    from infra.services import Services


async def create_post(
    svc: Services,
    *,
    author_id: UUID,
    caption: str,
    visibility: str,
    idempotency_key: str | None = None,
    circle_id: UUID | None = None,
    video_id: UUID | None = None,
    image_ids: list[UUID] | None = None,
    kind: str = "post",
    remix=None,
) -> posts.Post:
    """With an Idempotency-Key, a retry returns the post the first attempt created.
    "circle" needs `circle_id`, one of the author's circles (else 404 circle_not_found).
    kind "story": the post expires STORY_TTL after now and then exists for nobody.
    `image_ids`: a photo post, 1-10 of the author's own images in order (instead of `video_id`).
    `remix`: a models.content.remixes.RemixSpec (a duet or stitch of another post's video; needs `video_id`)."""
    if (visibility == "circle") != (circle_id is not None):
        raise DomainError(
            'circle_id is required with visibility "circle" and only with it',
            code="validation_error",
            details=[{"field": "circle_id"}],
        )
    if image_ids is not None:
        if video_id is not None:
            raise DomainError(
                "a post has a video or images, not both", code="video_and_images", details=[{"field": "image_ids"}]
            )
        post_images.check_ids(image_ids)
    if circle_id is not None:
        await ensure_own_circle(svc, author_id, circle_id)
    body: dict = {"caption": caption, "visibility": visibility}
    if circle_id is not None:
        body["circle_id"] = str(circle_id)
    if video_id is not None:  # your own uploaded video, processing or ready (post_videos.attach)
        body["video_id"] = str(video_id)
    if image_ids is not None:
        body["image_ids"] = [str(i) for i in image_ids]
    if kind != "post":
        body["kind"] = kind
    if remix is not None:
        if video_id is None:
            raise DomainError(
                "a duet or stitch needs its own video_id", code="remix_needs_video", details=[{"field": "video_id"}]
            )
        remix = await remixes.check(svc, author_id, remix)
        body.update(remix.body())
    post_id = await idempotency.event_id(svc, actor=author_id, key=idempotency_key, scope="post.create", body=body)
    review = await screening.screen(svc, caption, source="caption")  # reject: 422 content_rejected
    async with outbox.transaction(svc) as s:
        existing = await s.get(posts.Post, post_id)
        if existing is not None:
            return existing
        if video_id is not None:
            await post_videos.attach(s, video_id=video_id, owner_id=author_id)
        now = utcnow()
        expires_at = now + svc.settings.story_ttl if kind == "story" else None
        mentions = await resolve_mentions(s, caption, svc.settings.post_max_mentions, what="post")
        post = posts.Post(
            id=post_id,
            author_id=author_id,
            caption=caption,
            visibility=visibility,
            circle_id=circle_id,
            video_id=video_id,
            kind=kind,
            expires_at=expires_at,
            created_at=now,
            hashtags=text.hashtags(caption),
            mentions=mentions,
        )
        s.add(post)
        await s.flush()
        if review:
            await screening.flag(
                s, svc, target_type="post", target_id=post.id, author_id=author_id, source="caption", labels=review
            )
        if image_ids is not None:
            await post_images.attach(s, post_id=post.id, image_ids=image_ids, owner_id=author_id)
        if remix is not None:
            await remixes.add(s, post.id, remix)
        outbox.stage(
            s,
            Event(
                "post.created",
                {
                    "post_id": str(post.id),
                    "author_id": str(author_id),
                    "visibility": visibility,
                    "caption": caption,
                    "circle_id": str(circle_id) if circle_id else None,
                    "video_id": str(video_id) if video_id else None,
                    **({"image_ids": body["image_ids"]} if image_ids is not None else {}),
                    "kind": kind,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "hashtags": post.hashtags,
                    "mentions": [str(m) for m in mentions],
                    **(remix.body() if remix is not None else {}),
                },
                actor=author_id,
                id=post_id,
            ),
        )
    await svc.redis.incr(posts.generation_key(author_id))  # the author sees it in their feeds at once
    posts.remember(post)
    return post
