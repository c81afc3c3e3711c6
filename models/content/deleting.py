"""Deleting a post (DELETE /posts/{id}, the deletePost mutation): only its author; anyone else
gets 404 as for a post that does not exist. One transaction removes the row (its comments,
remix links and feedback cascade), its video row, its images' rows, and stages `post.deleted`; the consumers of
that event drop what they derived from the post (models/core/topics.py: POSTS). Reaction
edges and counters stay in the engagement store, consistent with each other (`make reconcile`)
and read by nobody once the post is gone."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import delete

from models.content import post_images, post_videos, posts
from models.core import outbox
from models.core.errors import NotFound
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services


async def delete_post(svc: Services, *, actor_id: UUID, post_id: UUID) -> None:
    async with outbox.transaction(svc) as s:
        post = await s.get(posts.Post, post_id, with_for_update=True)
        if post is None or post.author_id != actor_id:
            raise NotFound("no such post", code="post_not_found")
        shots = await post_images.drop_with_post(s, post_id)  # before the post: post_images cascades
        await s.execute(delete(posts.Post).where(posts.Post.id == post_id))
        video = await post_videos.drop_with_post(s, post.video_id) if post.video_id else None
        outbox.stage(
            s,
            Event(
                "post.deleted",
                {
                    "post_id": str(post_id),
                    "author_id": str(post.author_id),
                    "kind": post.kind or "post",
                    "video_id": str(post.video_id) if post.video_id else None,
                    "original_key": video.original_key if video else None,
                    "image_ids": [str(i) for i in shots],
                },
                actor=actor_id,
            ),
        )
    posts.forget(post_id)
    # the author's cached feed pages are rebuilt; everyone else's drop it on read (models/discovery/feeds.py)
    await svc.redis.incr(posts.generation_key(post.author_id))
