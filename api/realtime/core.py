"""The realtime core: one client socket (`Connection`), whatever its face (/ws, GraphQL
subscriptions, Socket.IO). Faces only translate; everything a socket may do is decided here
(docs/realtime.md, docs/realtime-protocol.md):

- authentication with an access token; the socket belongs to that session and closes when the
  session ends (`session.revoked` on the user's own channel, models/accounts/sessions.announce_ended)
  or when the token expires, unless the client re-authenticated in-band first (`reauthenticate`);
- topic authorization with the REST read rules (models/content/visibility.py for `post:<id>`,
  models/messaging/presence.py for `presence:<id>`), re-checked before a push once
  REALTIME_RECHECK seconds have passed since the last check. Re-checking at delivery, rather
  than listening for each kind of change, covers every way a right ends (unfollow, block, a
  circle left, a subscription lapsed, a story expired) without every domain announcing it; the
  cache bounds the cost to one check per socket and topic per REALTIME_RECHECK;
- caps: topics per socket, sockets per user (Redis, so across replicas), messages per second,
  message size;
- fan-out through Redis (api/realtime/hub.py), so any replica serves any socket.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from uuid import UUID

import orjson

from models.accounts import sessions
from models.content import visibility
from models.content.posts import ensure_exists
from models.core.errors import DomainError, NotFound
from models.messaging import messages, presence
from models.moderation import sanctions
from models.privacy import erasure

log = logging.getLogger(__name__)

# Close codes (RFC 6455 private range 4000-4999, and 1009 from the RFC itself).
CLOSE_UNAUTHORIZED = 4401  # no, a bad, or an expired token (at connect or once it expires); a session already revoked
CLOSE_SESSION_ENDED = 4403  # logout, session revoked, refresh-token reuse, password change, suspension, ban
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_MESSAGE_TOO_LARGE = 1009
CLOSE_TRY_AGAIN = 1013  # a dependency failed while opening

_TOPIC = re.compile(r"^(post|presence):([0-9a-fA-F-]{32,36})$")
QUEUE_SIZE = 1000  # pushes waiting for a slow client; beyond it the hub drops (best effort)


class RealtimeError(Exception):
    """A refusal with a stable `code`; `close_code` is set when the socket must be closed."""

    def __init__(self, code: str, message: str, close_code: int | None = None):
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code

    def as_push(self) -> dict:
        return {"type": "error", "code": self.code, "message": self.message}


class ConnectionClosed(RealtimeError):
    """The core ended the connection; close_code/close_reason say why."""

    @property
    def close_reason(self) -> str:
        return self.code


_ENDED_MESSAGES = {
    "session_revoked": "this session has been signed out",
    "refresh_token_reused": "this session was revoked: its refresh token was used twice",
    "password_changed": "the password was changed; sign in again",
    "account_suspended": "this account is suspended",
    "account_banned": "this account is banned",
    "account_pending_deletion": "this account is being deleted; cancel the deletion to use it again",
    "token_expired": "the access token has expired: authenticate again with a fresh one",
}


class _Tagged:
    """What the hub fills for one channel of one connection: pushes keep their channel, and the
    connection's control messages act at once, not behind a queue of pushes."""

    __slots__ = ("conn", "channel")

    def __init__(self, conn: Connection, channel: str):
        self.conn, self.channel = conn, channel

    def put_nowait(self, text: str) -> None:
        conn = self.conn
        if conn.closed.is_set():
            return  # nothing reaches a socket after its end
        if '"session.revoked"' in text and self.channel == conn.own_channel and conn._hear_revocation(text):
            return
        conn.queue.put_nowait((self.channel, text))  # QueueFull goes back to the hub: dropped


class Push(dict):
    """A push as /ws sends it, parsed once per hub message for every local socket; `text` is its
    JSON as published, which /ws relays as is (serialized once, not once per socket). Shared
    between sockets: never mutated."""

    __slots__ = ("text",)
    text: str


_RECENT = 256  # hub messages whose parsed push is kept (one fan-out wakes its sockets together)
_recent: dict[str, Push | None] = {}


def _parse(text: str) -> Push | None:
    """The push of a hub message (None: not a JSON object), parsed once for every socket: the hub
    hands the same str object to each, so the lookup is an identity hit."""
    try:
        return _recent[text]
    except KeyError:
        pass
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        msg = None
    push = None
    if isinstance(msg, dict):
        push = Push(msg)
        push.text = text
    _recent[text] = push
    if len(_recent) > _RECENT:
        del _recent[next(iter(_recent))]
    return push


class _PostChecks:
    """Re-checks of one post that fall due together (one push reaching many local sockets: the
    hub wakes them all in one loop iteration) run as one batch, visibility.who_can_see: one
    post lookup and one block MGET instead of one per socket."""

    def __init__(self):
        self._pending: dict[str, dict[UUID, list[asyncio.Future]]] = {}
        self._running: set[asyncio.Task] = set()

    async def visible(self, svc, channel: str, user_id: UUID) -> bool:
        loop = asyncio.get_running_loop()
        batch = self._pending.get(channel)
        if batch is None:
            batch = self._pending[channel] = {}
            loop.call_soon(self._start, svc, channel)
        done = loop.create_future()
        batch.setdefault(user_id, []).append(done)
        return await done

    def _start(self, svc, channel: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(svc, channel))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, svc, channel: str) -> None:
        batch = self._pending.pop(channel)
        try:
            ref = await ensure_exists(svc, UUID(channel.partition(":")[2]))
            allowed = await visibility.who_can_see(svc, list(batch), ref)
        except NotFound:
            allowed = set()
        except Exception as exc:
            for waiting in batch.values():
                for done in waiting:
                    if not done.done():
                        done.set_exception(exc)
            return
        for user_id, waiting in batch.items():
            for done in waiting:
                if not done.done():
                    done.set_result(user_id in allowed)


_post_checks = _PostChecks()


class Connection:
    """One client socket. Open with `Connection.open`, then `subscribe`/`unsubscribe`/`typing` as
    the client asks, `admit` every inbound message, and relay `next_push` until it raises
    ConnectionClosed; `close` in a `finally`."""

    def __init__(self, app, principal: sessions.Principal, face: str):
        self.svc = app.config["SERVICES"]
        self.hub = app.config["HUB"]
        self.settings = self.svc.settings
        self.user_id: UUID = principal.user_id
        self.session_id: UUID = principal.session_id
        self.face = face
        self.own_channel = f"user:{self.user_id}"
        self.queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._sinks: dict[str, _Tagged] = {}
        self._recheck_at: dict[str, float] = {}  # topic -> when its right is checked again
        self._presence_conn: str | None = None
        self._keepalive: asyncio.Task | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self.expires_at: float | None = None  # the token's `exp` (epoch seconds)
        self._released = False
        rate = self.settings.realtime_max_messages_per_second
        self._tokens, self._rate, self._last = rate, rate, time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, app, token: str | None, *, face: str) -> Connection:
        """Authenticates, enforces sockets-per-user, joins `user:<id>`, starts presence.
        RealtimeError(close_code=4401 | 4429) when refused."""
        try:
            return await cls._open(app, token, face)
        except RealtimeError:
            raise
        except Exception:  # Redis away or overloaded: the client is told to retry, never just dropped
            log.exception("realtime connection failed to open", extra={"face": face})
            raise RealtimeError("unavailable", "try again in a moment", CLOSE_TRY_AGAIN) from None

    @classmethod
    async def _open(cls, app, token: str | None, face: str) -> Connection:
        svc = app.config["SERVICES"]
        principal, expires_at = await _authenticate(svc, token)
        conn = cls(app, principal, face)
        conn._expire_at(expires_at)
        try:
            conn._presence_conn = await presence.connected(
                svc, conn.user_id, max_sockets=svc.settings.realtime_max_sockets_per_user
            )
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message, CLOSE_TOO_MANY_SOCKETS) from None
        try:
            await conn._listen(conn.own_channel)
            # A revocation published before the hub listened was not heard: look once more.
            await _authenticate(svc, token)
        except BaseException:
            await conn.close()
            raise
        conn._keepalive = asyncio.get_running_loop().create_task(
            presence.keepalive(svc, conn.user_id, conn._presence_conn)
        )
        return conn

    async def close(self) -> None:
        """Idempotent: releases subscriptions, the presence entry (and so the socket's count)."""
        if not self.closed.is_set():
            self._end(None, None)
        if self._released:
            return
        self._released = True
        if self._expiry is not None:
            self._expiry.cancel()
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self._presence_conn is not None:
            presence.disconnected(self.svc, self.user_id, self._presence_conn)
        for channel, sink in self._sinks.items():
            self.hub.unsubscribe(channel, sink)
        self._sinks.clear()
        self._recheck_at.clear()

    def _end(self, code: int | None, reason: str | None) -> None:
        if self.closed.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self.closed.set()
        while not self.queue.empty():  # what was still waiting is not delivered after the end
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def _expire_at(self, expires_at: float) -> None:
        """Ends the connection (4401 `token_expired`) when the token it was opened or last
        re-authenticated with expires."""
        if self._expiry is not None:
            self._expiry.cancel()
        self.expires_at = expires_at
        self._expiry = asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()), self._end, CLOSE_UNAUTHORIZED, "token_expired"
        )

    async def reauthenticate(self, token: str | None) -> None:
        """In-band re-authentication (/ws `auth`, Socket.IO `auth`): a fresh access token of the
        same user moves the socket to that token's session and expiry. A refused token is an
        error (no close): the socket keeps its current token until it expires."""
        try:
            principal, expires_at = await _authenticate(self.svc, token)
        except RealtimeError as exc:
            raise RealtimeError(exc.code, exc.message) from None
        if principal.user_id != self.user_id:
            raise RealtimeError("wrong_user", "the token is another user's: open a new connection for them")
        if self.closed.is_set():
            return
        self.session_id = principal.session_id
        self._expire_at(expires_at)

    def _hear_revocation(self, text: str) -> bool:
        """A control message on the own channel: ends this socket if it names its session (or
        every session). True when it was one (it is never pushed to the client)."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(msg, dict) or msg.get("type") != "session.revoked":
            return False
        if msg.get("session_id") in (None, str(self.session_id)):
            reason = msg.get("reason") if msg.get("reason") in _ENDED_MESSAGES else "session_revoked"
            self._end(CLOSE_SESSION_ENDED, reason)
        return True

    # ------------------------------------------------------------------ client requests

    def admit(self, size: int) -> None:
        """Every inbound client message: the size cap (closes: 1009) and messages per second
        (a token bucket per socket: the message is refused, the socket stays)."""
        limit = self.settings.realtime_max_message_bytes
        if size > limit:
            raise RealtimeError(
                "message_too_large", f"messages are at most {limit} bytes", close_code=CLOSE_MESSAGE_TOO_LARGE
            )
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            raise RealtimeError("rate_limited", f"at most {self._rate:g} messages per second")
        self._tokens -= 1

    async def subscribe(self, topic: str) -> str:
        """Authorizes (a post you cannot see -> post_not_found, as REST answers), enforces the
        topics cap, and returns once Redis routes the topic here (no missed push after). Returns
        the topic in its canonical form (lower-case UUID), as pushes name it."""
        channel = canonical(topic)
        if channel in self._sinks:
            return channel
        if len(self._sinks) - 1 >= self.settings.realtime_max_topics:  # the own channel is not counted
            raise RealtimeError("too_many_topics", f"at most {self.settings.realtime_max_topics} topics per socket")
        await self._authorize(channel)
        self._recheck_at[channel] = time.monotonic() + self.settings.realtime_recheck
        await self._listen(channel)
        return channel

    async def unsubscribe(self, topic: str) -> str:
        channel = canonical(topic)
        self._drop(channel)
        return channel

    async def typing(self, conversation_id: str) -> None:
        """A typing indicator, pushed to the conversation's peer (models/messaging/messages.py)."""
        try:
            cid = UUID(str(conversation_id))
        except ValueError:
            raise RealtimeError("bad_request", "conversation_id must be a UUID") from None
        try:
            await sanctions.ensure_may_write(self.svc, self.user_id)  # a send, like a REST write
            await messages.typing(self.svc, self.user_id, cid)
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message) from None

    @property
    def topics(self) -> set[str]:
        return set(self._recheck_at)

    # ------------------------------------------------------------------ pushes

    async def next_push(self) -> dict:
        """The next push, a dict exactly as /ws sends it. A topic whose right has ended yields
        {"type": "subscription.ended", "topic", "code", "message"} once, then nothing more of it.
        Raises ConnectionClosed once the core ended the connection."""
        while True:
            item = await self.queue.get()
            if item is None:
                self.queue.put_nowait(None)  # every later call raises too
                code = self.close_reason or "closed"
                raise ConnectionClosed(code, _ENDED_MESSAGES.get(code, "connection closed"), self.close_code)
            channel, text = item
            if channel != self.own_channel:
                due = self._recheck_at.get(channel)
                if due is None:
                    continue  # unsubscribed while it was in flight
                if time.monotonic() >= due:
                    try:
                        await self._reauthorize(channel)
                    except RealtimeError as exc:
                        self._drop(channel)
                        return {
                            "type": "subscription.ended",
                            "topic": channel,
                            "code": exc.code,
                            "message": exc.message,
                        }
                    except Exception as exc:  # Redis or PostgreSQL away: not this push, the next one checks again
                        log.warning("topic re-check failed", extra={"channel": channel, "error": repr(exc)})
                        continue
                    if channel not in self._recheck_at:
                        continue  # unsubscribed during the check
                    self._recheck_at[channel] = time.monotonic() + self.settings.realtime_recheck
            msg = _parse(text)
            if msg is None:
                log.warning("non-JSON push dropped", extra={"channel": channel})
                continue
            if msg.get("type") != "session.revoked":
                return msg

    # ------------------------------------------------------------------ internals

    async def _listen(self, channel: str) -> None:
        sink = self._sinks[channel] = _Tagged(self, channel)
        await self.hub.subscribe(channel, sink)

    def _drop(self, channel: str) -> None:
        self._recheck_at.pop(channel, None)
        sink = self._sinks.pop(channel, None)
        if sink is not None:
            self.hub.unsubscribe(channel, sink)

    async def _reauthorize(self, channel: str) -> None:
        """Before a push: the same rules as `_authorize`, batched across sockets for posts."""
        if not channel.startswith("post:"):
            return await self._authorize(channel)
        if not await _post_checks.visible(self.svc, channel, self.user_id):
            raise RealtimeError("post_not_found", "no such post")

    async def _authorize(self, channel: str) -> None:
        kind, _, raw = channel.partition(":")
        target = UUID(raw)
        try:
            if kind == "post":
                await visibility.ensure_visible(self.svc, self.user_id, await ensure_exists(self.svc, target))
            else:
                await presence.ensure_may_see(self.svc, self.user_id, target)
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message) from None


def canonical(topic) -> str:
    """'post:<uuid>' | 'presence:<uuid>' -> its channel name; RealtimeError('bad_topic') otherwise."""
    m = _TOPIC.match(topic) if isinstance(topic, str) else None
    try:
        if m is None:
            raise ValueError
        return f"{m.group(1)}:{UUID(m.group(2))}"
    except ValueError:
        raise RealtimeError("bad_topic", "topic must be post:<uuid> or presence:<uuid>") from None


async def _authenticate(svc, token: str | None) -> tuple[sessions.Principal, float]:
    """The token's principal and its expiry (epoch seconds)."""
    try:
        principal = await sessions.authenticate(svc, token)
        await erasure.ensure_not_pending(svc, principal.user_id)
        return principal, float(sessions.decode_access_token(svc, token)["exp"])  # type: ignore[arg-type]
    except DomainError as exc:
        raise RealtimeError(exc.code, exc.message, CLOSE_UNAUTHORIZED) from None
