"""Who may see a post: the one rule every read path (REST, GraphQL, feeds, agents) asks.

A post a moderator removed (visibility `removed`) is seen by nobody, its author included.
Each visibility value maps to a rule `async (svc, viewer_id | None, post) -> bool`. The rules of
lower domains (social: followers, circles) are imported here; a higher domain registers its own
at start-up (`register`; wallet's "subscribers" rule, infra/services.wire_domains). An unknown or
unregistered visibility is visible to its author only (fail closed). Whatever the rule, a block
between viewer and author (either way) hides the post.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select

from models.content.posts import REMOVED, Post, PostRef, get_post
from models.core.base import utcnow
from models.core.errors import NotFound
from models.media.videos import Video, is_ready
from models.social.blocks import blocked_among, blocked_either, blocked_with
from models.social.circles import Circle, CircleMember, members_only
from models.social.follows import followers_only

if TYPE_CHECKING:
    from infra.services import Services

Rule = Callable[..., Awaitable[bool]]


async def everyone(svc: Services, viewer_id: UUID | None, post) -> bool:
    return True


RULES: dict[str, Rule] = {"public": everyone, "followers": followers_only, "circle": members_only}


def register(visibility: str, rule: Rule) -> None:
    """A domain above content adds the rule of a visibility it owns (idempotent)."""
    RULES[visibility] = rule


async def can_see(svc: Services, viewer_id: UUID | None, post) -> bool:
    """`post`: a models.content.posts.Post or PostRef (author_id, visibility, circle_id)."""
    # an expired story exists for nobody, its author included (models/content/posts.py)
    expires_at = getattr(post, "expires_at", None)
    if expires_at is not None and expires_at <= utcnow():
        return False
    if post.visibility == REMOVED:  # removed by a moderator: nobody's, its author's included
        return False
    if viewer_id is not None and post.author_id == viewer_id:
        return True
    rule = RULES.get(post.visibility)
    if rule is None or not await rule(svc, viewer_id, post):
        return False
    # a post with a video reaches others only once the video is ready (models/media/videos.py)
    if getattr(post, "video_id", None) is not None and not await is_ready(svc, post.video_id):
        return False
    # Last: for public posts this one Redis read is the whole cost of the check.
    return viewer_id is None or not await blocked_either(svc, viewer_id, post.author_id)


async def who_can_see(svc: Services, viewer_ids: list[UUID], post) -> set[UUID]:
    """can_see for many viewers of one post (a push fanned out to many sockets,
    api/realtime/core.py): the same rules, in the same order, with the block check as one batch."""
    expires_at = getattr(post, "expires_at", None)
    if expires_at is not None and expires_at <= utcnow() or post.visibility == REMOVED:
        return set()
    author = {post.author_id} & set(viewer_ids)
    others = [v for v in dict.fromkeys(viewer_ids) if v != post.author_id]
    rule = RULES.get(post.visibility)
    if rule is None or not others:
        return author
    verdicts = await asyncio.gather(*(rule(svc, v, post) for v in others))
    allowed = [v for v, ok in zip(others, verdicts) if ok]
    if allowed and getattr(post, "video_id", None) is not None and not await is_ready(svc, post.video_id):
        return author
    return author | (set(allowed) - await blocked_with(svc, allowed, post.author_id))


async def ensure_visible(svc: Services, viewer_id: UUID | None, post) -> None:
    """NotFound unless the viewer may see `post`: a post you may not see does not exist for you
    (no 403 oracle)."""
    if not await can_see(svc, viewer_id, post):
        raise NotFound("no such post", code="post_not_found")


async def get_visible_post(svc: Services, viewer_id: UUID | None, post_id: UUID) -> Post:
    """The post, or NotFound."""
    post = await get_post(svc, post_id)
    await ensure_visible(svc, viewer_id, post)
    return post


async def visible_among(svc: Services, viewer_id: UUID | None, posts: list) -> list[bool]:
    """can_see for each post, in a constant number of round trips whatever the list's length
    (lists of posts: bookmarks, grids). Same rules: expiry, own posts, the visibility rule,
    ready videos, blocks. Registered rules (subscribers) are asked once per author."""
    now = utcnow()
    live = [p for p in posts if not (p.expires_at is not None and p.expires_at <= now) and p.visibility != REMOVED]
    others = [p for p in live if p.author_id != viewer_id]
    authors = list({p.author_id for p in others})
    videos = list({p.video_id for p in others if p.video_id is not None})
    circles = list({p.circle_id for p in others if p.visibility == "circle" and p.circle_id is not None})

    async def ready() -> set[UUID]:
        if not videos:
            return set()
        async with svc.sessions() as s:
            q = select(Video.id).where(Video.id.in_(videos), Video.status == "ready")
            return set((await s.execute(q)).scalars())

    async def followed() -> set[UUID]:
        if viewer_id is None or not any(p.visibility == "followers" for p in others):
            return set()
        return await svc.store.following_among(viewer_id, authors)

    async def member_of() -> set[UUID]:
        if viewer_id is None or not circles:
            return set()
        q = (
            select(CircleMember.circle_id)
            .where(CircleMember.circle_id.in_(circles), CircleMember.user_id == viewer_id)
            .union(select(Circle.id).where(Circle.id.in_(circles), Circle.owner_id == viewer_id))
        )
        async with svc.sessions() as s:
            return set((await s.execute(q)).scalars())

    async def blocked() -> set[UUID]:
        if viewer_id is None or not authors:
            return set()
        pairs = await blocked_among(svc, [(viewer_id, a) for a in authors])
        return {a for a in authors if frozenset((viewer_id, a)) in pairs}

    async def registered() -> dict[tuple[str, UUID], bool]:
        asked = {(p.visibility, p.author_id) for p in others if p.visibility not in _BATCHED}
        out = {}
        for vis, author in asked:  # subscribers: the rule depends on viewer and author only
            rule = RULES.get(vis)
            out[(vis, author)] = rule is not None and await rule(svc, viewer_id, PostRef(None, author, vis, None))  # type: ignore[arg-type]
        return out

    ok_videos, follows, circles_in, blocks, rules = await asyncio.gather(
        ready(), followed(), member_of(), blocked(), registered()
    )
    keep = {id(p) for p in live if p.author_id == viewer_id}
    for p in others:
        if p.video_id is not None and p.video_id not in ok_videos or p.author_id in blocks:
            continue
        if (
            p.visibility == "public"
            or (p.visibility == "followers" and p.author_id in follows)
            or (p.visibility == "circle" and p.circle_id in circles_in)
            or rules.get((p.visibility, p.author_id), False)
        ):
            keep.add(id(p))
    return [id(p) in keep for p in posts]


_BATCHED = ("public", "followers", "circle")
