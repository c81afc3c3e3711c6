"""Counters agent: reaction events -> edges and per-post counters in the engagement store, then
each changed post's counters -> Redis pub/sub (`post:<id>`) for the websockets."""
from __future__ import annotations

import logging

import orjson

from models.engagement import latest_per_edge, named
from models.reactions import change_from_event, counters_channel
from streams.batch import batch_agent
from streams.topics import REACTIONS

log = logging.getLogger(__name__)


@batch_agent(REACTIONS, name="counters", max_records=8000)
async def counters(events: list[dict], svc) -> None:
    changes = [c for c in map(change_from_event, events) if c is not None]
    updated = await svc.store.apply_reactions(latest_per_edge(changes))
    if not updated:
        return
    try:
        pipe = svc.redis.pipeline(transaction=False)
        for post_id, kinds in updated.items():
            pipe.publish(counters_channel(post_id), orjson.dumps(
                {"type": "counter.updated", "post_id": str(post_id), "counters": named(kinds)}))
        await pipe.execute()
    except Exception as exc:  # the store is the truth; a missed push is recovered by reading it
        log.warning("counter push failed", extra={"error": repr(exc), "posts": len(updated)})
