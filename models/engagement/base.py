"""The engagement store: reaction edges and per-post counters; follow edges and per-user counters.

Two implementations behind this interface: PostgreSQL (default) and ScyllaDB/Cassandra
(`SCYLLA_HOSTS`). Correctness rule shared by both: a counter moves only when an edge really
changes state (inactive -> active: +1, active -> inactive: -1), and an edge takes an event only
if that event's id (UUIDv7, time-ordered) is newer than the last one it took. So redelivered,
repeated or stale events are no-ops, and non-idempotent increments (CQL counters) stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

REACTION_TYPES = ("like", "love", "laugh", "wow", "sad", "angry")
# API names of the counters, by stored kind.
COUNTER_NAMES = {"like": "likes", "love": "loves", "laugh": "laughs", "wow": "wows", "sad": "sads", "angry": "angries"}


@dataclass(frozen=True, slots=True)
class ReactionChange:
    post_id: UUID
    user_id: UUID
    type: str
    active: bool
    event_id: UUID

    @property
    def edge(self) -> tuple[UUID, UUID, str]:
        return (self.post_id, self.user_id, self.type)


@dataclass(frozen=True, slots=True)
class FollowChange:
    follower_id: UUID
    followee_id: UUID
    active: bool
    event_id: UUID

    @property
    def edge(self) -> tuple[UUID, UUID]:
        return (self.follower_id, self.followee_id)


# Per-user counters moved by follow edges: the followee's "followers", the follower's "following".
FOLLOW_COUNTERS = ("followers", "following")


@dataclass(frozen=True, slots=True)
class FollowLink:
    """One entry of a followers/following list: the other user, and the id of the event that
    made the edge active (UUIDv7, so also when). (since, user_id) is the list's keyset."""

    user_id: UUID
    since: UUID


def latest_per_edge(changes: Iterable[ReactionChange | FollowChange]) -> list:
    """Keep only the newest event per edge (what the edge would end with), sorted by edge so
    concurrent writers lock rows in the same order."""
    latest: dict[tuple, ReactionChange | FollowChange] = {}
    for c in changes:
        cur = latest.get(c.edge)
        if cur is None or c.event_id > cur.event_id:
            latest[c.edge] = c
    return [latest[k] for k in sorted(latest)]


def named(kinds: dict[str, int]) -> dict[str, int]:
    """Stored kinds -> the API's counter object, every known counter present."""
    return {name: int(kinds.get(kind, 0)) for kind, name in COUNTER_NAMES.items()}


class FollowLists:
    """`list_followers` and `list_following` of both stores, over the store's own
    `_list(direction, user_id, after, limit)` ("followers" or "following")."""

    async def _list(self, direction: str, user_id: UUID, after: FollowLink | None, limit: int) -> list[FollowLink]:
        raise NotImplementedError

    async def list_followers(self, user_id: UUID, *, after: FollowLink | None, limit: int) -> list[FollowLink]:
        return await self._list("followers", user_id, after, limit)

    async def list_following(self, user_id: UUID, *, after: FollowLink | None, limit: int) -> list[FollowLink]:
        return await self._list("following", user_id, after, limit)


class EngagementStore(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def apply_reactions(self, changes: Sequence[ReactionChange]) -> dict[UUID, dict[str, int]]:
        """Apply (already reduced) changes; return the full counters {kind: n} of each post whose
        counters changed."""

    async def get_counters(self, post_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        """Counters {kind: n} per post (posts without any counter map to {})."""

    async def reconcile(self) -> int:
        """Recompute every reaction counter from the edges; return how many were wrong."""

    async def apply_follows(self, changes: Sequence[FollowChange]) -> dict[UUID, dict[str, int]]:
        """Apply (already reduced) follow changes, same rule as reactions: an edge takes a change
        only if newer, the followee's "followers" and the follower's "following" move only on a
        real flip. Returns the full follow counters of each user whose counters changed."""

    async def get_follow_counts(self, user_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        """{"followers": n, "following": n} per user, both always present."""

    async def is_following(self, follower_id: UUID, followee_id: UUID) -> bool: ...

    async def reactions_of(self, user_id: UUID, post_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
        """The user's active reaction types per post (posts without one are absent)."""

    async def reactions_by_user(self, user_id: UUID) -> list[tuple[UUID, str]]:
        """(post, type) of every active reaction of the user (export, erasure; not a hot path)."""
        ...

    async def following_among(self, follower_id: UUID, followee_ids: Sequence[UUID]) -> set[UUID]:
        """Which of `followee_ids` the follower actively follows."""

    async def list_followers(self, user_id: UUID, *, after: FollowLink | None, limit: int) -> list[FollowLink]:
        """Active followers of `user_id`, newest first (since desc, user_id desc), strictly after
        the `after` entry: a keyset, so follows made while paging never shift later pages."""

    async def list_following(self, user_id: UUID, *, after: FollowLink | None, limit: int) -> list[FollowLink]:
        """Users `user_id` actively follows, same order and keyset as list_followers."""

    async def reconcile_follows(self) -> int:
        """Recompute every follow counter from the edges; return how many were wrong."""
