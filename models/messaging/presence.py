"""Presence: who is online, kept in Redis only (docs/messages.md, "Presence").

A user is online while at least one of their websockets is live. Each socket is one member of
the sorted set `presence:conn:<user>`, scored by the time its entry expires; the socket refreshes
it every PRESENCE_REFRESH seconds, so the socket of a crashed API replica stops counting
PRESENCE_TTL after its last refresh instead of staying online forever. Transitions are detected
atomically (MULTI) on connect and close, whichever replica serves the socket.

`presence:seen:<user>` holds the last time a socket of the user was live (Unix ms).
`presence:hidden:<user>` exists when the user hides their presence.
`presence:pushed:<user>` holds the state last announced ("1"/"0"), so a flapping connection that
settles back where it was within PRESENCE_DEBOUNCE announces nothing, and two replicas never
announce the same transition twice.

Who may see a user's presence: the user; otherwise, unless a block exists either way or the user
hides it, people the user follows and people the user has a conversation (with a message) with.
Everyone else gets 404 `presence_not_visible`, the same answer whatever the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from sqlalchemy import select
from sqlalchemy.orm import aliased

from models.core.errors import Forbidden, NotFound
from models.core.events import new_id
from models.messaging.messages import ConversationMember, push
from models.social.blocks import blocked_among, blocked_either
from models.social.lookups import require_user

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

_settling: set[asyncio.Task] = set()  # debounced announcements in flight (kept referenced)


def _conn(user_id: UUID) -> str:
    return f"presence:conn:{user_id}"


def _seen(user_id: UUID) -> str:
    return f"presence:seen:{user_id}"


def _hidden(user_id: UUID) -> str:
    return f"presence:hidden:{user_id}"


def _pushed(user_id: UUID) -> str:
    return f"presence:pushed:{user_id}"


def channel(user_id: UUID) -> str:
    """The websocket topic `presence:<id>` (api/routes/ws.py) is this Redis channel."""
    return f"presence:{user_id}"


def _iso(ms: bytes | None) -> str | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat() if ms else None


# ------------------------------------------------------------------ connections (api/routes/ws.py)


async def _touch(svc: Services, user_id: UUID, conn: str, *, remove: bool) -> int:
    """Add/refresh or remove one connection; the number of live connections after it."""
    now = time.time()
    ttl = svc.settings.presence_ttl
    key = _conn(user_id)
    async with svc.redis.pipeline(transaction=True) as p:
        p.zremrangebyscore(key, "-inf", now)  # entries no socket refreshed any more
        if remove:
            p.zrem(key, conn)
        else:
            p.zadd(key, {conn: now + ttl})
        p.zcard(key)
        p.expire(key, int(ttl) + 1)
        p.set(_seen(user_id), int(now * 1000))
        return (await p.execute())[2]


async def connected(svc: Services, user_id: UUID, max_sockets: int | None = None) -> str:
    """A socket opened: its connection id. Announces "online" if it is the user's first.
    The entries are the user's live sockets on every replica, hence also the sockets-per-user
    cap (api/realtime/core.py): over `max_sockets`, the entry is taken back and the socket refused."""
    conn = str(new_id())
    live = await _touch(svc, user_id, conn, remove=False)
    if max_sockets is not None and live > max_sockets:
        await _touch(svc, user_id, conn, remove=True)
        raise Forbidden(f"at most {max_sockets} live sockets per user", code="too_many_sockets")
    if live == 1:
        _spawn(_settle(svc, user_id))
    return conn


async def keepalive(svc: Services, user_id: UUID, conn: str) -> None:
    """Runs for the socket's lifetime: refreshes its entry so it keeps counting."""
    while True:
        await asyncio.sleep(svc.settings.presence_refresh)
        try:
            await _touch(svc, user_id, conn, remove=False)
        except Exception as exc:  # Redis away for a moment: the next refresh repairs it
            log.warning("presence refresh failed", extra={"user_id": str(user_id), "error": repr(exc)})


def disconnected(svc: Services, user_id: UUID, conn: str) -> None:
    """A socket closed (called from its handler's `finally`, possibly while being cancelled:
    the work runs in its own task)."""
    _spawn(_close(svc, user_id, conn))


async def _close(svc: Services, user_id: UUID, conn: str) -> None:
    if await _touch(svc, user_id, conn, remove=True) == 0:
        await _settle(svc, user_id)


# ------------------------------------------------------------------ announcing transitions


def _spawn(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _settling.add(task)
    task.add_done_callback(_settling.discard)


async def _settle(svc: Services, user_id: UUID) -> None:
    """After the debounce, announce the state if it differs from the one last announced."""
    try:
        await asyncio.sleep(svc.settings.presence_debounce)
        state = await status(svc, user_id)
        now = b"1" if state["online"] else b"0"
        before = await svc.redis.set(_pushed(user_id), now, get=True)
        if before == now or (before is None and now == b"0"):
            return
        if await svc.redis.exists(_hidden(user_id)):
            return
        await _announce(svc, user_id, state)
    except Exception as exc:  # best effort: readers always get the truth from status()
        log.warning("presence announcement failed", extra={"user_id": str(user_id), "error": repr(exc)})


async def partners(svc: Services, user_id: UUID) -> list[UUID]:
    """The user's most recent conversation partners, without those with a block either way."""
    q = (
        select(ConversationMember.peer_id)
        .where(
            ConversationMember.user_id == user_id,
            ConversationMember.last_message_id.is_not(None),
            ConversationMember.peer_id.is_not(None),  # direct conversations (a group's members see the room's list)
        )
        .order_by(ConversationMember.last_message_id.desc())
        .limit(svc.settings.presence_push_partners)
    )
    async with svc.sessions() as s:
        peers = [p for p in (await s.execute(q)).scalars() if p is not None]
    blocked = await blocked_among(svc, [(user_id, p) for p in peers])
    return [p for p in peers if frozenset((user_id, p)) not in blocked]


async def _announce(svc: Services, user_id: UUID, state: dict) -> None:
    msg = {"type": "presence", **state}
    await push(svc, await partners(svc, user_id), msg)
    await svc.redis.publish(channel(user_id), orjson.dumps(msg))


# ------------------------------------------------------------------ reading and settings


async def status(svc: Services, user_id: UUID) -> dict:
    """{"user_id", "online", "last_seen_at"}, unchecked (the caller checked may_see)."""
    async with svc.redis.pipeline(transaction=False) as p:
        p.zcount(_conn(user_id), time.time(), "+inf")
        p.get(_seen(user_id))
        live, seen = await p.execute()
    return {"user_id": str(user_id), "online": live > 0, "last_seen_at": _iso(seen)}


async def ensure_may_see(svc: Services, viewer_id: UUID, user_id: UUID) -> None:
    if viewer_id == user_id:
        return
    await require_user(svc, user_id)
    hidden = NotFound("this user's presence is not visible to you", code="presence_not_visible")
    if await blocked_either(svc, viewer_id, user_id) or await svc.redis.exists(_hidden(user_id)):
        raise hidden
    if await svc.store.is_following(user_id, viewer_id):
        return
    async with svc.sessions() as s:
        talked = (
            await s.execute(
                select(ConversationMember.conversation_id)
                .where(
                    ConversationMember.user_id == user_id,
                    ConversationMember.peer_id == viewer_id,
                    ConversationMember.last_message_id.is_not(None),
                )
                .limit(1)
            )
        ).first()
        if not talked:  # fellow current members of a group
            mine = aliased(ConversationMember)
            talked = (
                await s.execute(
                    select(ConversationMember.conversation_id)
                    .join(mine, mine.conversation_id == ConversationMember.conversation_id)
                    .where(
                        ConversationMember.user_id == user_id,
                        ConversationMember.peer_id.is_(None),
                        ConversationMember.left_at.is_(None),
                        mine.user_id == viewer_id,
                        mine.left_at.is_(None),
                    )
                    .limit(1)
                )
            ).first()
    if not talked:
        raise hidden


async def online_among(svc: Services, viewer_id: UUID, user_ids: list[UUID]) -> dict[UUID, bool | None]:
    """Presence in a room the viewer is in (the caller checked that): online or not for each
    member, None where it is hidden or a block stands between them. One Redis round trip and
    one block lookup whatever the room's size."""
    if not user_ids:
        return {}
    now = time.time()
    async with svc.redis.pipeline(transaction=False) as p:
        for uid in user_ids:
            p.zcount(_conn(uid), now, "+inf")
            p.exists(_hidden(uid))
        got = await p.execute()
    blocked = await blocked_among(svc, [(viewer_id, u) for u in user_ids if u != viewer_id])
    out: dict[UUID, bool | None] = {}
    for i, uid in enumerate(user_ids):
        live, hidden = got[2 * i], got[2 * i + 1]
        if uid != viewer_id and (hidden or frozenset((viewer_id, uid)) in blocked):
            out[uid] = None
        else:
            out[uid] = live > 0
    return out


async def presence(svc: Services, viewer_id: UUID, user_id: UUID) -> dict:
    await ensure_may_see(svc, viewer_id, user_id)
    return await status(svc, user_id)


async def get_settings(svc: Services, user_id: UUID) -> dict:
    return {"visible": not await svc.redis.exists(_hidden(user_id))}


async def set_visible(svc: Services, user_id: UUID, visible: bool) -> dict:
    """Hiding stops reads by others and announcements; it takes effect at once."""
    if visible:
        await svc.redis.delete(_hidden(user_id))
    else:
        await svc.redis.set(_hidden(user_id), b"1")
    return {"visible": visible}
