"""Who may see a post: the one rule every read path (REST, GraphQL, feeds, agents) asks.

Each visibility value maps to a rule `async (svc, viewer_id | None, post) -> bool`, named
"module:function" and imported on first use so each area owns its rule in its own module.
An unknown visibility is visible to its author only (fail closed). Whatever the rule, a block
between viewer and author (either way) hides the post.
"""
from __future__ import annotations

import importlib
from typing import Awaitable, Callable
from uuid import UUID

from models.core.base import utcnow
from models.social.blocks import blocked_either
from models.core.errors import NotFound

Rule = Callable[..., Awaitable[bool]]

RULES: dict[str, str] = {
    "public": "models.content.visibility:everyone",
    "followers": "models.social.follows:followers_only",
    "circle": "models.social.circles:members_only",
    "subscribers": "models.wallet.subscriptions:subscriber_rule",
}
_loaded: dict[str, Rule] = {}


async def everyone(svc, viewer_id: UUID | None, post) -> bool:
    return True


def _rule(visibility: str) -> Rule | None:
    if visibility not in _loaded:
        target = RULES.get(visibility)
        if target is None:
            return None
        mod, _, fn = target.partition(":")
        _loaded[visibility] = getattr(importlib.import_module(mod), fn)
    return _loaded[visibility]


async def can_see(svc, viewer_id: UUID | None, post) -> bool:
    """`post`: a models.content.posts.Post or PostRef (author_id, visibility, circle_id)."""
    # an expired story exists for nobody, its author included (models/content/posts.py)
    expires_at = getattr(post, "expires_at", None)
    if expires_at is not None and expires_at <= utcnow():
        return False
    if viewer_id is not None and post.author_id == viewer_id:
        return True
    rule = _rule(post.visibility)
    if rule is None or not await rule(svc, viewer_id, post):
        return False
    # a post with a video reaches others only once the video is ready (models/media/videos.py)
    if getattr(post, "video_id", None) is not None:
        from models.media.videos import is_ready
        if not await is_ready(svc, post.video_id):
            return False
    # Last: for public posts this one Redis read is the whole cost of the check.
    return viewer_id is None or not await blocked_either(svc, viewer_id, post.author_id)


async def ensure_visible(svc, viewer_id: UUID | None, post) -> None:
    """NotFound unless the viewer may see `post`: a post you may not see does not exist for you
    (no 403 oracle)."""
    if not await can_see(svc, viewer_id, post):
        raise NotFound("no such post", code="post_not_found")


async def get_visible_post(svc, viewer_id: UUID | None, post_id: UUID):
    """The post, or NotFound."""
    from models.content.posts import get_post
    post = await get_post(svc, post_id)
    await ensure_visible(svc, viewer_id, post)
    return post
