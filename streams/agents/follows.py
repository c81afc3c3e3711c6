"""Follows agent: follow events -> follow edges and follower/following counters in the engagement
store. Idempotent like the counters agent: an edge takes an event only if its id is newer, and
counters move only when an edge really flips."""

from __future__ import annotations

from dataclasses import replace

from models.core.events import Received
from models.core.topics import FOLLOWS, FollowPayload
from models.engagement import latest_per_edge
from models.social.blocks import blocked_among
from models.social.follows import change_from_event
from streams.batch import batch_agent


@batch_agent(FOLLOWS, name="follows", max_records=4000)
async def follows(events: list[Received[FollowPayload]], svc) -> None:
    changes = list(map(change_from_event, events))
    # A follow accepted just before a block committed (the API checked, then the block won) must
    # not outlive the block: applied as a removal with its own id, so a redelivery stays a no-op.
    blocked = await blocked_among(svc, [c.edge for c in changes if c.active])
    changes = [replace(c, active=False) if c.active and frozenset(c.edge) in blocked else c for c in changes]
    await svc.store.apply_follows(latest_per_edge(changes))
