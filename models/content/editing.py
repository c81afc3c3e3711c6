"""Editing a post: its caption and/or its visibility, by its author only (anyone else: 404, as if
it did not exist; moderators act through models/moderation). The caption's hashtags and mentions
are parsed again; `edited_at` is set; `post.edited` goes out through the outbox.

Not re-done on edit (they follow post.created only): the trending agent's hashtags of the post
and its recommendation embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.content import posts
from models.content.mentions import resolve_mentions
from models.core import outbox, screening, text
from models.core.base import utcnow
from models.core.errors import DomainError, NotFound
from models.core.events import Event
from models.social.circles import ensure_own_circle

if TYPE_CHECKING:
    from infra.services import Services

UNSET = object()


def _not_found() -> NotFound:
    return NotFound("no such post", code="post_not_found")


async def edit_post(
    svc: Services,
    *,
    actor_id: UUID,
    post_id: UUID,
    caption: str | None = None,
    visibility: str | None = None,
    circle_id: UUID | None | object = UNSET,
) -> posts.Post:
    """Fields left None are kept. Visibility "circle" needs `circle_id` (one of your circles),
    any other visibility clears it."""
    new_vis = visibility
    if new_vis is not None and (new_vis == "circle") != (circle_id not in (UNSET, None)):
        raise DomainError(
            'circle_id is required with visibility "circle" and only with it',
            code="validation_error",
            details=[{"field": "circle_id"}],
        )
    if new_vis is None and circle_id is not UNSET:
        raise DomainError("circle_id goes with visibility", code="validation_error", details=[{"field": "circle_id"}])
    if new_vis == "circle":
        await ensure_own_circle(svc, actor_id, circle_id)  # type: ignore[arg-type]
    review = await screening.screen(svc, caption, source="caption") if caption is not None else None
    async with outbox.transaction(svc) as s:
        post = await s.get(posts.Post, post_id, with_for_update=True)
        now = utcnow()
        if (
            post is None
            or post.author_id != actor_id
            or post.visibility == posts.REMOVED  # a moderator removed it: only an appeal brings it back
            or (post.expires_at is not None and post.expires_at <= now)
        ):
            raise _not_found()
        before = set(post.mentions or [])
        if caption is not None:
            post.caption = caption
            post.hashtags = text.hashtags(caption)
            post.mentions = await resolve_mentions(s, caption, svc.settings.post_max_mentions, what="post")
        if new_vis is not None:
            post.visibility = new_vis
            post.circle_id = circle_id if new_vis == "circle" else None  # type: ignore[assignment]
        post.edited_at = now
        await s.flush()
        if review:
            await screening.flag(
                s, svc, target_type="post", target_id=post.id, author_id=actor_id, source="caption", labels=review
            )
        outbox.stage(
            s,
            Event(
                "post.edited",
                {
                    "post_id": str(post.id),
                    "author_id": str(actor_id),
                    "caption": post.caption,
                    "visibility": post.visibility,
                    "circle_id": str(post.circle_id) if post.circle_id else None,
                    "hashtags": list(post.hashtags),
                    "mentions": [str(m) for m in post.mentions],
                    "new_mentions": [str(m) for m in post.mentions if m not in before],
                    "edited_at": now.isoformat(),
                },
                actor=actor_id,
            ),
        )
    # The author's cached feed pages miss at once; others' re-read the post on every read
    # (models/content/post_view.render_page), so the edit shows everywhere immediately.
    await svc.redis.incr(posts.generation_key(actor_id))
    posts.remember(post)
    return post
