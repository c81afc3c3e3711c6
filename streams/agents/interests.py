"""Interests agents: engagement signals -> each user's interest vector and candidate list
(models/discovery/interests.py does the work)."""

from __future__ import annotations

from collections import defaultdict

from ml import embeddings
from models.core.topics import ENGAGEMENT, FEEDBACK, REACTIONS, RECS_USERS, REPORTS
from models.discovery.interests import (
    record_signals,
    refresh_users,
    signal_of,
)
from models.discovery.recommendations import (
    Signal,
)
from streams.batch import batch_agent


async def apply_signals(events: list[dict], svc) -> None:
    by_user: dict[str, list[Signal]] = defaultdict(list)
    refresh = set()
    for ev in events:
        got = signal_of(ev)
        if got is not None:
            by_user[got[0]].append(got[1])
        elif ev["type"] == "recs.refresh_requested":
            refresh.add(ev["payload"]["user_id"])
    if by_user:
        await record_signals(svc.redis, by_user, svc.settings.recs_history)
    if by_user or refresh:
        await refresh_users(svc, sorted(set(by_user) | refresh))


# One consumer group per topic (a batch agent reads one topic); the same handler for all.
recs_reactions = batch_agent(REACTIONS, name="recs_reactions", max_records=1000, warmup=embeddings.warm)(apply_signals)


recs_engagement = batch_agent(ENGAGEMENT, name="recs_engagement", max_records=1000, warmup=embeddings.warm)(
    apply_signals
)


recs_feedback = batch_agent(FEEDBACK, name="recs_feedback", max_records=1000, warmup=embeddings.warm)(apply_signals)


recs_reports = batch_agent(REPORTS, name="recs_reports", max_records=1000, warmup=embeddings.warm)(apply_signals)


recs_users = batch_agent(RECS_USERS, name="recs_users", max_records=500, warmup=embeddings.warm)(apply_signals)
