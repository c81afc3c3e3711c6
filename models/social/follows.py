"""Follows: the API turns them into events on `users.follows`; the follows agent applies them to
the engagement store (edges + per-user counters), idempotently, last writer (by event id) wins
per edge — exactly as reactions do (models/content/reactions.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from models.core import cursors, idempotency
from models.core.errors import DomainError
from models.core.events import Event, Received
from models.core.topics import FOLLOWS, FollowPayload
from models.engagement import FollowChange, FollowLink
from models.social.blocks import ensure_not_blocked
from models.social.lookups import people, require_user

if TYPE_CHECKING:
    from infra.services import Services

ADDED, REMOVED = "follow.added", "follow.removed"


async def follow(
    svc: Services, *, follower_id: UUID, followee_id: UUID, add: bool, idempotency_key: str | None = None
) -> UUID:
    """Validate and publish; returns the event id (accepted, applied shortly). Following someone
    who blocked you (or whom you blocked) is 403 `blocked`; unfollowing always goes through."""
    if follower_id == followee_id:
        raise DomainError("you cannot follow yourself", code="cannot_follow_self")
    await require_user(svc, followee_id)
    if add:
        await ensure_not_blocked(svc, follower_id, followee_id)
    etype = ADDED if add else REMOVED
    payload = {"follower_id": str(follower_id), "followee_id": str(followee_id)}
    eid = await idempotency.event_id(svc, actor=follower_id, key=idempotency_key, scope=etype, body=payload)
    await svc.producer.send(FOLLOWS.name, str(followee_id), Event(etype, payload, actor=follower_id, id=eid))
    return eid


def change_from_event(event: Received[FollowPayload]) -> FollowChange:
    """follow.added / follow.removed -> the change of its (follower, followee) edge."""
    p = event.payload
    return FollowChange(p.follower_id, p.followee_id, event.type == ADDED, event.id)


async def follow_counts(svc: Services, user_id: UUID) -> dict[str, int]:
    """{"followers": n, "following": n} (zeros for a user nobody follows; existence not checked)."""
    return (await svc.store.get_follow_counts([user_id]))[user_id]


def _at(event_id: UUID) -> str:
    """The time a UUIDv7 carries (its first 48 bits: Unix milliseconds)."""
    ms = int.from_bytes(event_id.bytes[:6], "big")
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def _page(svc: Services, direction: str, user_id: UUID, viewer_id: UUID, cursor: str | None, limit: int) -> dict:
    await require_user(svc, user_id)
    await ensure_not_blocked(svc, viewer_id, user_id)
    after = None
    if cursor:
        since, other = cursors.decode_ids(cursor, 2)
        after = FollowLink(user_id=other, since=since)
    lister = svc.store.list_followers if direction == "followers" else svc.store.list_following
    links = await lister(user_id, after=after, limit=limit + 1)
    more, links = len(links) > limit, links[:limit]
    found = await people(svc, [link.user_id for link in links])
    # The cursor is the last edge's keyset even when its account is gone, so paging never stalls.
    return {
        "items": [
            {"user": found[link.user_id], "followed_at": _at(link.since)} for link in links if link.user_id in found
        ],
        "next_cursor": cursors.encode_ids(links[-1].since, links[-1].user_id) if more else None,
    }


async def followers(
    svc: Services, user_id: UUID, *, viewer_id: UUID, cursor: str | None = None, limit: int = 50
) -> dict:
    """Who follows `user_id`, newest first: {"items": [{"user", "followed_at"}], "next_cursor"}.
    Refused (403 `blocked`) between users with a block either way."""
    return await _page(svc, "followers", user_id, viewer_id, cursor, limit)


async def following(
    svc: Services, user_id: UUID, *, viewer_id: UUID, cursor: str | None = None, limit: int = 50
) -> dict:
    """Whom `user_id` follows, newest first; same shape and rules as `followers`."""
    return await _page(svc, "following", user_id, viewer_id, cursor, limit)


async def followers_only(svc: Services, viewer_id: UUID | None, post) -> bool:
    """Visibility rule "followers" (models/content/visibility.py): the viewer follows the author."""
    return viewer_id is not None and await svc.store.is_following(viewer_id, post.author_id)
