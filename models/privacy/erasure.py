"""Account erasure (PDPL art. 2: the right to erasure), docs/privacy.md.

`DELETE /users/me` with the password or a phone code asks for it: the account enters a grace
period of ERASURE_GRACE_DAYS (30) during which the user may cancel and every other call answers
403 `account_pending_deletion`. When it ends, `jobs/erase_accounts.py` marks the account
`erasing` and stages `account.erasure_due`; the erasure agent (in the worker, which owns Qdrant)
then applies the written rule of every store (`RULES`, and `erase` below) and records what it did.

The pending state is read on every authenticated call, so it lives in Redis
(`erasure:pending:<user>` = erase-after Unix time, no TTL) next to the PostgreSQL row, which is
the truth: the flag is set after the row commits and removed after a cancel or the erasure.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, String, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import phone_verification, sessions, users
from models.accounts.fresh_proof import FreshProofRequired
from models.accounts.users import User
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, Forbidden
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

DUE = "account.erasure_due"


class PendingDeletion(Forbidden):
    code = "account_pending_deletion"


class AccountErasure(Base):
    """One row per account that asked to be erased; it outlives the account's data (no foreign
    key) as the record that the erasure happened and what it removed."""

    __tablename__ = "account_erasures"
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(10))  # pending canceled erasing erased
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erase_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    report: Mapped[dict] = mapped_column(JSONB, default=dict)  # per store: what the erasure did


def _flag(user_id: UUID) -> str:
    return f"erasure:pending:{user_id}"


async def pending_until(svc: Services, user_id: UUID) -> float | None:
    """The erase-after time of an account in its grace period, else None (one Redis GET)."""
    v = await svc.redis.get(_flag(user_id))
    return float(v) if v else None


async def ensure_not_pending(svc: Services, user_id: UUID) -> None:
    until = await pending_until(svc, user_id)
    if until is not None:
        raise PendingDeletion(
            "this account is being deleted; cancel with POST /users/me/deletion/cancel to use it again",
            details={"erase_after": datetime.fromtimestamp(until).astimezone().isoformat()},
        )


async def _prove(svc: Services, user: User, password: str | None, otp_code: str | None, client: Client | None) -> None:
    """The password, or a code sent to the account's proven phone (POST /auth/otp/send); anything
    else is 403 `fresh_proof_required`, as the other acts that a stolen token must not do."""
    if password is not None:
        if await users.check_password(user, password):
            return
    elif otp_code is not None and user.phone and user.phone_verified_at:
        try:
            await phone_verification.check(svc, "otp", user.phone, otp_code, caller=user.id, client=client)
            return
        except DomainError as exc:
            if exc.status == 429:
                raise
    raise FreshProofRequired("deleting the account needs your password, or a code sent to your phone")


def _out(row: AccountErasure) -> dict:
    return {
        "state": row.state,
        "requested_at": row.requested_at.isoformat(),
        "erase_after": row.erase_after.isoformat(),
    }


async def request(
    svc: Services,
    user_id: UUID,
    *,
    password: str | None = None,
    otp_code: str | None = None,
    client: Client | None = None,
) -> dict:
    """Start the grace period; asking again while it runs answers the running one."""
    async with svc.sessions() as s:
        user = await s.get(User, user_id)
    if user is None:
        raise FreshProofRequired("deleting the account needs your password, or a code sent to your phone")
    await _prove(svc, user, password, otp_code, client)
    now = utcnow()
    async with svc.sessions() as s, s.begin():
        row = await s.get(AccountErasure, user_id, with_for_update=True)
        if row is None:
            row = AccountErasure(user_id=user_id, report={})
            s.add(row)
        if row.state not in ("pending", "erasing"):
            row.state, row.requested_at = "pending", now
            row.erase_after = now + timedelta(days=svc.settings.erasure_grace_days)
            row.finished_at = None
            audit.stage(
                s,
                "privacy.erasure_requested",
                client,
                actor=user_id,
                subject=f"user:{user_id}",
                details={"erase_after": row.erase_after.isoformat()},
            )
        out = _out(row)
        erase_after = row.erase_after
    await svc.redis.set(_flag(user_id), erase_after.timestamp())
    # Its sessions stay (to cancel); its open sockets close, new ones are refused.
    await sessions.announce_ended(svc, user_id, None, "account_pending_deletion")
    return out


async def cancel(svc: Services, user_id: UUID, client: Client | None = None) -> dict:
    """Within the grace period: the account is back as it was. Nothing pending: 409
    `erasure_not_pending`; the erasure already started: 409 `erasure_started`."""
    async with svc.sessions() as s, s.begin():
        row = await s.get(AccountErasure, user_id, with_for_update=True)
        if row is None or row.state in ("canceled", "erased"):
            raise Conflict("this account is not being deleted", code="erasure_not_pending")
        if row.state == "erasing" or row.erase_after <= utcnow():
            raise Conflict("the erasure has started and cannot be cancelled", code="erasure_started")
        row.state, row.finished_at = "canceled", utcnow()
        audit.stage(s, "privacy.erasure_canceled", client, actor=user_id, subject=f"user:{user_id}")
        out = _out(row)
    await svc.redis.delete(_flag(user_id))
    return out


async def status(svc: Services, user_id: UUID) -> dict:
    async with svc.sessions() as s:
        row = await s.get(AccountErasure, user_id)
    if row is None or row.state in ("canceled", "erased"):
        return {"state": "none", "requested_at": None, "erase_after": None}
    return _out(row)


async def start_due(svc: Services, now: datetime | None = None, *, batch: int = 100) -> list[UUID]:
    """Accounts whose grace period ended: `erasing`, with an `account.erasure_due` event each
    (jobs/erase_accounts.py). Rows stuck in `erasing` are re-sent (the agent is idempotent)."""
    now = now or utcnow()
    async with outbox.transaction(svc) as s:
        rows = (
            await s.scalars(
                select(AccountErasure)
                .where(AccountErasure.state.in_(("pending", "erasing")), AccountErasure.erase_after <= now)
                .order_by(AccountErasure.erase_after)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.state = "erasing"
            outbox.stage(s, Event(DUE, {"user_id": str(row.user_id)}))
    return [r.user_id for r in rows]


async def finish(svc: Services, user_id: UUID, report: dict) -> None:
    async with svc.sessions() as s, s.begin():
        await s.execute(
            update(AccountErasure)
            .where(AccountErasure.user_id == user_id)
            .values(state="erased", finished_at=utcnow(), report=report)
        )
        audit.stage(s, "privacy.account_erased", None, subject=f"user:{user_id}", details={"report": report})
    await svc.redis.delete(_flag(user_id))


def unusable_password() -> str:
    """A hash no password verifies against (not an argon2 hash: verification fails closed)."""
    return "erased$" + secrets.token_hex(16)
