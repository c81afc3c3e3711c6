"""The engagement store: reaction edges and per-post counters.

Two implementations behind this interface: PostgreSQL (default) and ScyllaDB/Cassandra
(`SCYLLA_HOSTS`). Correctness rule shared by both: a counter moves only when an edge really
changes state (inactive -> active: +1, active -> inactive: -1), and an edge takes an event only
if that event's id (UUIDv7, time-ordered) is newer than the last one it took. So redelivered,
repeated or stale events are no-ops, and non-idempotent increments (CQL counters) stay exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence
from uuid import UUID

REACTION_TYPES = ("like", "love", "laugh", "wow", "sad", "angry")
# API names of the counters, by stored kind.
COUNTER_NAMES = {"like": "likes", "love": "loves", "laugh": "laughs", "wow": "wows",
                 "sad": "sads", "angry": "angries"}


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


def latest_per_edge(changes: Iterable[ReactionChange]) -> list[ReactionChange]:
    """Keep only the newest event per edge (what the edge would end with), sorted by edge so
    concurrent writers lock rows in the same order."""
    latest: dict[tuple, ReactionChange] = {}
    for c in changes:
        cur = latest.get(c.edge)
        if cur is None or c.event_id > cur.event_id:
            latest[c.edge] = c
    return [latest[k] for k in sorted(latest)]


def named(kinds: dict[str, int]) -> dict[str, int]:
    """Stored kinds -> the API's counter object, every known counter present."""
    return {name: int(kinds.get(kind, 0)) for kind, name in COUNTER_NAMES.items()}


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
