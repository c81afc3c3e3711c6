"""Views and shares: events on `interactions.engagement`, counted by the engagement counters agent
(one edge per event id, so a redelivered event never counts twice).

A view counts when the viewer watched at least VIEW_MIN_WATCH_MS, once per viewer and post per
VIEW_DEDUPE_WINDOW (PeerTube's rule). The dedupe is a Redis key per (viewer, post) set with NX
and the window as TTL, holding the view's event id and whether the broker took it:
- first request: the key is created ("pending"), the event sent, the key marked "sent";
- a retry after a failed or unanswered send finds "pending" and sends the SAME event id again
  (counted once downstream), so a lost ack neither loses nor doubles the view;
- any request after "sent", until the window ends, is not counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from uuid import UUID

from models.content.visibility import get_visible_post
from models.core import idempotency
from models.core.events import Event, Received, new_id
from models.core.topics import ENGAGEMENT, SharePayload, ViewPayload
from models.engagement import ReactionChange

if TYPE_CHECKING:
    from infra.services import Services

VIEW, SHARE = "view.counted", "share.created"
SHARE_CHANNELS = ("link", "dm", "whatsapp", "telegram", "facebook", "instagram", "x", "email", "sms", "other")


def _view_key(viewer_id: UUID, post_id: UUID) -> str:
    return f"view:{viewer_id}:{post_id}"


async def record_view(svc: Services, *, viewer_id: UUID, post_id: UUID, watched_ms: int) -> dict:
    """{"counted": bool, "event_id"?: str, "reason"?: "too_short" | "already_counted"}."""
    await get_visible_post(svc, viewer_id, post_id)
    settings = svc.settings
    if watched_ms < settings.view_min_watch_ms:
        return {"counted": False, "reason": "too_short", "min_watch_ms": settings.view_min_watch_ms}
    key, ttl = _view_key(viewer_id, post_id), int(settings.view_dedupe_window.total_seconds())
    eid = new_id()
    if not await svc.redis.set(key, f"{eid}:pending", nx=True, ex=ttl):
        stored = cast(bytes | None, await svc.redis.get(key))
        if stored is None:  # the window ended in between: this is a new view
            return await record_view(svc, viewer_id=viewer_id, post_id=post_id, watched_ms=watched_ms)
        prior, state = stored.decode().split(":")
        if state == "sent":
            return {"counted": False, "reason": "already_counted"}
        eid = UUID(prior)
    payload = {"post_id": str(post_id), "user_id": str(viewer_id), "watched_ms": watched_ms}
    await svc.producer.send(ENGAGEMENT.name, str(post_id), Event(VIEW, payload, actor=viewer_id, id=eid))
    await svc.redis.set(key, f"{eid}:sent", xx=True, keepttl=True)
    return {"counted": True, "event_id": str(eid)}


async def share(
    svc: Services, *, user_id: UUID, post_id: UUID, channel: str, idempotency_key: str | None = None
) -> UUID:
    """Publish a share of a post the user can see; returns the event id."""
    await get_visible_post(svc, user_id, post_id)
    payload = {"post_id": str(post_id), "user_id": str(user_id), "channel": channel}
    eid = await idempotency.event_id(svc, actor=user_id, key=idempotency_key, scope=SHARE, body=payload)
    await svc.producer.send(ENGAGEMENT.name, str(post_id), Event(SHARE, payload, actor=user_id, id=eid))
    return eid


def change_from_event(event: Received[ViewPayload | SharePayload]) -> ReactionChange:
    """A view or share -> an engagement-store edge of its own (subject = event id): the counter
    moves once per event id however often it is delivered."""
    kind = "view" if event.type == VIEW else "share"
    return ReactionChange(post_id=event.payload.post_id, user_id=event.id, type=kind, active=True, event_id=event.id)
