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
from datetime import datetime
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
from models.moderation import targets as moderation_targets
from models.social.blocks import blocked_either, ensure_not_blocked
from models.social.circles import Circle, CircleMember
from models.social.lookups import people, require_user

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

Policy = Literal["everyone", "followers", "circles"]
POLICIES: tuple[str, ...] = ("everyone", "followers", "circles")
SENT = "message.sent"


class MessageSettings(Base):
    __tablename__ = "message_settings"
    __table_args__ = (CheckConstraint(f"dm_policy IN {POLICIES}", name="dm_policy"),)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    dm_policy: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversation(CreatedAt, Base):
    """One per pair of users (user_lo < user_hi)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("user_lo", "user_hi"),)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_lo: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_hi: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_message_id: Mapped[UUID | None] = mapped_column(default=None)


class ConversationMember(Base):
    """A user's side of a conversation: its place in their list, what they read, unread count."""

    __tablename__ = "conversation_members"
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    peer_id: Mapped[UUID] = mapped_column()
    last_message_id: Mapped[UUID | None] = mapped_column(default=None)
    last_read_id: Mapped[UUID | None] = mapped_column(default=None)
    unread: Mapped[int] = mapped_column(Integer, default=0)


class Message(CreatedAt, Base):
    __tablename__ = "messages"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
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
    }
    if recipient_id is not None:
        out["recipient_id"] = str(recipient_id)
    return out


def user_channel(user_id: UUID) -> str:
    return f"user:{user_id}"


async def push(svc: Services, user_ids, msg: dict) -> None:
    """Best effort: PostgreSQL is the truth, clients catch up from the history."""
    data = orjson.dumps(msg)
    for uid in user_ids:
        try:
            await svc.redis.publish(user_channel(uid), data)
        except Exception as exc:
            log.warning("push failed", extra={"user_id": str(uid), "error": repr(exc)})


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
    raise Forbidden(f"this user accepts messages from {policy} only", code="dm_not_allowed")


# ------------------------------------------------------------------ send


async def _conversation(s: AsyncSession, a: UUID, b: UUID) -> Conversation:
    """The pair's conversation, created on first use, locked for this transaction."""
    lo, hi = sorted((a, b))
    new = new_id()
    await s.execute(
        pg_insert(Conversation)
        .values(id=new, user_lo=lo, user_hi=hi, created_at=utcnow())
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
                ConversationMember(conversation_id=conv.id, user_id=lo, peer_id=hi, unread=0),
                ConversationMember(conversation_id=conv.id, user_id=hi, peer_id=lo, unread=0),
            ]
        )
        await s.flush()
    return conv


async def _replay(svc: Services, sender: UUID, client_id: str, recipient: UUID, body: str) -> dict | None:
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
    if m.body != body or recipient not in (conv.user_lo, conv.user_hi):
        raise IdempotencyKeyReused("this client_id was used for another message")
    return public(m, recipient)


def clean_body(svc: Services, body: str) -> str:
    body = body.strip()
    if not body:
        raise DomainError("a message needs some text", code="empty_message")
    if len(body) > svc.settings.dm_max_body:
        raise DomainError(f"a message has at most {svc.settings.dm_max_body} characters", code="message_too_long")
    return body


async def send(svc: Services, *, sender_id: UUID, to_user_id: UUID, body: str, client_id: str | None = None) -> dict:
    """Store, announce (outbox) and push a message; a retry with the same client_id answers the
    same message."""
    body = clean_body(svc, body)
    if client_id is not None and not 1 <= len(client_id) <= 64:
        raise DomainError("client_id has 1-64 characters", code="validation_error")
    if client_id and (done := await _replay(svc, sender_id, client_id, to_user_id, body)):
        return done
    await ensure_may_message(svc, sender_id, to_user_id)
    async with outbox.transaction(svc) as s:
        conv = await _conversation(s, sender_id, to_user_id)
        # Made under the conversation's lock: ids of one conversation are in commit order.
        m = Message(
            id=new_id(),
            conversation_id=conv.id,
            sender_id=sender_id,
            body=body,
            client_id=client_id,
            created_at=utcnow(),
        )
        # A concurrent twin with the same client_id got here first: answer what it stored.
        inserted = (
            await s.execute(
                pg_insert(Message)
                .values(
                    id=m.id,
                    conversation_id=m.conversation_id,
                    sender_id=m.sender_id,
                    body=m.body,
                    client_id=m.client_id,
                    created_at=m.created_at,
                )
                .on_conflict_do_nothing()
                .returning(Message.id)
            )
        ).first()
        if inserted is not None:
            conv.last_message_id = m.id
            member = ConversationMember.conversation_id == conv.id
            await s.execute(
                update(ConversationMember)
                .where(member, ConversationMember.user_id == sender_id)
                .values(last_message_id=m.id, last_read_id=m.id)
            )  # your own message is read
            await s.execute(
                update(ConversationMember)
                .where(member, ConversationMember.user_id == to_user_id)
                .values(last_message_id=m.id, unread=ConversationMember.unread + 1)
            )
            outbox.stage(
                s,
                Event(
                    SENT,
                    {
                        "message_id": str(m.id),
                        "conversation_id": str(conv.id),
                        "sender_id": str(sender_id),
                        "recipient_id": str(to_user_id),
                    },
                    actor=sender_id,
                    id=m.id,
                ),
            )
    if inserted is None:  # only a client_id can conflict, and its message is committed: _replay finds it
        return cast(dict, await _replay(svc, sender_id, cast(str, client_id), to_user_id, body))
    out = public(m, to_user_id)
    await push(svc, (to_user_id, sender_id), {"type": "message.new", "message": out})
    return out


# ------------------------------------------------------------------ reading


async def _member(s: AsyncSession, user_id: UUID, conversation_id: UUID, *, lock: bool = False) -> ConversationMember:
    me = await s.get(ConversationMember, (conversation_id, user_id), with_for_update=lock)
    if me is None:
        raise NotFound("no such conversation", code="conversation_not_found")
    return me


async def ensure_member(svc: Services, user_id: UUID, conversation_id: UUID) -> None:
    """NotFound `conversation_not_found` unless the user is in the conversation (live events of it)."""
    async with svc.sessions() as s:
        await _member(s, user_id, conversation_id)


async def conversations(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """Your conversations, newest activity first: {"items": [{"id", "peer", "last_message",
    "unread", "peer_read_up_to"}], "next_cursor"}. A conversation that gets a message while you
    page moves to the top: the live push (message.new) tells the client."""
    q = (
        select(ConversationMember)
        .where(ConversationMember.user_id == user_id, ConversationMember.last_message_id.is_not(None))
        .order_by(ConversationMember.last_message_id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(ConversationMember.last_message_id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = list((await s.execute(q)).scalars())
        more, rows = len(rows) > limit, rows[:limit]
        last = {
            m.id: m
            for m in (
                await s.execute(select(Message).where(Message.id.in_([r.last_message_id for r in rows])))
            ).scalars()
        }
        peers_read = dict(
            (
                await s.execute(
                    select(ConversationMember.conversation_id, ConversationMember.last_read_id).where(
                        ConversationMember.conversation_id.in_([r.conversation_id for r in rows]),
                        ConversationMember.user_id != user_id,
                    )
                )
            ).all()
        )
    found = await people(svc, [r.peer_id for r in rows])
    items = [
        {
            "id": str(r.conversation_id),
            "peer": found.get(r.peer_id, {"id": str(r.peer_id), "username": None}),
            "last_message": public(last[r.last_message_id]) if r.last_message_id in last else None,
            "unread": r.unread,
            "peer_read_up_to": str(peers_read[r.conversation_id]) if peers_read.get(r.conversation_id) else None,
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": cursors.encode_ids(cast(UUID, rows[-1].last_message_id)) if more else None}


async def history(
    svc: Services, user_id: UUID, conversation_id: UUID, *, cursor: str | None = None, limit: int = 50
) -> dict:
    """A conversation's messages, newest first, keyset on the id (messages arriving while you
    page land above the first page): {"items", "next_cursor", "peer_read_up_to"}."""
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
        peer = await s.get(ConversationMember, (conversation_id, me.peer_id))
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [public(m) for m in rows],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more else None,
        "peer_read_up_to": str(peer.last_read_id) if peer and peer.last_read_id else None,
    }


async def mark_read(svc: Services, user_id: UUID, conversation_id: UUID, up_to_message_id: UUID) -> dict:
    """Read receipt: everything up to that message (of this conversation) is read. Moves only
    forward; the sender hears `message.read` on their channel when it moved."""
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
        peer, unread, read_up_to = me.peer_id, me.unread, me.last_read_id
    receipt = {
        "type": "message.read",
        "conversation_id": str(conversation_id),
        "reader_id": str(user_id),
        "up_to_message_id": str(read_up_to),
    }
    if moved:
        await push(svc, (peer, user_id), receipt)
        await mark_target_read(  # the "sent you messages" notice too
            svc, user_id, "message", conversation_id
        )
    return {"conversation_id": str(conversation_id), "up_to_message_id": str(read_up_to), "unread": unread}


async def typing(svc: Services, user_id: UUID, conversation_id: UUID) -> None:
    """A typing indicator (websocket): pushed to the peer, stored nowhere."""
    async with svc.sessions() as s:
        me = await _member(s, user_id, conversation_id)
    if not await blocked_either(svc, user_id, me.peer_id):
        await push(
            svc, (me.peer_id,), {"type": "typing", "conversation_id": str(conversation_id), "user_id": str(user_id)}
        )


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
