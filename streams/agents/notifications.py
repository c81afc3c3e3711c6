"""Notifications agent: reactions, comments (replies, mentions), follows and direct messages ->
aggregated notifications in PostgreSQL (models/messaging/notifications.py), pushed live to `user:<id>`.
Idempotent by (event id, recipient), so a redelivered batch changes nothing. Duets and stitches come
from post.created (content.posts). One batch agent per topic, one handler."""

from __future__ import annotations

from models.core.topics import COMMENTS, FOLLOWS, MESSAGES, POSTS, REACTIONS
from models.messaging import notifications
from streams.batch import batch_agent


async def notify(events: list[dict], svc) -> None:
    authors = await notifications.post_authors(svc, events)
    found = [n for e in events for n in notifications.notices(e, authors)]
    await notifications.push_changed(svc, await notifications.apply(svc, found))


notifications_reactions = batch_agent(REACTIONS, name="notifications_reactions", max_records=4000)(notify)
notifications_comments = batch_agent(COMMENTS, name="notifications_comments")(notify)
notifications_follows = batch_agent(FOLLOWS, name="notifications_follows")(notify)
notifications_messages = batch_agent(MESSAGES, name="notifications_messages")(notify)
notifications_posts = batch_agent(POSTS, name="notifications_posts")(notify)
