"""Reactions: the API turns them into events; the counters agent applies them to the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from uuid import UUID

import orjson

from models.content import posts, visibility
from models.core import idempotency
from models.core.events import Event, Received
from models.core.topics import REACTIONS, ReactionPayload
from models.engagement import ReactionChange, latest_per_edge, named

if TYPE_CHECKING:
    from infra.services import Services

ADDED, REMOVED = "reaction.added", "reaction.removed"
log = logging.getLogger(__name__)


async def react(
    svc: Services, *, user_id: UUID, post_id: UUID, type: str, add: bool, idempotency_key: str | None = None
) -> UUID:
    """Validate and publish; returns the event id (the write is accepted, applied shortly).
    A post the user may not see (circle, followers, a block) is 404 like a missing one."""
    await visibility.ensure_visible(svc, user_id, await posts.ensure_exists(svc, post_id))
    etype = ADDED if add else REMOVED
    payload = {"post_id": str(post_id), "user_id": str(user_id), "type": type}
    eid = await idempotency.event_id(svc, actor=user_id, key=idempotency_key, scope=etype, body=payload)
    await svc.producer.send(REACTIONS.name, str(post_id), Event(etype, payload, actor=user_id, id=eid))
    return eid


def change_from_event(event: Received[ReactionPayload]) -> ReactionChange:
    """reaction.added / reaction.removed -> the change of its (post, user, type) edge."""
    p = event.payload
    return ReactionChange(p.post_id, p.user_id, p.type, event.type == ADDED, event.id)


async def counters(svc: Services, post_id: UUID, viewer_id: UUID | None) -> dict[str, int]:
    await visibility.ensure_visible(svc, viewer_id, await posts.ensure_exists(svc, post_id))
    return await counters_of(svc, post_id)


async def counters_of(svc: Services, post_id: UUID) -> dict[str, int]:
    """The API's counter object of a post already known to exist."""
    return counters_of_kinds((await svc.store.get_counters([post_id]))[post_id])


# Counters of the other engagement edges (streams/agents/engagement.py), by stored kind.
ENGAGEMENT_COUNTERS = {"view": "views", "share": "shares", "comment": "comments"}


def counters_of_kinds(kinds: dict[str, int]) -> dict[str, int]:
    """Stored kinds -> reaction counters plus views, shares and comments."""
    return {**named(kinds), **{name: int(kinds.get(k, 0)) for k, name in ENGAGEMENT_COUNTERS.items()}}


def counters_channel(post_id) -> str:
    return f"post:{post_id}"


async def apply_changes(
    svc: Services, changes: Iterable[ReactionChange | None], shape: Callable[[dict[str, int]], dict[str, int]] = named
) -> None:
    """Edge changes -> the engagement store; each post whose counters moved -> `post:<id>`
    (its counters as `shape` names them). Used by the counters and engagement agents."""
    updated = await svc.store.apply_reactions(latest_per_edge(c for c in changes if c is not None))
    if not updated:
        return
    try:
        pipe = svc.redis.pipeline(transaction=False)
        for post_id, kinds in updated.items():
            pipe.publish(
                counters_channel(post_id),
                orjson.dumps({"type": "counter.updated", "post_id": str(post_id), "counters": shape(kinds)}),
            )
        await pipe.execute()
    except Exception as exc:  # the store is the truth; a missed push is recovered by reading it
        log.warning("counter push failed", extra={"error": repr(exc), "posts": len(updated)})
