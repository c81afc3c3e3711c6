"""Search index agent: post events -> `post_search` (models/discovery/search.py does the work).
Created, edited and restored posts are (re-)indexed from their rows as they are now, deleted ones
dropped, those moderation removed tombstoned; so order within a batch and redelivery do not
matter (events are keyed by post, so one post's events arrive in order anyway)."""

from __future__ import annotations

from models.core.events import Received
from models.core.topics import (
    POSTS,
    PostCreatedPayload,
    PostDeletedPayload,
    PostEditedPayload,
    PostRemoved,
    PostRestored,
)
from models.discovery import search
from streams.batch import batch_agent

_ACTIONS = {
    PostCreatedPayload: search.index_posts,
    PostEditedPayload: search.index_posts,
    PostRestored: search.restore_posts,
    PostRemoved: search.remove_posts,
    PostDeletedPayload: search.unindex_posts,
}


@batch_agent(POSTS, name="search_index", max_records=500)
async def search_index(events: list[Received], svc) -> None:
    """Applied in order, consecutive events of one kind as one statement (a batch of creations:
    one read of the posts, one insert)."""
    run: list = []
    action = None
    for e in events:
        act = _ACTIONS[type(e.payload)]
        if act is not action and run:
            await action(svc, run)  # type: ignore[misc]
            run = []
        action = act
        run.append(e.payload.post_id)
    if run:
        await action(svc, run)  # type: ignore[misc]
