"""Response bodies of /users/* (follows, blocks, mutes, circles), profiles, trust and presence."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class FollowCountsOut(Open):
    followers: int
    following: int


class UserLinkOut(Open):
    """A user in a list, with when the link began (`followed_at` or `created_at`)."""

    user: dict[str, Any]


UserLinkPage = Page[UserLinkOut]


class CircleOut(Open):
    id: str
    owner_id: str
    name: str
    member_count: int | None = None
    created_at: str | None = None


CirclePage = Page[CircleOut]


class MembershipOut(Open):
    circle_id: str
    user_id: str


class ProfileOut(Open):
    user_id: str
    username: str | None = None
    display_name: str | None = None
    bio: str | None = None
    avatar: str | None = None
    language: str | None = None
    region: str | None = None
    badges: list[Any] = []
    joined_at: str | None = None
    avatar_url: str | None = None
    avatar_urls: dict[str, str] | None = None
    cover_media_id: str | None = None
    cover_url: str | None = None
    cover_urls: dict[str, str] | None = None
    counts: dict[str, int] | None = None


class TrustScoreOut(Open):
    user_id: str
    score: int
    components: dict[str, Any] = {}
    computed_at: str | None = None


class PresenceSettingsOut(Open):
    visible: bool


class PresenceOut(Open):
    user_id: str
    online: bool
    last_seen_at: str | None = None


class RoleOut(Open):
    """The user's role after the change."""


class BadgesOut(Open):
    """The badges the user holds."""
