"""Interests agent (recs_signals): engagement signals -> each user's interest vector and candidate list
(models/discovery/interests.py does the work)."""

from __future__ import annotations

from collections import defaultdict

from ml import embeddings
from models.core.events import Received
from models.core.topics import ENGAGEMENT, FEEDBACK, REACTIONS, RECS_USERS, REPORTS, RecsRefreshPayload
from models.discovery.interests import (
    record_signals,
    refresh_users,
    signal_of,
)
from models.discovery.recommendations import (
    Signal,
)
from streams.batch import batch_agent


async def apply_signals(events: list[Received], svc) -> None:
    by_user: dict[str, list[Signal]] = defaultdict(list)
    refresh = set()
    for ev in events:
        got = signal_of(ev)
        if got is not None:
            by_user[got[0]].append(got[1])
        elif isinstance(ev.payload, RecsRefreshPayload):
            refresh.add(str(ev.payload.user_id))
    if by_user:
        await record_signals(svc.redis, by_user, svc.settings.recs_history)
    if by_user or refresh:
        await refresh_users(svc, sorted(set(by_user) | refresh))


# One consumer per topic, each in the group of the one-topic agent it replaced (offsets carry over).
recs_signals = batch_agent(
    REACTIONS,
    ENGAGEMENT,
    FEEDBACK,
    REPORTS,
    RECS_USERS,
    name="recs_signals",
    max_records={REACTIONS: 1000, ENGAGEMENT: 1000, FEEDBACK: 1000, REPORTS: 1000, RECS_USERS: 500},
    warmup=embeddings.warm,
    groups={
        REACTIONS: "recs_reactions",
        ENGAGEMENT: "recs_engagement",
        FEEDBACK: "recs_feedback",
        REPORTS: "recs_reports",
        RECS_USERS: "recs_users",
    },
)(apply_signals)
