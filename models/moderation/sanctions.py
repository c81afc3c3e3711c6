"""Account actions (warn, strike, suspend, ban): the interface the decisions call.

PLACEHOLDER of this branch: the real module (strike policy, suspensions, bans, their reversal and
the sockets closed after commit) comes from the sanctions work; these signatures are the contract
models/moderation/decisions.py calls. Here `apply` records nothing and only reports what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from models.core.base import utcnow

if TYPE_CHECKING:
    from infra.services import Services


@dataclass(frozen=True)
class Outcome:
    """What took effect (including any escalation by the strike policy)."""

    decision_id: UUID
    user_id: UUID | None
    actions: tuple[str, ...]
    until: datetime | None = None


async def apply(
    s: AsyncSession,
    svc: Services,
    *,
    user_id: UUID,
    action: Literal["warn", "strike", "suspend", "ban"],
    decision_id: UUID,
    reason: str,
    rule: str | None,
    duration_hours: int | None,
    actor_id: UUID,
) -> Outcome:
    until = utcnow() + timedelta(hours=duration_hours) if action == "suspend" and duration_hours else None
    return Outcome(decision_id, user_id, (action,), until)


async def revert(s: AsyncSession, svc: Services, *, decision_id: UUID) -> Outcome:
    return Outcome(decision_id, None, ())


async def after_commit(svc: Services, outcome: Outcome) -> None:
    return None
