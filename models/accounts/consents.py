"""Consent records (PDPL, Law 151/2020 art. 2 and 6): what a user agreed to, which version of
the text, when, and when they withdrew it (docs/privacy.md).

The texts are versioned here. A grant is a row; granting a newer version closes the older row
(`replaced`), withdrawing closes the active one (`withdrawn`). Rows are never updated otherwise
and never deleted while the account lives, so the history answers "what had this user agreed
to on that day". Required purposes (the terms, the privacy notice) cannot be withdrawn while the
account exists: leaving them is deleting the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from models.core import audit
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, NotFound
from models.core.events import new_id

if TYPE_CHECKING:
    from infra.services import Services


@dataclass(frozen=True)
class Purpose:
    version: str
    required: bool
    description: str


# A new version of a text: bump its version; users' grants of the old one show `current: false`
# until they agree again (clients prompt on that).
PURPOSES: dict[str, Purpose] = {
    "terms": Purpose("2026-12-01", True, "The terms of service."),
    "privacy_notice": Purpose("2026-12-01", True, "The privacy notice: what we store, where, for how long, why."),
    "personalisation": Purpose(
        "2026-12-01", False, "Recommendations and feed ranking from your views, likes and follows."
    ),
    "marketing": Purpose("2026-12-01", False, "News and offers by notification, email or WhatsApp."),
}


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (
        # one active grant per purpose
        Index("uq_consents_active", "user_id", "purpose", unique=True, postgresql_where=text("ended_at IS NULL")),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)  # withdrawn | replaced


def _purpose(name: str) -> Purpose:
    p = PURPOSES.get(name)
    if p is None:
        raise NotFound(f"no consent purpose {name!r}; see GET /users/me/consents", code="unknown_purpose")
    return p


def _row(c: Consent) -> dict:
    return {
        "version": c.version,
        "granted_at": c.granted_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "end_reason": c.end_reason,
    }


async def overview(svc: Services, user_id: UUID) -> dict:
    """Every purpose with its current text's version, whether the user agrees to that version,
    and the user's full history of grants and withdrawals."""
    async with svc.sessions() as s:
        rows = (
            await s.scalars(select(Consent).where(Consent.user_id == user_id).order_by(Consent.granted_at, Consent.id))
        ).all()
    items = []
    for name, p in PURPOSES.items():
        mine = [c for c in rows if c.purpose == name]
        active = next((c for c in mine if c.ended_at is None), None)
        items.append(
            {
                "purpose": name,
                "description": p.description,
                "required": p.required,
                "version": p.version,
                "granted": active is not None and active.version == p.version,
                "granted_version": active.version if active else None,
                "history": [_row(c) for c in mine],
            }
        )
    return {"items": items}


async def grant(svc: Services, user_id: UUID, purpose: str, version: str, client: Client | None = None) -> dict:
    """Agree to the current version of a purpose's text. Agreeing again to the same version
    changes nothing; a stale version is refused (409 `consent_version_outdated`): the user must
    have seen the text they agree to."""
    p = _purpose(purpose)
    if version != p.version:
        raise Conflict(
            f"the current {purpose} text is version {p.version}; show it and send that version",
            code="consent_version_outdated",
            details={"current_version": p.version},
        )
    async with svc.sessions() as s, s.begin():
        active = await s.scalar(
            select(Consent)
            .where(Consent.user_id == user_id, Consent.purpose == purpose, Consent.ended_at.is_(None))
            .with_for_update()
        )
        if active is not None and active.version == version:
            return {"purpose": purpose, **_row(active)}
        now = utcnow()
        if active is not None:
            active.ended_at, active.end_reason = now, "replaced"
            await s.flush()
        row = Consent(id=new_id(), user_id=user_id, purpose=purpose, version=version, granted_at=now)
        s.add(row)
        audit.stage(
            s,
            "consent.granted",
            client,
            actor=user_id,
            subject=f"user:{user_id}",
            details={"purpose": purpose, "version": version},
        )
    return {"purpose": purpose, **_row(row)}


async def withdraw(svc: Services, user_id: UUID, purpose: str, client: Client | None = None) -> dict:
    """Withdraw a consent; as easy as giving it (art. 6). Required purposes: 409
    `consent_required` (delete the account instead); nothing to withdraw: 404 `consent_not_found`."""
    p = _purpose(purpose)
    if p.required:
        raise Conflict(
            f"{purpose} is required to hold an account; to leave it, delete the account (DELETE /users/me)",
            code="consent_required",
        )
    async with svc.sessions() as s, s.begin():
        active = await s.scalar(
            select(Consent)
            .where(Consent.user_id == user_id, Consent.purpose == purpose, Consent.ended_at.is_(None))
            .with_for_update()
        )
        if active is None:
            raise NotFound(f"you have not agreed to {purpose}", code="consent_not_found")
        active.ended_at, active.end_reason = utcnow(), "withdrawn"
        audit.stage(
            s, "consent.withdrawn", client, actor=user_id, subject=f"user:{user_id}", details={"purpose": purpose}
        )
        out = {"purpose": purpose, **_row(active)}
    return out


async def has(svc: Services, user_id: UUID, purpose: str) -> bool:
    """Whether the user currently agrees to a purpose (any version: a newer text asks again, but
    an older grant is not void until withdrawn)."""
    async with svc.sessions() as s:
        return (
            await s.scalar(
                select(Consent.id).where(
                    Consent.user_id == user_id, Consent.purpose == purpose, Consent.ended_at.is_(None)
                )
            )
        ) is not None
