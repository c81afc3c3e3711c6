"""Group chats (docs/messages.md): conversations of kind `group`, 3 to GROUP_MAX members, with a
name, an avatar (an image of the models/media/images.py module), an owner and admins.

Members are rows of `conversation_members` as in a direct conversation, with a role and, once
they left or were removed, `left_at`. Every change locks the conversation's row, so the member cap
and the roles are checked against a stable room, stages `conversation.member` in the outbox (keyed
by conversation, with the messages) and, after commit, pushes `{"type": "conversation.member",
...}` to the current members and to the member concerned (so a removed member's clients know).
Messages to a group go through models/messaging/messages.send_to_conversation: only current
members are pushed to, so a removed member's sockets hear nothing more from the next message on.

Who may do what: the owner everything; admins add members, make invite links, rename, change the
avatar, and remove plain members; members leave. Adding someone requires no block between the
adder and them (403 `blocked`).
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.core import outbox
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.media import images
from models.messaging import presence
from models.messaging.messages import Conversation, ConversationMember, _member, current_members, push
from models.social.blocks import blocked_among
from models.social.lookups import people

if TYPE_CHECKING:
    from infra.services import Services

GROUP_MAX = 256
MEMBER = "conversation.member"
RANK = {"owner": 3, "admin": 2, "member": 1}


class GroupFull(Conflict):
    code = "group_full"


def _name(name: str) -> str:
    name = unicodedata.normalize("NFC", name or "").strip()
    if not 1 <= len(name) <= 100:
        raise DomainError("a group's name has 1-100 characters", code="validation_error")
    return name


def view(c: Conversation, members: int, me: ConversationMember | None = None) -> dict:
    out = {
        "id": str(c.id),
        "kind": c.kind,
        "name": c.name,
        "avatar_image_id": str(c.avatar_image_id) if c.avatar_image_id else None,
        "owner_id": str(c.owner_id) if c.owner_id else None,
        "member_count": members,
        "created_at": c.created_at.isoformat(),
    }
    if me is not None:
        out["role"] = me.role
        out["muted_until"] = me.muted_until.isoformat() if me.muted_until else None
        if RANK[me.role] >= RANK["admin"]:
            out["invite_code"] = c.invite_code
    return out


async def _group(s: AsyncSession, user_id: UUID, conversation_id: UUID) -> tuple[Conversation, ConversationMember]:
    """The group locked for this transaction and the caller's (current) membership."""
    me = await _member(s, user_id, conversation_id)
    conv = cast(Conversation, await s.get(Conversation, conversation_id, with_for_update=True))
    if conv.kind != "group":
        raise DomainError("this is a direct conversation, not a group", code="not_a_group")
    await s.refresh(me)  # read again under the room's lock
    if me.left_at is not None:
        raise Forbidden("you are no longer a member of this conversation", code="not_a_member")
    return conv, me


def _require(me: ConversationMember, role: str) -> None:
    if RANK[me.role] < RANK[role]:
        who = "admins" if role == "admin" else role
        raise Forbidden(f"only the group's {who} can do this", code=f"not_group_{role}")


async def _count(s: AsyncSession, conversation_id: UUID) -> int:
    return cast(
        int,
        await s.scalar(
            select(func.count())
            .select_from(ConversationMember)
            .where(ConversationMember.conversation_id == conversation_id, ConversationMember.left_at.is_(None))
        ),
    )


async def _addable(svc: Services, adder: UUID, user_ids: list[UUID]) -> list[UUID]:
    ids = list(dict.fromkeys(u for u in user_ids if u != adder))
    found = await people(svc, ids)  # one query for the lot
    if missing := [u for u in ids if u not in found]:
        raise NotFound(f"no such user: {missing[0]}", code="user_not_found")
    if await blocked_among(svc, [(adder, u) for u in ids]):
        raise Forbidden("you cannot add someone you blocked or who blocked you", code="blocked")
    return ids


def _stage(s: AsyncSession, conversation_id: UUID, user_id: UUID, actor: UUID, change: str, role: str | None) -> None:
    payload = {
        "conversation_id": str(conversation_id),
        "user_id": str(user_id),
        "actor_id": str(actor),
        "change": change,
        "role": role,
    }
    outbox.stage(s, Event(MEMBER, payload, actor=actor))


def _push(conversation_id: UUID, user_ids: list[UUID], actor: UUID, change: str, role: str | None) -> dict:
    """One push per change, however many members it concerns (a 250-member add is one push)."""
    return {
        "type": MEMBER,
        "conversation_id": str(conversation_id),
        "user_ids": [str(u) for u in user_ids],
        "actor_id": str(actor),
        "change": change,
        "role": role,
    }


def _enlist(s: AsyncSession, conv: Conversation, user_id: UUID, role: str, row: ConversationMember | None) -> None:
    """Adds a member, or re-adds one who left (`row`): they start unread-free at the room's last
    message."""
    now = utcnow()
    if row is None:
        s.add(
            ConversationMember(
                conversation_id=conv.id,
                user_id=user_id,
                peer_id=None,
                unread=0,
                role=role,
                joined_at=now,
                last_message_id=conv.last_message_id,
                last_read_id=conv.last_message_id,
            )
        )
        return
    row.left_at, row.role, row.joined_at, row.unread = None, role, now, 0
    row.last_message_id = row.last_read_id = conv.last_message_id


async def _former(s: AsyncSession, conversation_id: UUID, user_ids: list[UUID]) -> dict[UUID, ConversationMember]:
    q = select(ConversationMember).where(
        ConversationMember.conversation_id == conversation_id, ConversationMember.user_id.in_(user_ids)
    )
    return {r.user_id: r for r in (await s.execute(q)).scalars()}


async def create(
    svc: Services, owner_id: UUID, *, name: str, member_ids: list[UUID], avatar_image_id: UUID | None = None
) -> dict:
    """A group of the owner and 2 to GROUP_MAX - 1 others."""
    name = _name(name)
    ids = await _addable(svc, owner_id, member_ids)
    if len(ids) < 2:
        raise DomainError("a group has at least 3 members (you and 2 others)", code="group_too_small")
    if len(ids) + 1 > GROUP_MAX:
        raise GroupFull(f"a group has at most {GROUP_MAX} members")
    if avatar_image_id is not None:
        await images.ensure_usable(svc, owner_id, avatar_image_id)
    now = utcnow()
    async with outbox.transaction(svc) as s:
        conv = Conversation(
            id=new_id(), kind="group", name=name, avatar_image_id=avatar_image_id, owner_id=owner_id, created_at=now
        )
        s.add(conv)
        await s.flush()
        s.add(ConversationMember(conversation_id=conv.id, user_id=owner_id, unread=0, role="owner", joined_at=now))
        _stage(s, conv.id, owner_id, owner_id, "created", "owner")
        for uid in ids:
            s.add(ConversationMember(conversation_id=conv.id, user_id=uid, unread=0, role="member", joined_at=now))
            _stage(s, conv.id, uid, owner_id, "added", "member")
        pushes = [
            _push(conv.id, [owner_id], owner_id, "created", "owner"),
            _push(conv.id, ids, owner_id, "added", "member"),
        ]
        await s.flush()
        me = cast(ConversationMember, await s.get(ConversationMember, (conv.id, owner_id)))
        out = view(conv, len(ids) + 1, me)
    for p in pushes:
        await push(svc, [owner_id, *ids], p)
    return out


async def get(svc: Services, user_id: UUID, conversation_id: UUID) -> dict:
    async with svc.sessions() as s:
        me = await _member(s, user_id, conversation_id)
        conv = cast(Conversation, await s.get(Conversation, conversation_id))
        return view(conv, await _count(s, conversation_id), me)


async def update(
    svc: Services,
    user_id: UUID,
    conversation_id: UUID,
    *,
    name: str | None = None,
    avatar_image_id: UUID | None = None,
    clear_avatar: bool = False,
) -> dict:
    """Rename, change or clear the avatar (admins). Members hear `conversation.updated`."""
    if avatar_image_id is not None:
        await images.ensure_usable(svc, user_id, avatar_image_id)
    async with svc.sessions() as s, s.begin():
        conv, me = await _group(s, user_id, conversation_id)
        _require(me, "admin")
        if name is not None:
            conv.name = _name(name)
        if avatar_image_id is not None or clear_avatar:
            conv.avatar_image_id = avatar_image_id
        out = view(conv, await _count(s, conversation_id), me)
        members = await current_members(s, conversation_id)
    shared = {k: out[k] for k in ("id", "kind", "name", "avatar_image_id", "owner_id", "member_count", "created_at")}
    await push(svc, members, {"type": "conversation.updated", "conversation": shared})
    return out


async def add(svc: Services, user_id: UUID, conversation_id: UUID, member_ids: list[UUID]) -> dict:
    """Admins add members (409 `group_full` beyond GROUP_MAX: then nobody is added)."""
    ids = await _addable(svc, user_id, member_ids)
    async with outbox.transaction(svc) as s:
        conv, me = await _group(s, user_id, conversation_id)
        _require(me, "admin")
        count = await _count(s, conversation_id)
        current = set(await current_members(s, conversation_id))
        fresh = [u for u in ids if u not in current]
        if count + len(fresh) > GROUP_MAX:
            raise GroupFull(f"a group has at most {GROUP_MAX} members ({count} now)")
        former = await _former(s, conversation_id, fresh)
        for uid in fresh:
            _enlist(s, conv, uid, "member", former.get(uid))
            _stage(s, conversation_id, uid, user_id, "added", "member")
        await s.flush()
        out = view(conv, count + len(fresh), me)
        members = await current_members(s, conversation_id)
    if fresh:
        await push(svc, members, _push(conversation_id, fresh, user_id, "added", "member"))
    return out


async def invite(svc: Services, user_id: UUID, conversation_id: UUID) -> dict:
    """A new invite code (admins); the previous one stops working."""
    async with svc.sessions() as s, s.begin():
        conv, me = await _group(s, user_id, conversation_id)
        _require(me, "admin")
        conv.invite_code = secrets.token_urlsafe(16)
        return {"conversation_id": str(conversation_id), "invite_code": conv.invite_code}


async def join(svc: Services, user_id: UUID, invite_code: str) -> dict:
    """Join by invite code (404 `invite_not_found`, 409 `group_full`, 403 `blocked` if you and
    the owner blocked each other). Joining a group you are in answers the group."""
    async with outbox.transaction(svc) as s:
        conv_id = await s.scalar(select(Conversation.id).where(Conversation.invite_code == invite_code))
        if conv_id is None:
            raise NotFound("no such invite", code="invite_not_found")
        conv = cast(Conversation, await s.get(Conversation, conv_id, with_for_update=True))
        if conv.invite_code != invite_code:
            raise NotFound("no such invite", code="invite_not_found")
        if conv.owner_id and await blocked_among(svc, [(user_id, conv.owner_id)]):
            raise Forbidden("you cannot join this group", code="blocked")
        count = await _count(s, conv.id)
        row = await s.get(ConversationMember, (conv.id, user_id))
        joined = row is None or row.left_at is not None
        if joined and count + 1 > GROUP_MAX:
            raise GroupFull(f"a group has at most {GROUP_MAX} members")
        p = None
        if joined:
            _enlist(s, conv, user_id, "member", row)
            _stage(s, conv.id, user_id, user_id, "joined", "member")
            p = _push(conv.id, [user_id], user_id, "joined", "member")
            count += 1
        await s.flush()
        me = await s.get(ConversationMember, (conv.id, user_id))
        out = view(conv, count, me)
        members = await current_members(s, conv.id)
    if p:
        await push(svc, members, p)
    return out


async def _leave(s: AsyncSession, conv: Conversation, row: ConversationMember) -> str | None:
    """Marks the member gone; an owner who leaves hands the group to the longest-standing admin,
    else the longest-standing member. Returns the new owner's id, if any."""
    row.left_at = utcnow()
    was_owner, row.role = row.role == "owner", "member"
    if not was_owner:
        return None
    heir = (
        await s.execute(
            select(ConversationMember)
            .where(
                ConversationMember.conversation_id == conv.id,
                ConversationMember.left_at.is_(None),
                ConversationMember.user_id != row.user_id,
            )
            .order_by((ConversationMember.role == "admin").desc(), ConversationMember.joined_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    conv.owner_id = heir.user_id if heir else None
    if heir is None:
        return None
    heir.role = "owner"
    return str(heir.user_id)


async def leave(svc: Services, user_id: UUID, conversation_id: UUID) -> None:
    pushes = []
    async with outbox.transaction(svc) as s:
        conv, me = await _group(s, user_id, conversation_id)
        heir = await _leave(s, conv, me)
        _stage(s, conversation_id, user_id, user_id, "left", None)
        pushes.append(_push(conversation_id, [user_id], user_id, "left", None))
        if heir:
            _stage(s, conversation_id, UUID(heir), user_id, "role", "owner")
            pushes.append(_push(conversation_id, [UUID(heir)], user_id, "role", "owner"))
        await s.flush()
        members = await current_members(s, conversation_id)
    for p in pushes:
        await push(svc, [*members, user_id], p)


async def remove(svc: Services, user_id: UUID, conversation_id: UUID, target_id: UUID) -> None:
    """Remove a member: the owner anyone, admins plain members (403 `not_group_admin`,
    `insufficient_role`); yourself is `leave`. 404 `member_not_found` for a non-member."""
    if target_id == user_id:
        return await leave(svc, user_id, conversation_id)
    async with outbox.transaction(svc) as s:
        conv, me = await _group(s, user_id, conversation_id)
        _require(me, "admin")
        row = await s.get(ConversationMember, (conversation_id, target_id), with_for_update=True)
        if row is None or row.left_at is not None:
            raise NotFound("no such member", code="member_not_found")
        if RANK[me.role] <= RANK[row.role]:
            raise Forbidden("you can only remove members below your role", code="insufficient_role")
        await _leave(s, conv, row)
        _stage(s, conversation_id, target_id, user_id, "removed", None)
        p = _push(conversation_id, [target_id], user_id, "removed", None)
        await s.flush()
        members = await current_members(s, conversation_id)
    await push(svc, [*members, target_id], p)


async def set_role(svc: Services, user_id: UUID, conversation_id: UUID, target_id: UUID, role: str) -> dict:
    """The owner makes a member admin or back (`role`: admin | member), or hands over ownership
    (`owner`: the previous owner becomes an admin)."""
    if role not in RANK:
        raise DomainError("role is owner, admin or member", code="validation_error")
    pushes = []
    async with outbox.transaction(svc) as s:
        conv, me = await _group(s, user_id, conversation_id)
        _require(me, "owner")
        row = await s.get(ConversationMember, (conversation_id, target_id), with_for_update=True)
        if row is None or row.left_at is not None:
            raise NotFound("no such member", code="member_not_found")
        if target_id == user_id:
            raise DomainError("the owner hands over ownership to another member", code="validation_error")
        row.role = role
        _stage(s, conversation_id, target_id, user_id, "role", role)
        pushes.append(_push(conversation_id, [target_id], user_id, "role", role))
        if role == "owner":
            me.role, conv.owner_id = "admin", target_id
            _stage(s, conversation_id, user_id, user_id, "role", "admin")
            pushes.append(_push(conversation_id, [user_id], user_id, "role", "admin"))
        members = await current_members(s, conversation_id)
    for p in pushes:
        await push(svc, members, p)
    return {"conversation_id": str(conversation_id), "user_id": str(target_id), "role": role}


async def members(svc: Services, user_id: UUID, conversation_id: UUID) -> dict:
    """A conversation's current members (direct or group), oldest first: {"items": [{"user",
    "role", "joined_at", "read_up_to", "online"}]}. `read_up_to` is each member's read receipt;
    `online` is their presence where you may see it (models/messaging/presence.py rules, a
    fellow member counting as a conversation partner), else null."""
    async with svc.sessions() as s:
        await _member(s, user_id, conversation_id)
        rows = list(
            (
                await s.execute(
                    select(ConversationMember)
                    .where(ConversationMember.conversation_id == conversation_id, ConversationMember.left_at.is_(None))
                    .order_by(ConversationMember.joined_at, ConversationMember.user_id)
                )
            ).scalars()
        )
    found = await people(svc, [r.user_id for r in rows])
    online = await presence.online_among(svc, user_id, [r.user_id for r in rows])
    return {
        "items": [
            {
                "user": found.get(r.user_id, {"id": str(r.user_id), "username": None}),
                "role": r.role,
                "joined_at": r.joined_at.isoformat(),
                "read_up_to": str(r.last_read_id) if r.last_read_id else None,
                "online": online.get(r.user_id),
            }
            for r in rows
        ]
    }
