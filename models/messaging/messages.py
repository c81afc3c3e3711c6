"""Direct messages between two users (docs/messages.md).

Who may write to whom: never between users with a block either way (403 `blocked`); otherwise the
recipient's `dm_policy` decides: "everyone" (the default), "followers" (people who follow the
recipient) or "circles" (members of one of the recipient's circles). Whoever the recipient has
written to in the conversation may always answer (403 `dm_not_allowed` otherwise).

A message is written synchronously to PostgreSQL (with its `message.sent` event in the outbox,
relayed after commit), then pushed at once to both users' websocket channel `user:<id>`
(`message.new`); a lost push is caught up from the history. Messages of one conversation get
their UUIDv7 ids under the conversation's row lock, so id order is send order and the history's
keyset is stable. Sends are idempotent by `client_id` (or the Idempotency-Key header): a retry
answers the stored message; the same id with another recipient or body is 422.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, cast
from uuid import UUID

import orjson
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core import cursors, outbox
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.core.idempotency import IdempotencyKeyReused
from models.messaging.notifications import mark_target_read
from models.moderation import checks
from models.moderation import targets as moderation_targets
from models.moderation.flags import flag
from models.social.blocks import blocked_either, ensure_not_blocked
from models.social.circles import Circle, CircleMember
from models.social.lookups import people, require_user

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

Policy = Literal["everyone", "followers", "circles"]
POLICIES: tuple[str, ...] = ("everyone", "followers", "circles")
SENT = "message.sent"
UNSENT = "message.unsent"


class MessageSettings(Base):
    __tablename__ = "message_settings"
    __table_args__ = (CheckConstraint(f"dm_policy IN {POLICIES}", name="dm_policy"),)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    dm_policy: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversation(CreatedAt, Base):
    """`direct`: one per pair of users (user_lo < user_hi); `group`: 3 to GROUP_MAX members, a
    name, an avatar, an owner (models/messaging/groups.py). Both keep their members in
    conversation_members."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("user_lo", "user_hi"), UniqueConstraint("invite_code"))
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10), default="direct", server_default="direct")
    user_lo: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    user_hi: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    avatar_image_id: Mapped[UUID | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"), default=None)
    owner_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    invite_code: Mapped[str | None] = mapped_column(String(32), default=None)
    last_message_id: Mapped[UUID | None] = mapped_column(default=None)


class ConversationMember(Base):
    """A user's side of a conversation: its place in their list, what they read, unread count,
    their role (groups), mute. A member who left or was removed keeps the row with `left_at`."""

    __tablename__ = "conversation_members"
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    peer_id: Mapped[UUID | None] = mapped_column(default=None)  # the other user of a direct conversation
    last_message_id: Mapped[UUID | None] = mapped_column(default=None)
    last_read_id: Mapped[UUID | None] = mapped_column(default=None)
    unread: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(10), default="member", server_default="member")
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    muted_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Message(CreatedAt, Base):
    __tablename__ = "messages"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reply_to_id: Mapped[UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), default=None)
    unsent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # set by a moderator's `remove` (reported by its recipient): gone from the history of both
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def public(m: Message, recipient_id: UUID | None = None) -> dict:
    out = {
        "id": str(m.id),
        "conversation_id": str(m.conversation_id),
        "sender_id": str(m.sender_id),
        "body": m.body,
        "client_id": m.client_id,
        "created_at": m.created_at.isoformat(),
        "reply_to_id": str(m.reply_to_id) if m.reply_to_id else None,
        "unsent": m.unsent_at is not None,
    }
    if recipient_id is not None:
        out["recipient_id"] = str(recipient_id)
    return out


def user_channel(user_id: UUID) -> str:
    return f"user:{user_id}"


async def push(svc: Services, user_ids, msg: dict) -> None:
    """Best effort: PostgreSQL is the truth, clients catch up from the history. One Redis round
    trip whatever the number of users (a 256-member room): the publishes go in one pipeline."""
    data = orjson.dumps(msg)
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return
    try:
        async with svc.redis.pipeline(transaction=False) as pipe:
            for uid in ids:
                pipe.publish(user_channel(uid), data)
            await pipe.execute()
    except Exception as exc:
        log.warning("push failed", extra={"users": len(ids), "type": msg.get("type"), "error": repr(exc)})


# ------------------------------------------------------------------ settings


async def get_settings(svc: Services, user_id: UUID) -> dict:
    async with svc.sessions() as s:
        policy = await s.scalar(select(MessageSettings.dm_policy).where(MessageSettings.user_id == user_id))
    return {"dm_policy": policy or "everyone"}


async def set_settings(svc: Services, user_id: UUID, *, dm_policy: Policy) -> dict:
    if dm_policy not in POLICIES:
        raise DomainError(f"dm_policy is one of {', '.join(POLICIES)}", code="validation_error")
    async with svc.sessions() as s, s.begin():
        stmt = pg_insert(MessageSettings).values(user_id=user_id, dm_policy=dm_policy, updated_at=utcnow())
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[MessageSettings.user_id], set_={"dm_policy": dm_policy, "updated_at": utcnow()}
            )
        )
    return {"dm_policy": dm_policy}


# ------------------------------------------------------------------ permission

# Extensions by registration (models/messaging/requests.py): `admit(session, sender, recipient)`
# -> True lets `sender` write to `recipient` whatever the recipient's dm_policy (an accepted
# message request). Blocks are checked before and always hold.
Admitter = Callable[[AsyncSession, UUID, UUID], Awaitable[bool]]
admitters: list[Admitter] = []


async def _answering(s: AsyncSession, sender: UUID, recipient: UUID) -> bool:
    """Has `recipient` written to `sender` before? Then `sender` may answer whatever the policy."""
    lo, hi = sorted((sender, recipient))
    q = (
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.user_lo == lo, Conversation.user_hi == hi, Message.sender_id == recipient)
        .limit(1)
    )
    return (await s.execute(q)).first() is not None


async def ensure_may_message(svc: Services, sender: UUID, recipient: UUID) -> None:
    if sender == recipient:
        raise DomainError("you cannot message yourself", code="cannot_message_self")
    await require_user(svc, recipient)
    await ensure_not_blocked(svc, sender, recipient)
    policy = (await get_settings(svc, recipient))["dm_policy"]
    if policy == "everyone":
        return
    if policy == "followers" and await svc.store.is_following(sender, recipient):
        return
    async with svc.sessions() as s:
        if (
            policy == "circles"
            and (
                await s.execute(
                    select(CircleMember.circle_id)
                    .join(Circle, Circle.id == CircleMember.circle_id)
                    .where(Circle.owner_id == recipient, CircleMember.user_id == sender)
                    .limit(1)
                )
            ).first()
        ):
            return
        if await _answering(s, sender, recipient):
            return
        for admit in admitters:
            if await admit(s, sender, recipient):
                return
    raise Forbidden(f"this user accepts messages from {policy} only", code="dm_not_allowed")


# ------------------------------------------------------------------ send


async def _conversation(s: AsyncSession, a: UUID, b: UUID) -> Conversation:
    """The pair's conversation, created on first use, locked for this transaction."""
    lo, hi = sorted((a, b))
    new, now = new_id(), utcnow()
    await s.execute(
        pg_insert(Conversation)
        .values(id=new, kind="direct", user_lo=lo, user_hi=hi, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_lo", "user_hi"])
    )
    conv = (
        await s.execute(
            select(Conversation).where(Conversation.user_lo == lo, Conversation.user_hi == hi).with_for_update()
        )
    ).scalar_one()
    if conv.id == new:
        s.add_all(
            [
                ConversationMember(conversation_id=conv.id, user_id=lo, peer_id=hi, unread=0, joined_at=now),
                ConversationMember(conversation_id=conv.id, user_id=hi, peer_id=lo, unread=0, joined_at=now),
            ]
        )
        await s.flush()
    return conv


async def _replay(
    svc: Services,
    sender: UUID,
    client_id: str,
    body: str,
    *,
    recipient: UUID | None = None,
    conversation_id: UUID | None = None,
) -> dict | None:
    async with svc.sessions() as s:
        row = (
            await s.execute(
                select(Message, Conversation)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.sender_id == sender, Message.client_id == client_id)
            )
        ).first()
    if row is None:
        return None
    m, conv = row
    if (
        (m.body != body and m.unsent_at is None)
        or (recipient is not None and recipient not in (conv.user_lo, conv.user_hi))
        or (conversation_id is not None and conv.id != conversation_id)
    ):
        raise IdempotencyKeyReused("this client_id was used for another message")
    return public(m, recipient)


@dataclass(frozen=True)
class Extra:
    """What a message carries besides its text (models/messaging/attachments.py): `store(session,
    message_id)` runs in the send's transaction after the message row; `fields` are added to the
    message as answered and pushed. A message with an Extra may have an empty body."""

    store: Callable[[AsyncSession, UUID], Awaitable[None]]
    fields: dict = field(default_factory=dict)


def clean_body(svc: Services, body: str, *, empty_ok: bool = False) -> str:
    body = body.strip()
    if not body and not empty_ok:
        raise DomainError("a message needs some text", code="empty_message")
    if len(body) > svc.settings.dm_max_body:
        raise DomainError(f"a message has at most {svc.settings.dm_max_body} characters", code="message_too_long")
    return body


def check_client_id(client_id: str | None) -> None:
    if client_id is not None and not 1 <= len(client_id) <= 64:
        raise DomainError("client_id has 1-64 characters", code="validation_error")


async def _reply_target(s: AsyncSession, conversation_id: UUID, reply_to_id: UUID | None) -> None:
    """A reply quotes a message of the same conversation (an unknown id answers the same)."""
    if reply_to_id is None:
        return
    owner = await s.scalar(select(Message.conversation_id).where(Message.id == reply_to_id))
    if owner != conversation_id:
        raise DomainError("a reply quotes a message of the same conversation", code="reply_not_in_conversation")


async def _store(
    s: AsyncSession, conv: Conversation, sender_id: UUID, body: str, client_id: str | None, reply_to_id: UUID | None
) -> tuple[Message | None, list[UUID]]:
    """Under the conversation's lock (so ids of one conversation are in commit order): the
    message, every current member's list position and unread count (one UPDATE whatever the
    room's size), and `message.sent` in the outbox, keyed by conversation. Returns the message
    (None: a concurrent twin with the same client_id stored it first) and the other current
    members, who get the push."""
    m = Message(
        id=new_id(),
        conversation_id=conv.id,
        sender_id=sender_id,
        body=body,
        client_id=client_id,
        reply_to_id=reply_to_id,
        created_at=utcnow(),
    )
    inserted = (
        await s.execute(
            pg_insert(Message)
            .values(
                id=m.id,
                conversation_id=m.conversation_id,
                sender_id=m.sender_id,
                body=m.body,
                client_id=m.client_id,
                reply_to_id=m.reply_to_id,
                created_at=m.created_at,
            )
            .on_conflict_do_nothing()
            .returning(Message.id)
        )
    ).first()
    if inserted is None:
        return None, []
    conv.last_message_id = m.id
    member = ConversationMember.conversation_id == conv.id
    await s.execute(
        update(ConversationMember)
        .where(member, ConversationMember.user_id == sender_id)
        .values(last_message_id=m.id, last_read_id=m.id)
        .execution_options(synchronize_session=False)
    )  # your own message is read
    recipients = list(
        (
            await s.execute(
                update(ConversationMember)
                .where(member, ConversationMember.user_id != sender_id, ConversationMember.left_at.is_(None))
                .values(last_message_id=m.id, unread=ConversationMember.unread + 1)
                .returning(ConversationMember.user_id)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    outbox.stage(
        s,
        Event(
            SENT,
            {
                "message_id": str(m.id),
                "conversation_id": str(conv.id),
                "sender_id": str(sender_id),
                # a direct message names its recipient (the notifications agent); a group's does not
                "recipient_id": str(recipients[0]) if conv.kind == "direct" and recipients else None,
                "kind": conv.kind,
            },
            actor=sender_id,
            id=m.id,
        ),
    )
    return m, recipients


async def send(
    svc: Services,
    *,
    sender_id: UUID,
    to_user_id: UUID,
    body: str,
    client_id: str | None = None,
    reply_to_id: UUID | None = None,
    extra: Extra | None = None,
) -> dict:
    """Store, announce (outbox) and push a direct message; a retry with the same client_id
    answers the same message (without `extra.fields`: the caller adds what it stored)."""
    body = clean_body(svc, body, empty_ok=extra is not None)
    check_client_id(client_id)
    if client_id and (done := await _replay(svc, sender_id, client_id, body, recipient=to_user_id)):
        return done
    await ensure_may_message(svc, sender_id, to_user_id)
    review = await checks.screen(svc, body, source="message")  # reject: 422 content_rejected
    async with outbox.transaction(svc) as s:
        conv = await _conversation(s, sender_id, to_user_id)
        await _reply_target(s, conv.id, reply_to_id)
        m, _ = await _store(s, conv, sender_id, body, client_id, reply_to_id)
        if m is not None and extra is not None:
            await extra.store(s, m.id)
        if m is not None and review:
            await flag(
                s, svc, target_type="message", target_id=m.id, author_id=sender_id, source="message", labels=review
            )
    if m is None:  # only a client_id can conflict, and its message is committed: _replay finds it
        return cast(dict, await _replay(svc, sender_id, cast(str, client_id), body, recipient=to_user_id))
    out = public(m, to_user_id) | (extra.fields if extra else {})
    await push(svc, (to_user_id, sender_id), {"type": "message.new", "message": out})
    return out


async def send_to_conversation(
    svc: Services,
    *,
    sender_id: UUID,
    conversation_id: UUID,
    body: str,
    client_id: str | None = None,
    reply_to_id: UUID | None = None,
    extra: Extra | None = None,
) -> dict:
    """A message to a conversation by its id: a group's current members (404
    `conversation_not_found` if you never were one, 403 `not_a_member` once you left or were
    removed), or a direct conversation's peer, with the rules of `send`."""
    body = clean_body(svc, body, empty_ok=extra is not None)
    check_client_id(client_id)
    if client_id and (done := await _replay(svc, sender_id, client_id, body, conversation_id=conversation_id)):
        return done
    async with svc.sessions() as s:
        me = await _member(s, sender_id, conversation_id)
    if me.peer_id is not None:
        return await send(
            svc,
            sender_id=sender_id,
            to_user_id=me.peer_id,
            body=body,
            client_id=client_id,
            reply_to_id=reply_to_id,
            extra=extra,
        )
    review = await checks.screen(svc, body, source="message")  # reject: 422 content_rejected
    async with outbox.transaction(svc) as s:
        conv = cast(Conversation, await s.get(Conversation, conversation_id, with_for_update=True))
        await _member(s, sender_id, conversation_id)  # again under the lock: removed meanwhile
        await _reply_target(s, conversation_id, reply_to_id)
        m, recipients = await _store(s, conv, sender_id, body, client_id, reply_to_id)
        if m is not None and extra is not None:
            await extra.store(s, m.id)
        if m is not None and review:
            await flag(
                s, svc, target_type="message", target_id=m.id, author_id=sender_id, source="message", labels=review
            )
    if m is None:
        return cast(dict, await _replay(svc, sender_id, cast(str, client_id), body, conversation_id=conversation_id))
    out = public(m) | (extra.fields if extra else {})
    await push(svc, [*recipients, sender_id], {"type": "message.new", "message": out})
    return out


UNSEND_WINDOW = timedelta(minutes=10)


async def unsend(svc: Services, user_id: UUID, message_id: UUID) -> dict:
    """Unsend for everyone: only the sender, within UNSEND_WINDOW of sending (403
    `not_your_message`, 409 `unsend_window_passed`). The body is removed from PostgreSQL; the
    members hear `message.unsent`; `message.unsent` goes to the outbox. Unsending twice answers
    the same."""
    async with outbox.transaction(svc) as s:
        m = await s.get(Message, message_id, with_for_update=True)
        if m is None:
            raise NotFound("no such message", code="message_not_found")
        try:
            await _member(s, user_id, m.conversation_id)
        except NotFound:
            raise NotFound("no such message", code="message_not_found") from None
        if m.sender_id != user_id:
            raise Forbidden("only its sender can unsend a message", code="not_your_message")
        members: list[UUID] = []
        if m.unsent_at is None:
            if utcnow() - m.created_at > UNSEND_WINDOW:
                raise Conflict("a message can be unsent within 10 minutes of sending", code="unsend_window_passed")
            m.body, m.unsent_at = "", utcnow()
            members = await current_members(s, m.conversation_id)
            outbox.stage(
                s,
                Event(
                    UNSENT,
                    {"message_id": str(m.id), "conversation_id": str(m.conversation_id), "sender_id": str(user_id)},
                    actor=user_id,
                ),
            )
        out = public(m)
    if members:
        await push(
            svc,
            members,
            {"type": "message.unsent", "conversation_id": out["conversation_id"], "message_id": out["id"]},
        )
    return out


# ------------------------------------------------------------------ reading


async def _member(s: AsyncSession, user_id: UUID, conversation_id: UUID, *, lock: bool = False) -> ConversationMember:
    """A current member's row: 404 `conversation_not_found` if the user never was one, 403
    `not_a_member` once they left or were removed."""
    me = await s.get(ConversationMember, (conversation_id, user_id), with_for_update=lock)
    if me is None:
        raise NotFound("no such conversation", code="conversation_not_found")
    if me.left_at is not None:
        raise Forbidden("you are no longer a member of this conversation", code="not_a_member")
    return me


async def current_members(s: AsyncSession, conversation_id: UUID) -> list[UUID]:
    return list(
        (
            await s.execute(
                select(ConversationMember.user_id).where(
                    ConversationMember.conversation_id == conversation_id, ConversationMember.left_at.is_(None)
                )
            )
        ).scalars()
    )


async def ensure_member(svc: Services, user_id: UUID, conversation_id: UUID) -> None:
    """Unless the user is a current member (live events of it): NotFound `conversation_not_found`,
    or Forbidden `not_a_member` after leaving."""
    async with svc.sessions() as s:
        await _member(s, user_id, conversation_id)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


async def conversations(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """Your conversations (direct and groups you are in), newest activity first: {"items": [{"id",
    "kind", "name", "avatar_image_id", "peer" (direct), "last_message", "unread",
    "peer_read_up_to" (direct), "muted_until", "role"}], "next_cursor"}. A conversation that gets a
    message while you page moves to the top: the live push (message.new) tells the client."""
    q = (
        select(ConversationMember, Conversation)
        .join(Conversation, Conversation.id == ConversationMember.conversation_id)
        .where(
            ConversationMember.user_id == user_id,
            ConversationMember.last_message_id.is_not(None),
            ConversationMember.left_at.is_(None),
        )
        .order_by(ConversationMember.last_message_id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(ConversationMember.last_message_id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        pairs = [(r[0], r[1]) for r in await s.execute(q)]
        more, pairs = len(pairs) > limit, pairs[:limit]
        direct = [r.conversation_id for r, c in pairs if c.kind == "direct"]
        last = {
            m.id: m
            for m in (
                await s.execute(select(Message).where(Message.id.in_([r.last_message_id for r, _ in pairs])))
            ).scalars()
        }
        peers_read = dict(
            (
                await s.execute(
                    select(ConversationMember.conversation_id, ConversationMember.last_read_id).where(
                        ConversationMember.conversation_id.in_(direct),
                        ConversationMember.user_id != user_id,
                    )
                )
            ).all()
        )
    found = await people(svc, [r.peer_id for r, _ in pairs if r.peer_id])
    items = [
        {
            "id": str(r.conversation_id),
            "kind": c.kind,
            "name": c.name,
            "avatar_image_id": str(c.avatar_image_id) if c.avatar_image_id else None,
            "peer": found.get(r.peer_id, {"id": str(r.peer_id), "username": None}) if r.peer_id else None,
            "last_message": public(last[r.last_message_id]) if r.last_message_id in last else None,
            "unread": r.unread,
            "peer_read_up_to": str(peers_read[r.conversation_id]) if peers_read.get(r.conversation_id) else None,
            "muted_until": _iso(r.muted_until),
            "role": r.role,
        }
        for r, c in pairs
    ]
    return {
        "items": items,
        "next_cursor": cursors.encode_ids(cast(UUID, pairs[-1][0].last_message_id)) if more else None,
    }


async def history(
    svc: Services, user_id: UUID, conversation_id: UUID, *, cursor: str | None = None, limit: int = 50
) -> dict:
    """A conversation's messages, newest first, keyset on the id (messages arriving while you
    page land above the first page): {"items", "next_cursor", "peer_read_up_to"} (a group's
    read positions per member: models/messaging/groups.members). Messages a moderator removed are
    left out."""
    q = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.removed_at.is_(None))
        .order_by(Message.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(Message.id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        me = await _member(s, user_id, conversation_id)
        rows = list((await s.execute(q)).scalars())
        peer = await s.get(ConversationMember, (conversation_id, me.peer_id)) if me.peer_id else None
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [public(m) for m in rows],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more else None,
        "peer_read_up_to": str(peer.last_read_id) if peer and peer.last_read_id else None,
    }


async def mark_read(svc: Services, user_id: UUID, conversation_id: UUID, up_to_message_id: UUID) -> dict:
    """Read receipt: everything up to that message (of this conversation) is read. Moves only
    forward; the conversation's members hear `message.read` when it moved."""
    async with svc.sessions() as s, s.begin():
        me = await _member(s, user_id, conversation_id, lock=True)
        owner = await s.scalar(select(Message.conversation_id).where(Message.id == up_to_message_id))
        if owner != conversation_id:
            raise NotFound("no such message in this conversation", code="message_not_found")
        moved = me.last_read_id is None or up_to_message_id > me.last_read_id
        if moved:
            me.last_read_id = up_to_message_id
            me.unread = cast(
                int,
                await s.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.conversation_id == conversation_id,
                        Message.id > up_to_message_id,
                        Message.sender_id != user_id,
                    )
                ),
            )
        targets = [me.peer_id, user_id] if me.peer_id else await current_members(s, conversation_id)
        unread, read_up_to = me.unread, me.last_read_id
    receipt = {
        "type": "message.read",
        "conversation_id": str(conversation_id),
        "reader_id": str(user_id),
        "up_to_message_id": str(read_up_to),
    }
    if moved:
        await push(svc, targets, receipt)
        await mark_target_read(  # the "sent you messages" notice too
            svc, user_id, "message", conversation_id
        )
    return {"conversation_id": str(conversation_id), "up_to_message_id": str(read_up_to), "unread": unread}


async def typing(svc: Services, user_id: UUID, conversation_id: UUID) -> None:
    """A typing indicator (websocket): pushed to the peer or the room's other members, stored
    nowhere."""
    async with svc.sessions() as s:
        me = await _member(s, user_id, conversation_id)
        targets = [me.peer_id] if me.peer_id else [u for u in await current_members(s, conversation_id) if u != user_id]
    if me.peer_id and await blocked_either(svc, user_id, me.peer_id):
        return
    await push(svc, targets, {"type": "typing", "conversation_id": str(conversation_id), "user_id": str(user_id)})


async def mute(svc: Services, user_id: UUID, conversation_id: UUID, muted_until: datetime | None) -> dict:
    """Mute a conversation until a moment (None: unmute). Pushes still reach your sockets (the
    client silences them); the `message` notification of a muted direct conversation is not made."""
    async with svc.sessions() as s, s.begin():
        me = await _member(s, user_id, conversation_id, lock=True)
        me.muted_until = muted_until
    return {"conversation_id": str(conversation_id), "muted_until": _iso(muted_until)}


# ------------------------------------------------------------------ moderation


class _MessageTarget(moderation_targets.Target):
    """A message in the moderation queue: reported by a member of its conversation (the reporter
    shares it with moderators by reporting it); `remove` takes it out of both histories."""

    kind = "message"

    async def locate(self, svc: Services, viewer_id: UUID, target_id: UUID) -> UUID:
        async with svc.sessions() as s:
            row = (
                await s.execute(
                    select(Message.sender_id)
                    .join(ConversationMember, ConversationMember.conversation_id == Message.conversation_id)
                    .where(
                        Message.id == target_id, Message.removed_at.is_(None), ConversationMember.user_id == viewer_id
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            raise NotFound("no such message", code="message_not_found")
        return row

    async def author(self, s: AsyncSession, target_id: UUID) -> UUID | None:
        return (await s.execute(select(Message.sender_id).where(Message.id == target_id))).scalar_one_or_none()

    async def remove(self, s: AsyncSession, target_id: UUID, decision_id: UUID) -> moderation_targets.Removal:
        m = await s.get(Message, target_id, with_for_update=True)
        if m is None:
            raise moderation_targets.TargetNotFound("the message is gone")
        if m.removed_at is not None:
            raise Conflict("this message is already removed", code="already_removed")
        m.removed_at = utcnow()
        return moderation_targets.Removal()

    async def restore(self, s: AsyncSession, target_id: UUID, info: dict, decision_id: UUID) -> list:
        m = await s.get(Message, target_id, with_for_update=True)
        if m is None:
            raise moderation_targets.TargetNotFound("the message is gone")
        m.removed_at = None
        return []

    async def show(self, svc: Services, target_id: UUID, *, base_url: str) -> dict | None:
        async with svc.sessions() as s:
            m = await s.get(Message, target_id)
        return None if m is None else {"message": {**public(m), "removed": m.removed_at is not None}}


def register_moderation() -> None:
    """Hook: messages can be reported and removed (infra/services.wire_domains)."""
    moderation_targets.register(_MessageTarget())
