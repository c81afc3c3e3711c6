"""Counters agent: reaction events -> edges and per-post counters in the engagement store, then
each changed post's counters -> Redis pub/sub (`post:<id>`) for the websockets."""

from __future__ import annotations

from models.content.reactions import apply_changes, change_from_event
from models.core.events import Received
from models.core.topics import REACTIONS, ReactionPayload
from streams.batch import batch_agent


@batch_agent(REACTIONS, name="counters", max_records=8000, live=True)
async def counters(events: list[Received[ReactionPayload]], svc) -> None:
    await apply_changes(svc, map(change_from_event, events))
