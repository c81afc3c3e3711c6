"""Comments: threaded, written synchronously to PostgreSQL, announced on `interactions.comments`
through the outbox (after commit). The comment counters agent counts them in the engagement store
(edge per comment id: created -> active, deleted -> inactive, by event id order).

Rules: only on a post the commenter can see (else 404, as if it did not exist), not between users
who blocked each other (the post's author, or the author of the comment replied to); edit and
delete your own; the post's author may delete any comment on it. A comment a moderator removed
(`removed_at`) is gone for everyone until an overturned appeal restores it. Deleting a comment deletes its
replies (each announced). Lists are keyset-paginated on the UUIDv7 id: a post's top-level
comments newest first, a comment's replies oldest first; comments written while paging land
before the first page or after the last one, so pages neither repeat nor skip.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Table, Text, Uuid, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, aliased, mapped_column

from models.content.mentions import resolve_mentions
from models.content.posts import Post
from models.content.visibility import get_visible_post
from models.core import cursors, outbox, screening
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import DomainError, Forbidden, NotFound
from models.core.events import Event, Received, new_id
from models.core.topics import CommentDeletedPayload, CommentPayload
from models.engagement import ReactionChange
from models.social.blocks import ensure_not_blocked

if TYPE_CHECKING:
    from infra.services import Services

MAX_BODY = 2200
CREATED, EDITED, DELETED = "comment.created", "comment.edited", "comment.deleted"


class Comment(CreatedAt, Base):
    __tablename__ = "comments"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[UUID]] = mapped_column(ARRAY(Uuid), default=list, server_default="{}")
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # set by a moderator's `remove` (models/moderation/targets.py): gone from the thread for
    # everyone, its author included, until an overturned appeal clears it
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def public(c: Comment, reply_count: int = 0) -> dict:
    return {
        "id": str(c.id),
        "post_id": str(c.post_id),
        "author_id": str(c.author_id),
        "parent_id": str(c.parent_id) if c.parent_id else None,
        "body": c.body,
        "mentions": [str(m) for m in c.mentions],
        "reply_count": reply_count,
        "created_at": c.created_at.isoformat(),
        "edited_at": c.edited_at.isoformat() if c.edited_at else None,
    }


def clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise DomainError("a comment needs some text", code="empty_comment")
    if len(body) > MAX_BODY:
        raise DomainError(f"a comment has at most {MAX_BODY} characters", code="comment_too_long")
    return body


async def _ensure_can_reach(svc: Services, actor: UUID, *others: UUID) -> None:
    for other in dict.fromkeys(others):
        if other != actor:
            await ensure_not_blocked(svc, actor, other)


def _event(etype: str, c: Comment, post_author: UUID, parent_author: UUID | None, new_mentions: list[UUID]) -> Event:
    return Event(
        etype,
        {
            "comment_id": str(c.id),
            "post_id": str(c.post_id),
            "author_id": str(c.author_id),
            "post_author_id": str(post_author),
            "parent_id": str(c.parent_id) if c.parent_id else None,
            "parent_author_id": str(parent_author) if parent_author else None,
            "body": c.body,
            "mentions": [str(m) for m in c.mentions],
            "new_mentions": [str(m) for m in new_mentions],
        },
        actor=c.author_id,
    )


async def create(svc: Services, *, author_id: UUID, post_id: UUID, body: str, parent_id: UUID | None = None) -> dict:
    body = clean_body(body)
    post = await get_visible_post(svc, author_id, post_id)
    parent_author = None
    if parent_id is not None:
        parent = await _get(svc, parent_id)
        if parent.post_id != post_id:
            raise DomainError("the comment replied to is on another post", code="parent_on_other_post")
        parent_author = parent.author_id
    await _ensure_can_reach(svc, author_id, post.author_id, *([parent_author] if parent_author else []))
    review = await screening.screen(svc, body, source="comment")  # reject: 422 content_rejected
    try:
        async with outbox.transaction(svc) as s:
            mentions = await resolve_mentions(s, body, svc.settings.comment_max_mentions)
            c = Comment(
                id=new_id(),
                post_id=post_id,
                author_id=author_id,
                parent_id=parent_id,
                body=body,
                mentions=mentions,
                created_at=utcnow(),
            )
            s.add(c)
            await s.flush()
            if review:
                await screening.flag(
                    s, svc, target_type="comment", target_id=c.id, author_id=author_id, source="comment", labels=review
                )
            outbox.stage(s, _event(CREATED, c, post.author_id, parent_author, mentions))
    except IntegrityError:  # the parent was deleted meanwhile
        raise NotFound("no such comment", code="comment_not_found") from None
    return public(c)


async def _get(svc: Services, comment_id: UUID) -> Comment:
    async with svc.sessions() as s:
        c = await s.get(Comment, comment_id)
    if c is None or c.removed_at is not None:
        raise NotFound("no such comment", code="comment_not_found")
    return c


async def get_visible(svc: Services, viewer_id: UUID | None, comment_id: UUID) -> tuple[Comment, Post]:
    """The comment and its post, or NotFound if either does not exist for the viewer."""
    c = await _get(svc, comment_id)
    try:
        post = await get_visible_post(svc, viewer_id, c.post_id)
    except NotFound:
        raise NotFound("no such comment", code="comment_not_found") from None
    return c, post


async def get_public(svc: Services, viewer_id: UUID | None, comment_id: UUID) -> dict:
    """One comment as the viewer may see it (its post visible to them), or NotFound."""
    c, _post = await get_visible(svc, viewer_id, comment_id)
    return public(c, await _reply_count(svc, c.id))


async def edit(svc: Services, *, user_id: UUID, comment_id: UUID, body: str) -> dict:
    body = clean_body(body)
    c: Comment | None  # re-read under lock below
    c, post = await get_visible(svc, user_id, comment_id)
    if c.author_id != user_id:
        raise Forbidden("only its author can edit a comment", code="not_comment_author")
    review = await screening.screen(svc, body, source="comment")
    async with outbox.transaction(svc) as s:
        c = await s.get(Comment, comment_id, with_for_update=True)
        if c is None:
            raise NotFound("no such comment", code="comment_not_found")
        before = set(c.mentions)
        mentions = await resolve_mentions(s, body, svc.settings.comment_max_mentions)
        c.body, c.mentions, c.edited_at = body, mentions, utcnow()
        await s.flush()
        if review:
            await screening.flag(
                s, svc, target_type="comment", target_id=c.id, author_id=user_id, source="comment", labels=review
            )
        # a reply's parent exists: deleting it deletes its replies
        parent_author = cast(Comment, await s.get(Comment, c.parent_id)).author_id if c.parent_id else None
        outbox.stage(s, _event(EDITED, c, post.author_id, parent_author, [m for m in mentions if m not in before]))
    return public(c, await _reply_count(svc, c.id))


_SUBTREE = text("""
WITH RECURSIVE t AS (
    SELECT id, author_id FROM comments WHERE id = :id
    UNION ALL
    SELECT c.id, c.author_id FROM comments c JOIN t ON c.parent_id = t.id
) SELECT id, author_id FROM t""")


async def delete(svc: Services, *, user_id: UUID, comment_id: UUID) -> int:
    """Delete a comment and its replies; returns how many were deleted."""
    c, post = await get_visible(svc, user_id, comment_id)
    if user_id not in (c.author_id, post.author_id):
        raise Forbidden("only its author or the post's author can delete a comment", code="not_comment_author")
    async with outbox.transaction(svc) as s:
        n = await _delete_subtree(s, c.post_id, comment_id, user_id)
    if not n:
        raise NotFound("no such comment", code="comment_not_found")
    return n


async def _delete_subtree(s, post_id: UUID, comment_id: UUID, actor: UUID | None) -> int:
    # Comment writes on this post wait (the insert's foreign-key check), so the subtree read
    # here is exactly what the cascade deletes: every deleted reply gets its event.
    await s.execute(select(Post.id).where(Post.id == post_id).with_for_update())
    doomed = (await s.execute(_SUBTREE, {"id": comment_id})).all()
    if not doomed:
        return 0
    await s.execute(cast(Table, Comment.__table__).delete().where(Comment.id == comment_id))
    for cid, author in doomed:
        outbox.stage(
            s,
            Event(
                DELETED,
                {
                    "comment_id": str(cid),
                    "post_id": str(post_id),
                    "author_id": str(author),
                    "deleted_by": str(actor or author),
                },
                actor=actor,
            ),
        )
    return len(doomed)


async def erase_by_author(svc: Services, author_id: UUID) -> int:
    """Every comment of an account being erased, with their replies, whatever the account may
    still see (models/privacy/erasing.py); one transaction per thread. Returns how many went."""
    total = 0
    while True:
        async with svc.sessions() as s:
            row = (
                await s.execute(
                    select(Comment.id, Comment.post_id)
                    .where(Comment.author_id == author_id)
                    .order_by(Comment.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            return total
        async with outbox.transaction(svc) as s:
            total += await _delete_subtree(s, row.post_id, row.id, None)


async def _page(svc: Services, where, newest_first: bool, cursor: str | None, limit: int) -> dict:
    replies = aliased(Comment)
    count = (
        select(func.count())
        .select_from(replies)
        .where(replies.parent_id == Comment.id, replies.removed_at.is_(None))
        .correlate(Comment)
        .scalar_subquery()
    )
    q = select(Comment, count).where(*where, Comment.removed_at.is_(None)).limit(limit + 1)
    q = q.order_by(Comment.id.desc() if newest_first else Comment.id)
    if cursor:
        after = cursors.decode_ids(cursor, 1)[0]
        q = q.where(Comment.id < after if newest_first else Comment.id > after)
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [public(c, n) for c, n in rows],
        "next_cursor": cursors.encode_ids(rows[-1][0].id) if more else None,
    }


async def list_for_post(
    svc: Services, viewer_id: UUID, post_id: UUID, *, cursor: str | None = None, limit: int = 20
) -> dict:
    """A post's top-level comments, newest first."""
    await get_visible_post(svc, viewer_id, post_id)
    return await _page(svc, (Comment.post_id == post_id, Comment.parent_id.is_(None)), True, cursor, limit)


async def list_replies(
    svc: Services, viewer_id: UUID, comment_id: UUID, *, cursor: str | None = None, limit: int = 20
) -> dict:
    """A comment's direct replies, oldest first (conversation order)."""
    await get_visible(svc, viewer_id, comment_id)
    return await _page(svc, (Comment.parent_id == comment_id,), False, cursor, limit)


async def _reply_count(svc: Services, comment_id: UUID) -> int:
    async with svc.sessions() as s:
        return (
            await s.execute(select(func.count()).where(Comment.parent_id == comment_id, Comment.removed_at.is_(None)))
        ).scalar_one()


def change_from_event(event: Received[CommentPayload | CommentDeletedPayload]) -> ReactionChange | None:
    """comment.created / comment.deleted -> the engagement-store edge of that comment (an edit: None)."""
    if event.type not in (CREATED, DELETED):
        return None
    p = event.payload
    return ReactionChange(p.post_id, p.comment_id, "comment", event.type == CREATED, event.id)
