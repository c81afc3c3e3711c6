"""Views and shares: events on `interactions.engagement`, counted by the engagement counters agent
(one edge per event id, so a redelivered event never counts twice).

A view counts when the viewer watched at least VIEW_MIN_WATCH_MS, once per viewer and post per
VIEW_DEDUPE_WINDOW (PeerTube's rule). The dedupe is a Redis key per (viewer, post) set with NX
and the window as TTL, holding the view's event id and whether the broker took it:
- first request: the key is created ("pending"), the event sent, the key marked "sent";
- a retry after a failed or unanswered send finds "pending" and sends the SAME event id again
  (counted once downstream), so a lost ack neither loses nor doubles the view;
- any request after "sent", until the window ends, is not counted.
Shares follow the same rule (once per user and post per SHARE_DEDUPE_WINDOW): a share is a
signal trending and the counters reward, so it must not be farmable by repetition.
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


def _share_key(user_id: UUID, post_id: UUID) -> str:
    return f"share:{user_id}:{post_id}"


async def _once(svc: Services, key: str, ttl: int, eid: UUID, event: Event, post_id: UUID) -> tuple[UUID, bool]:
    """Send `event` unless the key says one was already sent in its window; (event id, sent now).
    A "pending" key (a send that failed or went unanswered) re-sends its own event id."""
    if not await svc.redis.set(key, f"{eid}:pending", nx=True, ex=ttl):
        stored = cast(bytes | None, await svc.redis.get(key))
        if stored is None:  # the window ended in between: a new one
            return await _once(svc, key, ttl, eid, event, post_id)
        prior, state = stored.decode().split(":")
        if state == "sent":
            return UUID(prior), False
        eid = UUID(prior)
    await svc.producer.send(ENGAGEMENT.name, str(post_id), Event(event.type, event.payload, actor=event.actor, id=eid))
    await svc.redis.set(key, f"{eid}:sent", xx=True, keepttl=True)
    return eid, True


async def record_view(svc: Services, *, viewer_id: UUID, post_id: UUID, watched_ms: int) -> dict:
    """{"counted": bool, "event_id"?: str, "reason"?: "too_short" | "already_counted"}."""
    await get_visible_post(svc, viewer_id, post_id)
    settings = svc.settings
    if watched_ms < settings.view_min_watch_ms:
        return {"counted": False, "reason": "too_short", "min_watch_ms": settings.view_min_watch_ms}
    payload = {"post_id": str(post_id), "user_id": str(viewer_id), "watched_ms": watched_ms}
    eid, sent = await _once(
        svc,
        _view_key(viewer_id, post_id),
        int(settings.view_dedupe_window.total_seconds()),
        new_id(),
        Event(VIEW, payload, actor=viewer_id),
        post_id,
    )
    if not sent:
        return {"counted": False, "reason": "already_counted"}
    return {"counted": True, "event_id": str(eid)}


async def share(
    svc: Services, *, user_id: UUID, post_id: UUID, channel: str, idempotency_key: str | None = None
) -> dict:
    """A share of a post the user can see counts once per user and post per SHARE_DEDUPE_WINDOW,
    like a view: {"event_id", "counted", "reason"?}. Later shares in the window answer the counted
    share's event id with counted false; a retry with the first share's Idempotency-Key answers
    exactly what the first did."""
    await get_visible_post(svc, user_id, post_id)
    payload = {"post_id": str(post_id), "user_id": str(user_id), "channel": channel}
    wanted = await idempotency.event_id(svc, actor=user_id, key=idempotency_key, scope=SHARE, body=payload)
    eid, sent = await _once(
        svc,
        _share_key(user_id, post_id),
        int(svc.settings.share_dedupe_window.total_seconds()),
        wanted,
        Event(SHARE, payload, actor=user_id),
        post_id,
    )
    if sent or eid == wanted:
        return {"event_id": str(eid), "counted": True}
    return {"event_id": str(eid), "counted": False, "reason": "already_counted"}


def change_from_event(event: Received[ViewPayload | SharePayload]) -> ReactionChange:
    """A view or share -> an engagement-store edge of its own (subject = event id): the counter
    moves once per event id however often it is delivered."""
    kind = "view" if event.type == VIEW else "share"
    return ReactionChange(post_id=event.payload.post_id, user_id=event.id, type=kind, active=True, event_id=event.id)
