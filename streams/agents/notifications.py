"""Notifications agent: reactions, comments (replies, mentions), follows, direct messages and
sanctions on your account (moderation.sanctions: the rule and the reason) ->
aggregated notifications in PostgreSQL (models/messaging/notifications.py), pushed live to `user:<id>`.
Idempotent by (event id, recipient), so a redelivered batch changes nothing. Duets and stitches come
from post.created (content.posts); post.deleted removes the post's notifications. One agent, one consumer per topic."""

from __future__ import annotations

from models.core.events import Received
from models.core.topics import COMMENTS, FOLLOWS, MESSAGES, MODERATION_SANCTIONS, POSTS, REACTIONS
from models.messaging import notifications as store
from streams.batch import batch_agent


# The consumer groups of the five one-topic agents this one replaced: committed offsets carry over.
@batch_agent(
    POSTS,
    COMMENTS,
    FOLLOWS,
    REACTIONS,
    MESSAGES,
    MODERATION_SANCTIONS,
    name="notifications",
    max_records={REACTIONS: 4000},
    groups={
        POSTS: "notifications_posts",
        COMMENTS: "notifications_comments",
        FOLLOWS: "notifications_follows",
        REACTIONS: "notifications_reactions",
        MESSAGES: "notifications_messages",
        MODERATION_SANCTIONS: "notifications_sanctions",
    },
)
async def notifications(events: list[Received], svc) -> None:
    await store.push_unread(svc, await store.forget_posts(svc, events))
    authors = await store.post_authors(svc, events)
    found = [n for e in events for n in store.notices(e, authors)] + await store.sanction_notices(svc, events)
    await store.push_changed(svc, await store.apply(svc, found))
