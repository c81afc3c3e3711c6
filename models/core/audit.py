"""Audit log (PDPL): who did what to which account or session, when, from where.

A row is staged in the same transaction as the state change it records (`stage`), so a change
and its record commit or vanish together; events without a state change (a failed login, a
refused request) get their own insert (`record`). Rows never hold a password, code or token:
`subject` names what the event is about — `user:<id>`, `session:<id>`, or, for an address
nobody is known by, `email:<hmac>` (HMAC-SHA256 of the lower-cased email keyed with a key
derived from JWT_SECRET: stable enough to correlate attempts, not reversible by a dictionary
of emails without the secret; `email_digest` computes it for an investigation).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, Unpack, cast
from uuid import UUID

from sqlalchemy import CursorResult, DateTime, String, Uuid, delete, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, utcnow
from models.core.events import new_id
from models.core.protocols import CoreServices


@dataclass(frozen=True)
class Client:
    """Where a request came from, as the API saw it."""

    ip: str | None = None
    user_agent: str | None = None


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)  # UUIDv7: time-ordered
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The authenticated user who acted; null when nobody had proven who they are.
    actor_user_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    details: Mapped[dict] = mapped_column(JSONB, default=dict)


def email_digest(svc: CoreServices, email: str) -> str:
    key = hashlib.sha256(b"daira-audit-email:" + svc.settings.jwt_secret.encode()).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _row(
    action: str,
    client: Client | None,
    actor: UUID | None = None,
    subject: str | None = None,
    details: dict | None = None,
) -> AuditLog:
    client = client or Client()
    return AuditLog(
        id=new_id(),
        at=utcnow(),
        actor_user_id=actor,
        action=action,
        subject=subject,
        ip=(client.ip or None) and client.ip[:64],
        user_agent=(client.user_agent or None) and client.user_agent[:512],
        details=details or {},
    )


class About(TypedDict, total=False):
    """The keyword arguments of `stage` and `record`; each defaults to None."""

    actor: UUID | None
    subject: str | None
    details: dict | None


def stage(s: AsyncSession, action: str, client: Client | None, **about: Unpack[About]) -> None:
    """Add the record to the caller's open transaction."""
    s.add(_row(action, client, **about))


async def record(svc: CoreServices, action: str, client: Client | None, **about: Unpack[About]) -> None:
    """Its own insert, for an event that changes no state."""
    async with svc.sessions() as s, s.begin():
        stage(s, action, client, **about)


async def prune(s: AsyncSession, before: datetime, *, batch: int = 5000) -> int:
    """Delete one batch of records older than `before` (AUDIT_RETENTION, jobs/retention.py)."""
    old = select(AuditLog.id).where(AuditLog.at < before).order_by(AuditLog.at).limit(batch)
    res = cast(CursorResult, await s.execute(delete(AuditLog).where(AuditLog.id.in_(old))))
    return res.rowcount or 0
