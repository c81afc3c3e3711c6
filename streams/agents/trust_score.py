"""Trust-score agents: recompute a user's stored trust score when one of its inputs changes.

Two consumers, one per topic, the same effect: every user an input event names is recomputed
from the current state (models/moderation/trust.py). That is idempotent, so redelivered, repeated or
reordered events are harmless, and a batch recomputes each user once however many events name
them. Account age and reciprocity change without events: reads refresh a score older than
TRUST_SCORE_MAX_AGE.
"""

from __future__ import annotations

from uuid import UUID

from models.core.events import Received
from models.core.topics import REPORTS, USERS, ReportPayload
from models.moderation import trust
from streams.batch import batch_agent

USER_INPUTS = {"user.registered", "user.phone_verified", "user.badge_granted", "user.badge_revoked"}
REPORT_INPUTS = {"report.created", "report.resolved"}


def users_named(events: list[Received], types: set[str]) -> set[UUID]:
    """The users whose score an input event of `types` changes: the account, or the reported user."""
    return {
        e.payload.target_user_id if isinstance(e.payload, ReportPayload) else e.payload.user_id
        for e in events
        if e.type in types
    }


@batch_agent(USERS, name="trust_score", max_records=500)
async def trust_score(events: list[Received], svc) -> None:
    await trust.recompute(svc, users_named(events, USER_INPUTS))


@batch_agent(REPORTS, name="trust_score_reports", max_records=500)
async def trust_score_reports(events: list[Received[ReportPayload]], svc) -> None:
    await trust.recompute(svc, users_named(events, REPORT_INPUTS))
