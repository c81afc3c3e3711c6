"""Response bodies of feeds, trending, recommendations and interests."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class FeedItemOut(Open):
    post: dict[str, Any]
    layer: str | None = None


class FeedPage(Page[FeedItemOut]):
    """A feed page; X-Feed-Cache says whether it came from the 30 s cache."""


class RecommendedOut(Open):
    """A post with `reason`: interests | following | trending."""

    id: str
    reason: str | None = None


RecommendedPage = Page[RecommendedOut]


class InterestsOut(Open):
    topics: list[str]
    updated_at: str | None = None


class SearchPage(Page[dict[str, Any]]):
    """type=users: the post view's `author` objects; posts: post views (docs/feeds.md#the-post-view);
    hashtags: {"tag", "post_count"}. Best match first (docs/search.md). `semantic`: whether
    caption-embedding matches were merged into these posts (false: text only, because mode=text,
    SEARCH_SEMANTIC=false, or the worker did not answer in time; always false for users and hashtags)."""

    semantic: bool = False


class TrendingHashtagOut(Open):
    """`users`: distinct users of the tag in the window; `score`: docs/hashtags.md."""

    tag: str
    score: float
    users: int
    post_count: int


class TrendingHashtagsOut(Open):
    items: list[TrendingHashtagOut]
    window: str
