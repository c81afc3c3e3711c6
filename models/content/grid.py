"""A profile's grid: the author's posts (not stories) the viewer may see, pinned ones first (at
most PIN_LIMIT, most recently pinned first), then the rest newest first; and the profile's counts.

Visibility is decided in SQL for the whole list: for one viewer and one author every rule but
"circle" depends on the pair only (followers, subscribers, ...), so each is asked once and the
grid filters by the visibilities that pass, plus circle posts of circles the viewer is in.
A block either way hides the whole profile (404 user_not_found, as models/social/flows does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, tuple_, update

from models.accounts.users import User
from models.content import posts, visibility
from models.core import cursors
from models.core.base import utcnow
from models.core.errors import Conflict, NotFound
from models.media.videos import Video
from models.social.blocks import blocked_either
from models.social.circles import CircleMember
from models.social.flows import view_profile

if TYPE_CHECKING:
    from infra.services import Services

PIN_LIMIT = 3
Post = posts.Post


def _no_user() -> NotFound:
    return NotFound("no such user", code="user_not_found")


async def _seen_by(svc: Services, viewer_id: UUID | None, author_id: UUID):
    """The WHERE clause of the author's posts this viewer may see (404 if the user is hidden)."""
    async with svc.sessions() as s:
        if (await s.execute(select(User.id).where(User.id == author_id))).first() is None:
            raise _no_user()
    mine = Post.author_id == author_id
    if viewer_id == author_id:
        return mine
    if viewer_id is not None and await blocked_either(svc, viewer_id, author_id):
        raise _no_user()
    allowed = ["public"]
    for vis, rule in visibility.RULES.items():
        if vis not in ("public", "circle") and await rule(svc, viewer_id, posts.PostRef(None, author_id, vis, None)):  # type: ignore[arg-type]
            allowed.append(vis)
    shown: ColumnElement[bool] = Post.visibility.in_(allowed)
    if viewer_id is not None:
        in_circle = select(CircleMember.circle_id).where(CircleMember.user_id == viewer_id)
        shown = or_(shown, and_(Post.visibility == "circle", Post.circle_id.in_(in_circle)))
    ready = or_(Post.video_id.is_(None), exists().where(Video.id == Post.video_id, Video.status == "ready"))
    return and_(mine, shown, ready)


def _cursor(phase: int, at: datetime, post_id: UUID) -> str:
    return cursors.encode(bytes([phase]) + cursors.decode(cursors.encode_keyset(at, post_id)))


def _decode(cursor: str) -> tuple[int, tuple[datetime, UUID]]:
    raw = cursors.decode(cursor)
    if len(raw) != 25 or raw[0] not in (0, 1):
        raise cursors.invalid()
    return raw[0], cursors.decode_keyset(cursors.encode(raw[1:]))


async def user_posts(
    svc: Services, viewer_id: UUID | None, author_id: UUID, *, cursor: str | None = None, limit: int = 20
) -> dict:
    """{"items": [post], "next_cursor"} (plain posts; the faces render them): the pinned posts
    (most recently pinned first), then the others newest first. The cursor says which of the two
    runs it is in and where, so pages neither repeat nor skip."""
    phase, after = _decode(cursor) if cursor else (0, None)
    seen = and_(await _seen_by(svc, viewer_id, author_id), Post.kind == "post")
    out: list[Post] = []
    async with svc.sessions() as s:
        if phase == 0:
            q = select(Post).where(seen, Post.pinned_at.is_not(None))
            if after is not None:
                q = q.where(tuple_(Post.pinned_at, Post.id) < tuple_(*after))
            q = q.order_by(Post.pinned_at.desc(), Post.id.desc()).limit(limit + 1)
            pinned = list((await s.execute(q)).scalars())
            if len(pinned) > limit:
                last = pinned[limit - 1]
                return {
                    "items": [posts.public(p) for p in pinned[:limit]],
                    "next_cursor": _cursor(0, last.pinned_at, last.id),  # type: ignore[arg-type]
                }
            out, after = pinned, None
        n = limit - len(out)
        q = select(Post).where(seen, Post.pinned_at.is_(None))
        if after is not None:
            q = q.where(tuple_(Post.created_at, Post.id) < tuple_(*after))
        rows = list((await s.execute(q.order_by(Post.created_at.desc(), Post.id.desc()).limit(n + 1))).scalars())
    more, rows = len(rows) > n, rows[:n]
    if more and rows:
        next_cursor = _cursor(1, rows[-1].created_at, rows[-1].id)
    elif more:  # the page was filled by pins exactly: the others start at the top
        next_cursor = _cursor(1, _TOP, UUID(int=(1 << 128) - 1))
    else:
        next_cursor = None
    return {"items": [posts.public(p) for p in out + rows], "next_cursor": next_cursor}


_TOP = datetime(9999, 1, 1, tzinfo=UTC)


async def counts(svc: Services, viewer_id: UUID | None, user_id: UUID) -> dict[str, int]:
    """{"posts": what the grid lists for this viewer, "followers", "following", "likes": likes
    received on all the user's posts}."""
    seen = and_(await _seen_by(svc, viewer_id, user_id), Post.kind == "post")
    async with svc.sessions() as s:
        n_posts = (await s.execute(select(func.count()).select_from(Post).where(seen))).scalar_one()
        ids = list((await s.execute(select(Post.id).where(Post.author_id == user_id))).scalars())
    follow = (await svc.store.get_follow_counts([user_id]))[user_id]
    likes = sum(c.get("like", 0) for c in (await svc.store.get_counters(ids)).values()) if ids else 0
    return {"posts": n_posts, "followers": follow["followers"], "following": follow["following"], "likes": likes}


async def profile(svc: Services, viewer_id: UUID | None, user_id: UUID, *, base_url: str = "") -> dict:
    """The profile as the viewer sees it (models/social/flows.view_profile) with its counts."""
    out = await view_profile(svc, viewer_id, user_id, base_url=base_url)
    return {**out, "counts": await counts(svc, viewer_id, user_id)}


async def profile_by_username(svc: Services, viewer_id: UUID | None, username: str, *, base_url: str = "") -> dict:
    return await profile(svc, viewer_id, await user_id_by_username(svc, username), base_url=base_url)


async def user_id_by_username(svc: Services, username: str) -> UUID:
    async with svc.sessions() as s:
        user_id = (
            await s.execute(select(User.id).where(func.lower(User.username) == username.strip().lower()))
        ).scalar_one_or_none()
    if user_id is None:
        raise _no_user()
    return user_id


# ------------------------------------------------------------------ pins


async def pin(svc: Services, actor_id: UUID, post_id: UUID) -> None:
    """Idempotent. Only your own posts (else 404 post_not_found), not stories (409
    not_pinnable), at most PIN_LIMIT (409 pin_limit)."""
    async with svc.sessions() as s, s.begin():
        # the author's row lock orders concurrent pins, so the limit holds
        await s.execute(select(User.id).where(User.id == actor_id).with_for_update())
        post = await s.get(Post, post_id, with_for_update=True)
        if post is None or post.author_id != actor_id:
            raise NotFound("no such post", code="post_not_found")
        if post.pinned_at is not None:
            return
        if post.kind != "post":
            raise Conflict("stories cannot be pinned", code="not_pinnable")
        held = (
            await s.execute(
                select(func.count()).select_from(Post).where(Post.author_id == actor_id, Post.pinned_at.is_not(None))
            )
        ).scalar_one()
        if held >= PIN_LIMIT:
            raise Conflict(f"at most {PIN_LIMIT} posts can be pinned; unpin one first", code="pin_limit")
        post.pinned_at = utcnow()


async def unpin(svc: Services, actor_id: UUID, post_id: UUID) -> None:
    """Idempotent; someone else's post (or none) is 404 post_not_found."""
    async with svc.sessions() as s, s.begin():
        post = await s.get(Post, post_id)
        if post is None or post.author_id != actor_id:
            raise NotFound("no such post", code="post_not_found")
        await s.execute(update(Post).where(Post.id == post_id).values(pinned_at=None))
