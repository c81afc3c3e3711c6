"""Message requests and the one send path of direct messages (docs/messages.md#message-requests).

`send` is what the API calls: it delivers through models/messaging/messages.send when the
recipient's dm_policy admits the sender, and otherwise holds the message in a *message request*
(202, `"request": true`) instead of today's 403 `dm_not_allowed`. Blocks still answer 403
`blocked`, and every other check of messages.send still applies.

- One request per (sender, recipient). It holds at most DM_REQUEST_MAX_MESSAGES messages (409
  `message_request_full` after that, nothing stored); a sender opens at most DM_REQUESTS_PER_DAY
  requests in a rolling 24 h (429 `message_request_limit`, nothing stored).
- The recipient lists pending requests (`inbox`), with their messages; each held message is
  pushed to them as `message_request.new`. Requests from users blocked either way are not listed.
- Accept: the held messages move into the pair's conversation with their ids and send times,
  the request stays `accepted` and admits the sender from then on (registered in
  messages.admitters); both hear `message_request.accepted`.
- Decline: the request disappears for the recipient. The sender is never told: their sends still
  answer 202 `"request": true` with the same caps, their requests list (`sent`) still shows the
  messages as pending, and they hear the same `message_request.sent` push; nothing reaches the
  recipient any more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core import cursors, outbox
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.core.idempotency import IdempotencyKeyReused
from models.messaging import attachments, messages
from models.messaging.attachments import Ref
from models.messaging.messages import ConversationMember, Message
from models.social.blocks import Block, ensure_not_blocked
from models.social.lookups import people

if TYPE_CHECKING:
    from infra.services import Services

STATUSES = ("pending", "accepted", "declined")
CREATED, ACCEPTED, DECLINED = "message_request.created", "message_request.accepted", "message_request.declined"


class RequestFull(Conflict):
    code = "message_request_full"


class RequestLimit(DomainError):
    status, code = 429, "message_request_limit"


class RequestNotFound(NotFound):
    code = "message_request_not_found"


class MessageRequest(Base):
    __tablename__ = "message_requests"
    __table_args__ = (
        UniqueConstraint("sender_id", "recipient_id"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_message_requests_inbox", "recipient_id", "status", "id"),
        Index("ix_message_requests_opened", "sender_id", "created_at"),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    conversation_id: Mapped[UUID | None] = mapped_column(default=None)  # once accepted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class HeldMessage(Base):
    """A message waiting in a request; its id becomes the message id on accept."""

    __tablename__ = "message_request_items"
    __table_args__ = (
        Index(
            "uq_message_request_items_client",
            "sender_id",
            "client_id",
            unique=True,
            postgresql_where=text("client_id IS NOT NULL"),
        ),
        CheckConstraint("image_id IS NULL OR video_id IS NULL", name="one_media"),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[UUID] = mapped_column(ForeignKey("message_requests.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    image_id: Mapped[UUID | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), default=None)
    video_id: Mapped[UUID | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _ref(h: HeldMessage) -> Ref | None:
    return Ref(image_id=h.image_id, video_id=h.video_id) if h.image_id or h.video_id else None


def _held_public(h: HeldMessage, req: MessageRequest, attachment: dict | None) -> dict:
    """A held message as both sides see it: always `pending` (the sender is never told more)."""
    return {
        "id": str(h.id),
        "conversation_id": None,
        "sender_id": str(h.sender_id),
        "recipient_id": str(req.recipient_id),
        "body": h.body,
        "client_id": h.client_id,
        "created_at": h.created_at.isoformat(),
        "attachment": attachment,
        "request": True,
        "request_id": str(req.id),
        "pending": True,
    }


async def _render_held(svc: Services, rows: list[tuple[HeldMessage, MessageRequest]], base_url: str) -> list[dict]:
    refs = {h.id: r for h, _ in rows if (r := _ref(h))}
    shown = await attachments.render(svc, refs, base_url=base_url)
    return [_held_public(h, req, shown.get(h.id)) for h, req in rows]


# ------------------------------------------------------------------ admitting


async def _accepted(s: AsyncSession, sender: UUID, recipient: UUID) -> bool:
    q = select(MessageRequest.id).where(
        MessageRequest.sender_id == sender,
        MessageRequest.recipient_id == recipient,
        MessageRequest.status == "accepted",
    )
    return (await s.execute(q)).first() is not None


if _accepted not in messages.admitters:
    messages.admitters.append(_accepted)


# ------------------------------------------------------------------ send


class _AcceptedMeanwhile(Exception):
    pass


async def send(
    svc: Services,
    *,
    sender_id: UUID,
    to_user_id: UUID,
    body: str,
    client_id: str | None = None,
    reply_to_id: UUID | None = None,
    image_id: UUID | None = None,
    video_id: UUID | None = None,
    base_url: str = "",
) -> dict:
    """Deliver (the message, `"request": false`) or hold in a request (`"request": true`,
    `"pending": true`, `conversation_id` null). Idempotent by client_id across both."""
    ref = await attachments.check(svc, sender_id, image_id=image_id, video_id=video_id)
    clean = messages.clean_body(svc, body, empty_ok=ref is not None)
    if client_id is not None and not 1 <= len(client_id) <= 64:
        raise DomainError("client_id has 1-64 characters", code="validation_error")
    if client_id and (done := await _replay(svc, sender_id, client_id, to_user_id, clean, ref, base_url)):
        return done
    extra = await attachments.extra(svc, ref, base_url=base_url) if ref else None
    while True:
        try:
            sent = await messages.send(
                svc,
                sender_id=sender_id,
                to_user_id=to_user_id,
                body=clean,
                client_id=client_id,
                reply_to_id=reply_to_id,
                extra=extra,
            )
        except Forbidden as exc:
            if exc.code != "dm_not_allowed":
                raise
            try:
                return await _hold(svc, sender_id, to_user_id, clean, client_id, ref, base_url)
            except _AcceptedMeanwhile:
                continue  # the recipient accepted between the check and the hold: now admitted
        return await attachments.finish(svc, sent, ref, base_url=base_url) | {"request": False}


async def send_to_conversation(
    svc: Services,
    *,
    sender_id: UUID,
    conversation_id: UUID,
    body: str,
    client_id: str | None = None,
    reply_to_id: UUID | None = None,
    image_id: UUID | None = None,
    video_id: UUID | None = None,
    base_url: str = "",
) -> dict:
    """A message to a conversation you are in (models/messaging/messages.send_to_conversation),
    with an image or a video of yours as `send` takes them."""
    ref = await attachments.check(svc, sender_id, image_id=image_id, video_id=video_id)
    extra = await attachments.extra(svc, ref, base_url=base_url) if ref else None
    sent = await messages.send_to_conversation(
        svc,
        sender_id=sender_id,
        conversation_id=conversation_id,
        body=body,
        client_id=client_id,
        reply_to_id=reply_to_id,
        extra=extra,
    )
    return await attachments.finish(svc, sent, ref, base_url=base_url)


async def _replay(
    svc: Services, sender: UUID, client_id: str, recipient: UUID, body: str, ref: Ref | None, base_url: str
) -> dict | None:
    async with svc.sessions() as s:
        found = (
            await s.execute(
                select(HeldMessage, MessageRequest)
                .join(MessageRequest, MessageRequest.id == HeldMessage.request_id)
                .where(HeldMessage.sender_id == sender, HeldMessage.client_id == client_id)
            )
        ).first()
    if found is None:
        return None
    h, req = found
    if h.body != body or req.recipient_id != recipient or _ref(h) != ref:
        raise IdempotencyKeyReused("this client_id was used for another message")
    return (await _render_held(svc, [(h, req)], base_url))[0]


async def _hold(
    svc: Services,
    sender: UUID,
    recipient: UUID,
    body: str,
    client_id: str | None,
    ref: Ref | None,
    base_url: str,
) -> dict:
    cfg, now = svc.settings, utcnow()
    async with outbox.transaction(svc) as s:
        new = new_id()
        await s.execute(
            pg_insert(MessageRequest)
            .values(
                id=new,
                sender_id=sender,
                recipient_id=recipient,
                status="pending",
                message_count=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["sender_id", "recipient_id"])
        )
        req = (
            await s.execute(
                select(MessageRequest)
                .where(MessageRequest.sender_id == sender, MessageRequest.recipient_id == recipient)
                .with_for_update()
            )
        ).scalar_one()
        if req.status == "accepted":
            raise _AcceptedMeanwhile
        opened = req.id == new
        if opened:
            # one sender's openings one at a time, so concurrent first messages cannot overshoot the cap
            await s.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"message_requests:{sender}", 0))))
            recent = await s.scalar(
                select(func.count())
                .select_from(MessageRequest)
                .where(
                    MessageRequest.sender_id == sender,
                    MessageRequest.created_at > now - timedelta(days=1),
                    MessageRequest.id != req.id,
                )
            )
            if cast(int, recent) >= cfg.dm_requests_per_day:
                raise RequestLimit(f"you may start at most {cfg.dm_requests_per_day} message requests a day")
        if req.message_count >= cfg.dm_request_max_messages:
            raise RequestFull(
                f"a message request holds at most {cfg.dm_request_max_messages} messages until it is answered"
            )
        held = HeldMessage(
            id=new_id(),
            request_id=req.id,
            sender_id=sender,
            body=body,
            client_id=client_id,
            image_id=ref.image_id if ref else None,
            video_id=ref.video_id if ref else None,
            created_at=now,
        )
        inserted = (
            await s.execute(
                pg_insert(HeldMessage)
                .values(
                    id=held.id,
                    request_id=held.request_id,
                    sender_id=sender,
                    body=body,
                    client_id=client_id,
                    image_id=held.image_id,
                    video_id=held.video_id,
                    created_at=now,
                )
                .on_conflict_do_nothing()
                .returning(HeldMessage.id)
            )
        ).first()
        if inserted is not None:
            req.message_count += 1
            req.updated_at = now
            if opened:
                outbox.stage(
                    s,
                    Event(
                        CREATED,
                        {"request_id": str(req.id), "sender_id": str(sender), "recipient_id": str(recipient)},
                        actor=sender,
                        id=req.id,
                    ),
                )
        pending = req.status == "pending"
    if inserted is None:  # a concurrent twin with this client_id committed first
        return cast(dict, await _replay(svc, sender, cast(str, client_id), recipient, body, ref, base_url))
    out = (await _render_held(svc, [(held, req)], base_url))[0]
    await messages.push(svc, (sender,), {"type": "message_request.sent", "message": out})
    if pending:  # a declined request reaches nobody
        sender_face = (await people(svc, [sender])).get(sender, {"id": str(sender), "username": None})
        await messages.push(
            svc,
            (recipient,),
            {"type": "message_request.new", "request_id": str(req.id), "sender": sender_face, "message": out},
        )
    return out


# ------------------------------------------------------------------ lists


def _not_blocked():
    return ~exists().where(
        or_(
            and_(Block.blocker_id == MessageRequest.sender_id, Block.blocked_id == MessageRequest.recipient_id),
            and_(Block.blocker_id == MessageRequest.recipient_id, Block.blocked_id == MessageRequest.sender_id),
        )
    )


async def _page(svc: Services, q, *, peer_of, cursor: str | None, limit: int, base_url: str, peer_key: str) -> dict:
    q = q.order_by(MessageRequest.id.desc()).limit(limit + 1)
    if cursor:
        q = q.where(MessageRequest.id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        reqs = list((await s.execute(q)).scalars())
        more, reqs = len(reqs) > limit, reqs[:limit]
        held = list(
            (
                await s.execute(
                    select(HeldMessage).where(HeldMessage.request_id.in_([r.id for r in reqs])).order_by(HeldMessage.id)
                )
            ).scalars()
        )
    by_id = {r.id: r for r in reqs}
    shown = await _render_held(svc, [(h, by_id[h.request_id]) for h in held], base_url)
    per: dict[UUID, list[dict]] = {r.id: [] for r in reqs}
    for h, m in zip(held, shown):
        per[h.request_id].append(m)
    found = await people(svc, [peer_of(r) for r in reqs])
    items = [
        {
            "id": str(r.id),
            peer_key: found.get(peer_of(r), {"id": str(peer_of(r)), "username": None}),
            "status": "pending",
            "messages": per[r.id],
            "message_count": r.message_count,
            "created_at": r.created_at.isoformat(),
            "updated_at": r.updated_at.isoformat(),
        }
        for r in reqs
    ]
    return {"items": items, "next_cursor": cursors.encode_ids(reqs[-1].id) if more else None}


async def inbox(
    svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20, base_url: str = ""
) -> dict:
    """Pending requests to you, newest first: {"items": [{"id", "sender", "status", "messages"
    (oldest first), "message_count", "created_at", "updated_at"}], "next_cursor"}."""
    q = select(MessageRequest).where(
        MessageRequest.recipient_id == user_id, MessageRequest.status == "pending", _not_blocked()
    )
    return await _page(
        svc, q, peer_of=lambda r: r.sender_id, cursor=cursor, limit=limit, base_url=base_url, peer_key="sender"
    )


async def sent(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20, base_url: str = "") -> dict:
    """Your requests not accepted yet, as you see them: always `pending` (declined ones too)."""
    q = select(MessageRequest).where(MessageRequest.sender_id == user_id, MessageRequest.status != "accepted")
    return await _page(
        svc, q, peer_of=lambda r: r.recipient_id, cursor=cursor, limit=limit, base_url=base_url, peer_key="recipient"
    )


# ------------------------------------------------------------------ answering


async def _mine(s: AsyncSession, user_id: UUID, request_id: UUID) -> MessageRequest:
    req = await s.get(MessageRequest, request_id, with_for_update=True)
    if req is None or req.recipient_id != user_id:
        raise RequestNotFound("no such message request")
    return req


def _decided(req: MessageRequest) -> dict:
    return {
        "request_id": str(req.id),
        "status": req.status,
        "conversation_id": str(req.conversation_id) if req.conversation_id else None,
    }


async def accept(svc: Services, user_id: UUID, request_id: UUID) -> dict:
    """The held messages join the conversation (ids and send times kept; counted read by you),
    the sender is admitted from now on. Again: the same answer. A declined request: 409
    `message_request_declined`; blocked either way: 403 `blocked`."""
    async with svc.sessions() as s:
        found = await s.get(MessageRequest, request_id)
    if found is None or found.recipient_id != user_id:
        raise RequestNotFound("no such message request")
    await ensure_not_blocked(svc, user_id, found.sender_id)
    async with outbox.transaction(svc) as s:
        req = await _mine(s, user_id, request_id)
        if req.status == "accepted":
            return _decided(req)
        if req.status == "declined":
            raise Conflict("this message request was declined", code="message_request_declined")
        conv = await messages._conversation(s, req.sender_id, req.recipient_id)
        held = list(
            (await s.execute(select(HeldMessage).where(HeldMessage.request_id == req.id).order_by(HeldMessage.id)))
            .scalars()
            .all()
        )
        if held:
            newest = held[-1].id
            s.add_all(
                Message(
                    id=h.id,
                    conversation_id=conv.id,
                    sender_id=h.sender_id,
                    body=h.body,
                    client_id=h.client_id,
                    created_at=h.created_at,
                )
                for h in held
            )
            await s.flush()
            s.add_all(attachments.row(h.id, ref) for h in held if (ref := _ref(h)))
            await s.execute(delete(HeldMessage).where(HeldMessage.request_id == req.id))
            conv.last_message_id = max(filter(None, (conv.last_message_id, newest)))
            member = ConversationMember.conversation_id == conv.id
            for uid in (req.sender_id, req.recipient_id):  # the sender wrote them, you read them
                await s.execute(
                    update(ConversationMember)
                    .where(member, ConversationMember.user_id == uid)
                    .values(
                        last_message_id=func.greatest(ConversationMember.last_message_id, newest),
                        last_read_id=func.greatest(ConversationMember.last_read_id, newest),
                    )
                )
            unread_after = (
                select(func.count())
                .select_from(Message)
                .where(
                    Message.conversation_id == conv.id,
                    Message.sender_id == req.sender_id,
                    Message.id > ConversationMember.last_read_id,
                )
                .scalar_subquery()
            )
            await s.execute(
                update(ConversationMember)
                .where(member, ConversationMember.user_id == req.recipient_id)
                .values(unread=unread_after)
            )
        req.status, req.conversation_id, req.decided_at = "accepted", conv.id, utcnow()
        outbox.stage(
            s,
            Event(
                ACCEPTED,
                {
                    "request_id": str(req.id),
                    "sender_id": str(req.sender_id),
                    "recipient_id": str(req.recipient_id),
                    "conversation_id": str(conv.id),
                },
                actor=user_id,
            ),
        )
        answer = _decided(req)
        sender = req.sender_id
    await messages.push(
        svc,
        (sender, user_id),
        {"type": "message_request.accepted", "request_id": answer["request_id"], "conversation_id": str(conv.id)},
    )
    return answer


async def decline(svc: Services, user_id: UUID, request_id: UUID) -> dict:
    """Hidden for you for good; the sender is not told (module doc). Again: the same answer. An
    accepted request: 409 `message_request_accepted`."""
    async with outbox.transaction(svc) as s:
        req = await _mine(s, user_id, request_id)
        if req.status == "declined":
            return _decided(req)
        if req.status == "accepted":
            raise Conflict("this message request was accepted", code="message_request_accepted")
        req.status, req.decided_at = "declined", utcnow()
        outbox.stage(
            s,
            Event(
                DECLINED,
                {"request_id": str(req.id), "sender_id": str(req.sender_id), "recipient_id": str(req.recipient_id)},
                actor=user_id,
            ),
        )
        answer = _decided(req)
    # your other devices only: nothing ever goes to the sender
    await messages.push(svc, (user_id,), {"type": "message_request.declined", "request_id": answer["request_id"]})
    return answer
