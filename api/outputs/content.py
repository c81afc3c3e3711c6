"""Response bodies of posts, comments, remixes, views, shares and feedback."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class PostOut(Open):
    id: str
    author_id: str
    caption: str
    visibility: str
    circle_id: str | None = None
    video_id: str | None = None
    kind: str
    expires_at: str | None = None
    created_at: str
    remix: dict[str, Any] | None = None


class CountersOut(Open):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""


class CommentOut(Open):
    id: str
    post_id: str
    author_id: str
    parent_id: str | None = None
    body: str
    mentions: list[str] = []
    reply_count: int | None = None
    created_at: str
    edited_at: str | None = None


CommentPage = Page[CommentOut]


class DeletedOut(Open):
    deleted: int


class RemixSettingsOut(Open):
    allow_duets: bool | None = None
    allow_stitches: bool | None = None


RemixPage = Page[PostOut]


class ViewOut(Open):
    """202 when the view counted, 200 when it did not (too short, or a repeat within the hour)."""

    counted: bool


class ShareOut(Open):
    counted: bool
    event_id: str | None = None


class FeedbackOut(Open):
    post_id: str
    kind: str


class RemovedOut(Open):
    removed: bool


class PostViewOut(PostOut):
    """The render-ready post (docs/feeds.md#the-post-view)."""

    hashtags: list[str] = []
    mentions: list[str] = []
    edited_at: str | None = None
    author: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    counters: dict[str, int] | None = None
    viewer: dict[str, Any] | None = None


class PostPage(Page[PostViewOut]):
    pass
