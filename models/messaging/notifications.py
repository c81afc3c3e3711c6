"""Notifications: likes (any reaction), comments, replies, mentions, follows, messages, duets and
stitches, and sanctions on your account (`sanction`, `reinstated`: the rule and the reason, from
moderation.sanctions events), written by the notifications agent (streams/agents/notifications.py) and read here
(docs/messages.md).

Aggregation: events about one target for one recipient fold into ONE notification per
NOTIFICATION_WINDOW (tumbling window on event time, default 24 h): "alice and 12 others reacted
to your post". A notification keeps the number of distinct actors, the number of events and the
three latest actors; a new actor on a read notification makes it unread again and moves it up.

Idempotent: every event is recorded once per recipient (notification_events, primary key
(event id, recipient)); a redelivered event finds its row and changes nothing, and an actor
counts once however many events they cause (like, unlike, like again). Never about yourself, never
from a user blocked either way or muted by the recipient (checked when the event is applied);
sanction notices are the platform's, not a user's: no actor (the moderator stays unnamed), never
filtered, one notification per sanction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from sqlalchemy import (
    BigInteger,
    CursorResult,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Uuid,
    bindparam,
    column,
    delete,
    func,
    select,
    table,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.content.posts import Post
from models.core import cursors
from models.core.base import Base, utcnow
from models.core.errors import DomainError
from models.core.events import Received, new_id, uuid7_at
from models.core.topics import (
    CommentPayload,
    FollowPayload,
    MessageSentPayload,
    PostCreatedPayload,
    PostDeletedPayload,
    ReactionPayload,
    SanctionPayload,
)
from models.moderation import decisions as moderation
from models.moderation.sanctions import AccountSanction
from models.social.blocks import blocked_among
from models.social.lookups import people
from models.social.mutes import Mute

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from infra.services import Services

log = logging.getLogger(__name__)

VERBS = {
    "reaction": "reacted to your post",
    "comment": "commented on your post",
    "reply": "replied to your comment",
    "mention": "mentioned you in a comment",
    "follow": "started following you",
    "message": "sent you a message",
    "duet": "made a duet with your post",
    "stitch": "stitched your post",
    "sanction": "",  # text from `sanction` (sanction_text)
    "reinstated": "",
    "moderation": "a moderator decided about your account or content",
}
KINDS = tuple(VERBS)
SYSTEM_KINDS = frozenset({"sanction", "reinstated"})  # no actor, never filtered
LATEST_ACTORS = 3


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[UUID] = mapped_column()  # post, comment, conversation, or the recipient (follows)
    post_id: Mapped[UUID | None] = mapped_column(default=None)
    bucket: Mapped[int] = mapped_column(BigInteger)  # event time // NOTIFICATION_WINDOW
    actor_count: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    actors: Mapped[list[UUID]] = mapped_column(ARRAY(Uuid), default=list)  # latest first
    sort_id: Mapped[UUID] = mapped_column()  # newest event id: the list's order
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # System kinds only: {"action", "rule", "reason", "until"} of the sanction.
    sanction: Mapped[dict | None] = mapped_column(JSONB, nullable=True, default=None)


class NotificationEvent(Base):
    __tablename__ = "notification_events"
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    recipient_id: Mapped[UUID] = mapped_column(primary_key=True)
    notification_id: Mapped[UUID] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    actor_id: Mapped[UUID] = mapped_column()


@dataclass(frozen=True, slots=True)
class Notice:
    """One recipient's share of one event."""

    event_id: UUID
    recipient: UUID
    actor: UUID
    kind: str
    target_id: UUID
    post_id: UUID | None
    at: float  # event time, Unix seconds
    sanction: dict | None = None  # system kinds


# ------------------------------------------------------------------ events -> notices


def notices(event: Received, post_authors: dict[UUID, UUID]) -> list[Notice]:
    """The notices one event makes (at most one per recipient: reply > comment > mention), before
    the self / block / mute filter. `post_authors`: post id -> author, for reactions."""
    etype, p = event.type, event.payload
    eid, at = event.id, event.ts.timestamp()
    actor: UUID
    out: list[tuple[UUID, str, UUID, UUID | None]] = []  # (recipient, kind, target, post)
    if etype == "reaction.added" and isinstance(p, ReactionPayload):
        author = post_authors.get(p.post_id)
        if author:
            out.append((author, "reaction", p.post_id, p.post_id))
        actor = p.user_id
    elif etype in ("comment.created", "comment.edited") and isinstance(p, CommentPayload):
        actor = p.author_id
        if etype == "comment.created":
            if p.parent_author_id and p.parent_id:
                out.append((p.parent_author_id, "reply", p.parent_id, p.post_id))
            out.append((p.post_author_id, "comment", p.post_id, p.post_id))
        out += [(m, "mention", p.post_id, p.post_id) for m in p.new_mentions]
    elif etype == "follow.added" and isinstance(p, FollowPayload):
        actor = p.follower_id
        out.append((p.followee_id, "follow", p.followee_id, None))
    elif isinstance(p, MessageSentPayload):
        actor = p.sender_id
        if p.recipient_id is not None:  # a direct message; group messages notify nobody (docs/messages.md)
            out.append((p.recipient_id, "message", p.conversation_id, None))
    elif (  # a duet or stitch of the recipient's post
        isinstance(p, PostCreatedPayload) and p.remix_type and p.remix_source_author_id and p.remix_source_post_id
    ):
        actor = p.author_id
        out.append((p.remix_source_author_id, p.remix_type, p.remix_source_post_id, p.remix_source_post_id))
    else:
        return []
    seen: set[UUID] = set()
    result = []
    for recipient, kind, target, post in out:
        if recipient in seen:
            continue
        seen.add(recipient)
        result.append(Notice(eid, recipient, actor, kind, target, post, at))
    return result


async def sanction_notices(svc: Services, events: list[Received]) -> list[Notice]:
    """moderation.sanctions events -> a notice to the sanctioned user with the rule and the
    reason (read from account_sanctions: the reason never travels on Kafka)."""
    found = [(e, e.payload) for e in events if isinstance(e.payload, SanctionPayload)]
    if not found:
        return []
    async with svc.sessions() as s:
        rows = await s.execute(
            select(AccountSanction.id, AccountSanction.reason).where(
                AccountSanction.id.in_([p.sanction_id for _, p in found])
            )
        )
        reasons = {r.id: r.reason for r in rows}
    return [
        Notice(
            e.id,
            p.user_id,
            p.user_id,  # no actor: the platform speaks
            "reinstated" if e.type == "account.reinstated" else "sanction",
            p.sanction_id,
            None,
            e.ts.timestamp(),
            sanction={
                "action": p.action,
                "rule": p.rule,
                "reason": reasons.get(p.sanction_id, ""),
                "until": p.until.isoformat() if p.until else None,
                "automatic": p.automatic,
            },
        )
        for e, p in found
    ]


def sanction_text(kind: str, sanction: dict) -> str:
    rule = f" (rule: {sanction['rule']})" if sanction.get("rule") else ""
    reason = f": {sanction['reason']}" if sanction.get("reason") else ""
    what = {
        "warn": "You received a warning",
        "strike": "You received a strike",
        "suspend": f"Your account is suspended until {sanction.get('until')}",
        "ban": "Your account is banned",
    }[sanction["action"]]
    if kind == "reinstated":
        lifted = {"warn": "warning", "strike": "strike", "suspend": "suspension", "ban": "ban"}[sanction["action"]]
        return f"Your appeal was upheld: the {lifted}{rule} was lifted"
    if sanction.get("automatic"):
        what += " by the strike policy"
    return f"{what}{rule}{reason}"


async def post_authors(svc: Services, events: list[Received]) -> dict[UUID, UUID]:
    ids = {e.payload.post_id for e in events if e.type == "reaction.added"}
    if not ids:
        return {}
    async with svc.sessions() as s:
        return {r.id: r.author_id for r in await s.execute(select(Post.id, Post.author_id).where(Post.id.in_(ids)))}


# ------------------------------------------------------------------ applying


async def _allowed(svc: Services, found: list[Notice]) -> list[Notice]:
    """Without notices to yourself, between users blocked either way, from someone muted, of a
    direct conversation the recipient muted, or about a post deleted meanwhile (a comment event
    may be applied after the post.deleted). System notices (sanctions) pass whatever the mutes."""
    system = [n for n in found if n.kind in SYSTEM_KINDS]
    found = [n for n in found if n.recipient != n.actor and n.kind not in SYSTEM_KINDS]
    about = {n.post_id for n in found if n.post_id is not None}
    if about:
        async with svc.sessions() as s:
            existing = set((await s.execute(select(Post.id).where(Post.id.in_(about)))).scalars())
        found = [n for n in found if n.post_id is None or n.post_id in existing]
    pairs = list({(n.recipient, n.actor) for n in found})
    if not pairs:
        return system
    blocked = await blocked_among(svc, pairs)
    async with svc.sessions() as s:
        muted = {
            (r.muter_id, r.muted_id)
            for r in await s.execute(
                select(Mute.muter_id, Mute.muted_id).where(tuple_(Mute.muter_id, Mute.muted_id).in_(pairs))
            )
        }
        # a direct conversation the recipient muted (conversation_members.muted_until, models/messaging/messages.py)
        talks = list({(n.recipient, n.target_id) for n in found if n.kind == "message"})
        silenced: set[tuple] = set()
        if talks:
            q = select(_members.c.user_id, _members.c.conversation_id).where(
                tuple_(_members.c.user_id, _members.c.conversation_id).in_(talks),
                _members.c.muted_until > func.now(),
            )
            silenced = {(r[0], r[1]) for r in await s.execute(q)}
    return system + [
        n
        for n in found
        if frozenset((n.recipient, n.actor)) not in blocked
        and (n.recipient, n.actor) not in muted
        and (n.kind != "message" or (n.recipient, n.target_id) not in silenced)
    ]


# conversation_members' mute, read without importing models/messaging/messages.py (which imports this module)
_members = table("conversation_members", column("user_id"), column("conversation_id"), column("muted_until"))


_UPSERT = text("""
INSERT INTO notifications AS n (id, recipient_id, kind, target_id, post_id, bucket, actor_count, event_count,
                                actors, sort_id, created_at, updated_at)
VALUES (:id, :recipient, :kind, :target, :post, :bucket, 0, 0, '{}', :sort_id, now(), now())
ON CONFLICT (recipient_id, kind, target_id, bucket) DO UPDATE SET kind = EXCLUDED.kind
RETURNING n.id, n.actors
""")
_SEEN_ACTORS = text("""
SELECT DISTINCT actor_id FROM notification_events
WHERE notification_id = :n AND actor_id = ANY(:actors) AND NOT (event_id = ANY(:events))
""").bindparams(bindparam("actors", type_=ARRAY(Uuid)), bindparam("events", type_=ARRAY(Uuid)))


async def apply(svc: Services, found: list[Notice]) -> list[UUID]:
    """Fold notices into notifications, idempotently; returns the ids of those that changed."""
    found = await _allowed(svc, found)
    if not found:
        return []
    window = svc.settings.notification_window.total_seconds()
    groups: dict[tuple, list[Notice]] = defaultdict(list)
    for n in found:
        groups[(n.recipient, n.kind, n.target_id, int(n.at // window))].append(n)
    changed: list[UUID] = []
    async with svc.sessions() as s, s.begin():
        for (recipient, kind, target, bucket), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
            group.sort(key=lambda n: n.event_id)
            nid, old_actors = (
                await s.execute(
                    _UPSERT,
                    {
                        "id": new_id(),
                        "recipient": recipient,
                        "kind": kind,
                        "target": target,
                        "post": group[0].post_id,
                        "bucket": bucket,
                        "sort_id": group[-1].event_id,
                    },
                )
            ).one()
            new = (
                await s.execute(
                    pg_insert(NotificationEvent)
                    .values(
                        [
                            {
                                "event_id": n.event_id,
                                "recipient_id": recipient,
                                "notification_id": nid,
                                "actor_id": n.actor,
                            }
                            for n in group
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(NotificationEvent.event_id, NotificationEvent.actor_id)
                )
            ).all()
            if not new:
                continue  # all redelivered
            new_ids = {e for e, _ in new}
            seen = set(
                (
                    await s.execute(
                        _SEEN_ACTORS, {"n": nid, "actors": list({a for _, a in new}), "events": list(new_ids)}
                    )
                ).scalars()
            )
            fresh = [n for n in group if n.event_id in new_ids]
            latest = list(dict.fromkeys([n.actor for n in reversed(fresh)] + list(old_actors)))[:LATEST_ACTORS]
            if kind in SYSTEM_KINDS:  # nobody to name; the sanction's rule and reason instead
                latest, system = [], {"sanction": fresh[-1].sanction}
            else:
                system = {}
            await s.execute(
                update(Notification)
                .where(Notification.id == nid)
                .values(
                    **system,
                    actor_count=Notification.actor_count + len({n.actor for n in fresh} - seen),
                    event_count=Notification.event_count + len(fresh),
                    actors=latest,
                    sort_id=func.greatest(Notification.sort_id, fresh[-1].event_id),
                    updated_at=utcnow(),
                    read_at=None,
                )
            )
            changed.append(nid)
    return changed


async def push_changed(svc: Services, ids: list[UUID]) -> None:
    """Live delivery of changed notifications (best effort: the list is the truth)."""
    if not ids:
        return
    async with svc.sessions() as s:
        rows = list((await s.execute(select(Notification).where(Notification.id.in_(ids)))).scalars())
    rendered = await _render(svc, rows)
    for n, out in zip(rows, rendered):
        try:
            await svc.redis.publish(
                f"user:{n.recipient_id}", orjson.dumps({"type": "notification", "notification": out})
            )
        except Exception as exc:
            log.warning("notification push failed", extra={"error": repr(exc)})


async def forget_posts(svc: Services, events: list[Received]) -> list[UUID]:
    """post.deleted: the post's notifications go (their events cascade); returns the recipients
    whose unread count may have changed."""
    ids = [e.payload.post_id for e in events if isinstance(e.payload, PostDeletedPayload)]
    if not ids:
        return []
    async with svc.sessions() as s, s.begin():
        rows = await s.execute(
            delete(Notification).where(Notification.post_id.in_(ids)).returning(Notification.recipient_id)
        )
        return sorted(set(rows.scalars()))


async def push_unread(svc: Services, recipients: list[UUID]) -> None:
    """The new unread count of each recipient (best effort, as push_changed)."""
    for user_id in recipients:
        try:
            unread = await unread_count(svc, user_id)
            await svc.redis.publish(
                f"user:{user_id}", orjson.dumps({"type": "notifications.removed", "unread_count": unread})
            )
        except Exception as exc:
            log.warning("notification push failed", extra={"error": repr(exc)})


# ------------------------------------------------------------------ moderation decisions


async def notify_decision(s: AsyncSession, *, user_id: UUID, decision: moderation.Decision) -> UUID:
    """Inside the decision's transaction: the affected user's notification (kind `moderation`,
    target = the decision id, no actor: moderators stay anonymous). Its text names the action, the
    rule and the reason (`_render`)."""
    nid = new_id()
    s.add(
        Notification(
            id=nid,
            recipient_id=user_id,
            kind="moderation",
            target_id=decision.id,
            post_id=None,
            bucket=0,
            actor_count=0,
            event_count=1,
            actors=[],
            sort_id=new_id(),
            created_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    return nid


def register_moderation() -> None:
    """Hook: every moderation decision notifies its affected user (infra/services.wire_domains)."""
    moderation.register_notifier(notify_decision, push_changed)


_DECIDED = {
    "remove": "removed your content",
    "restore": "restored your content",
    "warn": "warned you",
    "strike": "gave your account a strike",
    "suspend": "suspended your account",
    "ban": "banned your account",
    "uphold": "upheld the decision you appealed",
    "overturn": "overturned the decision you appealed: it is undone",
}


def _moderation_text(d: moderation.Decision | None) -> str:
    if d is None:
        return "a moderator decided about your account or content"
    rule = f" under the rule {d.rule}" if d.rule else ""
    hours = f" for {d.duration_hours} hours" if d.duration_hours else ""
    return f"A moderator {_DECIDED.get(d.action, d.action)}{hours}{rule}: {d.reason} (decision {d.appeal_of or d.id})"


# ------------------------------------------------------------------ reading


def text_of(kind: str, names: list[str], actor_count: int, event_count: int) -> str:
    first = names[0] if names else "someone"
    if actor_count <= 1:
        who = first
    elif actor_count == 2 and len(names) >= 2:
        who = f"{first} and {names[1]}"
    else:
        who = f"{first} and {actor_count - 1} others"
    verb = VERBS[kind]
    if kind == "message" and event_count > 1:
        verb = f"sent you {event_count} messages"
    return f"{who} {verb}"


async def _render(svc: Services, rows: list[Notification]) -> list[dict]:
    found = await people(svc, list({a for n in rows for a in n.actors}))
    decided = [n.target_id for n in rows if n.kind == "moderation"]
    about: dict[UUID, moderation.Decision] = {}
    if decided:
        async with svc.sessions() as s:
            q = select(moderation.Decision).where(moderation.Decision.id.in_(decided))
            about = {d.id: d for d in (await s.execute(q)).scalars()}
    out = []
    for n in rows:
        actors = [found[a] for a in n.actors if a in found]
        if n.kind in SYSTEM_KINDS and n.sanction:
            text_ = sanction_text(n.kind, n.sanction)
        else:
            text_ = text_of(n.kind, [a["username"] for a in actors], n.actor_count, n.event_count)
        out.append(
            {
                "id": str(n.id),
                "kind": n.kind,
                "target_id": str(n.target_id),
                "post_id": str(n.post_id) if n.post_id else None,
                "actors": actors,
                "actor_count": n.actor_count,
                "event_count": n.event_count,
                "text": _moderation_text(about.get(n.target_id)) if n.kind == "moderation" else text_,
                "sanction": n.sanction,
                "read": n.read_at is not None,
                "created_at": n.created_at.isoformat(),
                "updated_at": n.updated_at.isoformat(),
            }
        )
    return out


async def unread_count(svc: Services, user_id: UUID) -> int:
    async with svc.sessions() as s:
        return cast(
            int,
            await s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.recipient_id == user_id, Notification.read_at.is_(None))
            ),
        )


async def list_for(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """Newest activity first: {"items", "next_cursor", "unread_count"}. A notification that takes
    a new event moves to the top (and is pushed live), so paging never shows it twice."""
    q = (
        select(Notification)
        .where(Notification.recipient_id == user_id)
        .order_by(Notification.sort_id.desc(), Notification.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(tuple_(Notification.sort_id, Notification.id) < tuple_(*cursors.decode_ids(cursor, 2)))
    async with svc.sessions() as s:
        rows = list((await s.execute(q)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": await _render(svc, rows),
        "next_cursor": cursors.encode_ids(rows[-1].sort_id, rows[-1].id) if more else None,
        "unread_count": await unread_count(svc, user_id),
    }


async def mark_read(svc: Services, user_id: UUID, *, ids: list[UUID] | None = None, everything: bool = False) -> dict:
    """Mark some of your notifications (ids; others' are ignored) or all of them read."""
    if not everything and not ids:
        raise DomainError('give "ids" or "all": true', code="validation_error")
    q = update(Notification).where(Notification.recipient_id == user_id, Notification.read_at.is_(None))
    if not everything:
        q = q.where(Notification.id.in_(cast(list[UUID], ids)))  # given when not `everything`
    async with svc.sessions() as s, s.begin():
        n = cast(CursorResult, await s.execute(q.values(read_at=utcnow()))).rowcount
    unread = await unread_count(svc, user_id)
    try:
        await svc.redis.publish(f"user:{user_id}", orjson.dumps({"type": "notifications.read", "unread_count": unread}))
    except Exception as exc:
        log.warning("notification push failed", extra={"error": repr(exc)})
    return {"updated": n, "unread_count": unread}


async def mark_target_read(svc: Services, user_id: UUID, kind: str, target_id: UUID) -> None:
    """E.g. reading a conversation reads its "sent you messages" notifications."""
    async with svc.sessions() as s, s.begin():
        await s.execute(
            update(Notification)
            .where(
                Notification.recipient_id == user_id,
                Notification.kind == kind,
                Notification.target_id == target_id,
                Notification.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )


async def prune_dedupe(s: AsyncSession, before: datetime, *, batch: int = 5000) -> int:
    """Delete one batch of event→notification rows for events older than `before`. They only
    make a redelivered event a no-op; an event older than the topics' retention is never
    redelivered (docs/privacy.md). The event id is a UUIDv7, so its time is its order."""
    old = (
        select(NotificationEvent.event_id, NotificationEvent.recipient_id)
        .where(NotificationEvent.event_id < uuid7_at(before.timestamp()))
        .limit(batch)
    )
    res = cast(
        CursorResult,
        await s.execute(
            delete(NotificationEvent).where(tuple_(NotificationEvent.event_id, NotificationEvent.recipient_id).in_(old))
        ),
    )
    return res.rowcount or 0
