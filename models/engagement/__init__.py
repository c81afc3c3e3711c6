from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from infra.settings import Settings
from models.engagement.base import (
    COUNTER_NAMES,
    FOLLOW_COUNTERS,
    REACTION_TYPES,
    EngagementStore,
    FollowChange,
    FollowLink,
    ReactionChange,
    latest_per_edge,
    named,
)


def make_store(settings: Settings, engine: AsyncEngine) -> EngagementStore:
    """ScyllaDB/Cassandra when SCYLLA_HOSTS is set, else PostgreSQL."""
    if settings.scylla_hosts:
        from models.engagement.cql import CqlEngagementStore

        return CqlEngagementStore(settings)
    from models.engagement.pg import PgEngagementStore

    return PgEngagementStore(engine)


__all__ = [
    "COUNTER_NAMES",
    "FOLLOW_COUNTERS",
    "REACTION_TYPES",
    "EngagementStore",
    "FollowChange",
    "FollowLink",
    "ReactionChange",
    "latest_per_edge",
    "make_store",
    "named",
]
