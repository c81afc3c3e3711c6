"""Reactions: the API turns them into events; the counters agent applies them to the store."""
from __future__ import annotations

from uuid import UUID

from models import idempotency, posts
from models.engagement import ReactionChange, named
from models.events import Event
from streams.topics import REACTIONS

ADDED, REMOVED = "reaction.added", "reaction.removed"


async def react(svc, *, user_id: UUID, post_id: UUID, type: str, add: bool,
                idempotency_key: str | None = None) -> UUID:
    """Validate and publish; returns the event id (the write is accepted, applied shortly)."""
    await posts.ensure_exists(svc, post_id)
    etype = ADDED if add else REMOVED
    payload = {"post_id": str(post_id), "user_id": str(user_id), "type": type}
    eid = await idempotency.event_id(svc, actor=user_id, key=idempotency_key, scope=etype, body=payload)
    await svc.producer.send(REACTIONS.name, str(post_id), Event(etype, payload, actor=user_id, id=eid))
    return eid


def change_from_event(event: dict) -> ReactionChange | None:
    """Envelope dict -> ReactionChange; None for event types this topic may gain later."""
    etype = event["type"]
    if etype not in (ADDED, REMOVED):
        return None
    p = event["payload"]
    return ReactionChange(post_id=UUID(p["post_id"]), user_id=UUID(p["user_id"]), type=p["type"],
                          active=etype == ADDED, event_id=UUID(event["id"]))


async def counters(svc, post_id: UUID) -> dict[str, int]:
    await posts.ensure_exists(svc, post_id)
    return await counters_of(svc, post_id)


async def counters_of(svc, post_id: UUID) -> dict[str, int]:
    """The API's counter object of a post already known to exist."""
    return named((await svc.store.get_counters([post_id]))[post_id])


def counters_channel(post_id) -> str:
    return f"post:{post_id}"
