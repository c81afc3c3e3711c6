"""Engagement counters: views, shares and comments -> edges and per-post counters in the engagement
store, the same exact path as reactions (streams/agents/counters.py): a view or a share is an edge
of its own keyed by its event id, a comment an edge keyed by the comment id (created -> active,
deleted -> inactive, newest event wins). A redelivered event finds its edge already at that event
and moves nothing. Changed counters are pushed to `post:<id>` like the reaction counters."""

from __future__ import annotations

from models.content import comments, views
from models.content.reactions import apply_changes, counters_of_kinds
from models.core.events import Received
from models.core.topics import COMMENTS, ENGAGEMENT, CommentDeletedPayload, CommentPayload, SharePayload, ViewPayload
from streams.batch import batch_agent


@batch_agent(ENGAGEMENT, name="engagement_counters", max_records=4000)
async def engagement_counters(events: list[Received[ViewPayload | SharePayload]], svc) -> None:
    await apply_changes(svc, map(views.change_from_event, events), counters_of_kinds)


@batch_agent(COMMENTS, name="comment_counters", max_records=2000)
async def comment_counters(events: list[Received[CommentPayload | CommentDeletedPayload]], svc) -> None:
    await apply_changes(svc, map(comments.change_from_event, events), counters_of_kinds)
