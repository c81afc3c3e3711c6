"""Hashtag agents (models/discovery/hashtags.py, docs/hashtags.md).

`hashtags` (content.posts): post.created, post.edited, post.deleted, post.removed and
post.restored -> the post's rows in the post <-> tag index are made to agree with its row in
PostgreSQL (its stored, normalised `hashtags`; none once it is deleted, removed by moderation
or a story), then the public post counts of every tag touched are recounted. A post.created
also records the author as a user of its tags (trending tags). Idempotent: the index follows the
post row, not the event, so redelivered, duplicated or reordered events change nothing.

`hashtag_engagement` (reactions, comments, views, shares): the engaged posts' sort=top scores
are re-read from the counters store, and each engaging user is recorded once per tag of the
post (public posts only) per TRENDING_STEP bucket for trending tags.
"""

from __future__ import annotations

from uuid import UUID

from models.core.events import Received
from models.core.topics import (
    COMMENTS,
    ENGAGEMENT,
    POSTS,
    REACTIONS,
    CommentPayload,
    PostCreatedPayload,
    PostRemoved,
    PostRestored,
    ReactionPayload,
    SharePayload,
    ViewPayload,
)
from models.discovery import hashtags as tags
from streams.batch import batch_agent


@batch_agent(POSTS, name="hashtags", max_records=500)
async def hashtags(events: list[Received], svc) -> None:
    for e in events:  # in partition order: a removal and a restoration of one post stay ordered
        if e.type in ("post.removed", "post.restored") and isinstance(e.payload, PostRemoved | PostRestored):
            await tags.set_removed(svc, e.payload.post_id, e.type == "post.removed")
    await tags.sync(svc, [e.payload.post_id for e in events])
    created = [e for e in events if isinstance(e.payload, PostCreatedPayload) and e.payload.visibility == "public"]
    listed = await tags.tags_of(svc, [e.payload.post_id for e in created], public_only=True)
    await tags.record_activity(
        svc, [(t, e.payload.author_id, e.ts) for e in created for t in listed.get(e.payload.post_id, [])]
    )


def _engaging(e: Received) -> tuple[UUID, UUID] | None:
    """(post, user) of an event that shows interest: a reaction added, a comment written, a
    counted view, a share; None for removals."""
    p = e.payload
    if isinstance(p, ReactionPayload):
        return (p.post_id, p.user_id) if e.type == "reaction.added" else None
    if isinstance(p, CommentPayload):
        return (p.post_id, p.author_id) if e.type == "comment.created" else None
    if isinstance(p, ViewPayload | SharePayload):
        return p.post_id, p.user_id
    return None


@batch_agent(REACTIONS, COMMENTS, ENGAGEMENT, name="hashtag_engagement", max_records=2000)
async def hashtag_engagement(events: list[Received], svc) -> None:
    posts = list(dict.fromkeys(e.payload.post_id for e in events))
    await tags.refresh_scores(svc, posts)
    listed = await tags.tags_of(svc, posts, public_only=True)
    uses = []
    for e in events:
        if (hit := _engaging(e)) and hit[0] in listed:
            uses += [(t, hit[1], e.ts) for t in listed[hit[0]]]
    await tags.record_activity(svc, uses)
