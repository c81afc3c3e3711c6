"""Verification badges: admins grant and revoke them; profiles show them; trust score counts them.

A held badge is a row; revoking deletes it (the audit log keeps the history). Each change is
audited and published (`user.badge_granted` / `user.badge_revoked`) through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts.users import User
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

# verified: the person or organisation is who the profile says; creator: a known creator;
# official: a government body, brand or the platform itself.
BADGES = ("verified", "creator", "official")


class UserBadge(Base):
    __tablename__ = "user_badges"
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    badge: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _check(badge: str) -> None:
    if badge not in BADGES:
        raise DomainError(f"badge must be one of {', '.join(BADGES)}", code="unknown_badge")


async def of_user(s: AsyncSession, user_id: UUID) -> list[dict]:
    rows = (
        await s.execute(
            select(UserBadge.badge, UserBadge.granted_at).where(UserBadge.user_id == user_id).order_by(UserBadge.badge)
        )
    ).all()
    return [{"name": r.badge, "granted_at": r.granted_at.isoformat()} for r in rows]


async def grant(
    svc: Services, *, user_id: UUID, badge: str, actor: UUID, client: Client | None = None
) -> tuple[dict, bool]:
    """(the badge, whether it is new). Granting a held badge changes nothing."""
    _check(badge)
    async with outbox.transaction(svc) as s:
        if await s.get(User, user_id) is None:
            raise NotFound("no such user", code="user_not_found")
        row = (
            await s.execute(
                insert(UserBadge)
                .values(user_id=user_id, badge=badge, granted_by=actor, granted_at=utcnow())
                .on_conflict_do_nothing()
                .returning(UserBadge.granted_at)
            )
        ).first()
        if row is None:
            held = await s.get(UserBadge, (user_id, badge))
            if held is None:  # revoked between the two statements
                raise Conflict("the badge was revoked meanwhile; retry", code="concurrent_change")
            return {"name": badge, "granted_at": held.granted_at.isoformat()}, False
        audit.stage(s, "admin.badge_granted", client, actor=actor, subject=f"user:{user_id}", details={"badge": badge})
        outbox.stage(s, Event("user.badge_granted", {"user_id": str(user_id), "badge": badge}, actor=actor))
    return {"name": badge, "granted_at": row.granted_at.isoformat()}, True


async def revoke(svc: Services, *, user_id: UUID, badge: str, actor: UUID, client: Client | None = None) -> None:
    _check(badge)
    async with outbox.transaction(svc) as s:
        gone = (
            await s.execute(
                delete(UserBadge)
                .where(UserBadge.user_id == user_id, UserBadge.badge == badge)
                .returning(UserBadge.badge)
            )
        ).first()
        if gone is None:
            raise NotFound("this user does not hold that badge", code="badge_not_found")
        audit.stage(s, "admin.badge_revoked", client, actor=actor, subject=f"user:{user_id}", details={"badge": badge})
        outbox.stage(s, Event("user.badge_revoked", {"user_id": str(user_id), "badge": badge}, actor=actor))
