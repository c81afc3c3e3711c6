"""Account sanctions: warnings, strikes, suspensions, bans, and their enforcement (docs/moderation.md
"Sanctions and strike policy").

A moderation decision (the decision endpoint, models/moderation/decisions) calls `apply` inside its
own transaction, then `after_commit` once it committed; an overturned appeal calls `revert`, then
`after_commit`. Every sanction is one `account_sanctions` row naming the decision that caused it.

The strike policy (STRIKE_WINDOW, STRIKES_PER_SUSPENSION, ESCALATION): a strike counts while it is
not reverted and younger than 90 days; the strike that brings the count to 3 (6, 9 ...) also
suspends the account for 7 days, recorded as caused by the same decision (`automatic`).

Enforcement reads `restriction`: the active suspension or ban, cached in Redis
(`sanction:<user_id>`) and deleted by `after_commit`. A suspension ends by itself: every check
compares its `until` with the clock (also on a cached copy), and the cache entry expires at
`until` at the latest; no job lifts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

import orjson
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, Text, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import sessions
from models.accounts.users import User
from models.core import audit, outbox
from models.core.base import Base, utcnow
from models.core.errors import DomainError, Forbidden
from models.core.events import Event, new_id

if TYPE_CHECKING:
    from infra.services import Services

Action = Literal["warn", "strike", "suspend", "ban"]
ACTIONS: tuple[str, ...] = ("warn", "strike", "suspend", "ban")

STRIKE_WINDOW = timedelta(days=90)
STRIKES_PER_SUSPENSION = 3
ESCALATION = timedelta(days=7)
MAX_SUSPENSION_HOURS = 24 * 365
CACHE_TTL = 300  # seconds a cached restriction (or its absence) is trusted at most
_NONE = b"-"


class AccountSanction(Base):
    __tablename__ = "account_sanctions"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)  # UUIDv7: time-ordered
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    decision_id: Mapped[UUID] = mapped_column(Uuid, index=True)  # the decisions table is not ours: no FK
    action: Mapped[str] = mapped_column(String(10))
    rule: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)  # added by the strike policy
    actor_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)  # the moderator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # suspensions
    reverted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        CheckConstraint("action IN ('warn', 'strike', 'suspend', 'ban')", name="action"),
        Index("ix_account_sanctions_user_id", "user_id", "action", "created_at"),
    )


@dataclass(frozen=True)
class Restriction:
    """What keeps an account out: a ban (`until` None) or a suspension until `until`."""

    action: Literal["suspend", "ban"]
    until: datetime | None

    @property
    def code(self) -> str:
        return "account_banned" if self.action == "ban" else "account_suspended"

    def error(self) -> Forbidden:
        if self.action == "ban":
            return Forbidden("this account is banned", code="account_banned", details={"until": None})
        assert self.until is not None
        until = self.until.isoformat()
        return Forbidden(f"this account is suspended until {until}", code=self.code, details={"until": until})

    def out(self) -> dict:
        return {"action": self.action, "code": self.code, "until": self.until.isoformat() if self.until else None}


@dataclass
class Outcome:
    """What `apply` or `revert` changed; hand it to `after_commit` once the transaction committed."""

    user_id: UUID
    decision_id: UUID
    action: str  # the decision's action; "revert" for `revert`
    until: datetime | None = None  # the suspension's end (suspend)
    escalated_until: datetime | None = None  # the strike policy's suspension, if this strike added one
    active_strikes: int = 0
    revoked_session_ids: list[UUID] = field(default_factory=list)
    lifted: list[UUID] = field(default_factory=list)  # sanction ids reverted (revert)
    sanction_ids: list[UUID] = field(default_factory=list)  # rows written (apply)

    @property
    def close_reason(self) -> str | None:
        """The socket close reason when sessions were revoked."""
        if not self.revoked_session_ids:
            return None
        return "account_banned" if self.action == "ban" else "account_suspended"


# ------------------------------------------------------------------ writing


def _event_type(action: str) -> str:
    return {"warn": "account.warned", "strike": "account.struck", "suspend": "account.suspended"}.get(
        action, "account.banned"
    )


def _stage(s: AsyncSession, etype: str, row: AccountSanction, strikes: int, actor: UUID | None) -> None:
    payload = {
        "sanction_id": str(row.id),
        "user_id": str(row.user_id),
        "decision_id": str(row.decision_id),
        "action": row.action,
        "rule": row.rule,
        "until": row.until.isoformat() if row.until else None,
        "automatic": row.automatic,
        "active_strikes": strikes,
    }
    outbox.stage(s, Event(etype, payload, actor=actor))


async def _active_strikes(s: AsyncSession, user_id: UUID, at: datetime) -> int:
    return (
        await s.scalar(
            select(func.count())
            .select_from(AccountSanction)
            .where(
                AccountSanction.user_id == user_id,
                AccountSanction.action == "strike",
                AccountSanction.reverted_at.is_(None),
                AccountSanction.created_at > at - STRIKE_WINDOW,
                AccountSanction.created_at <= at,
            )
        )
    ) or 0


async def _lock_user(s: AsyncSession, user_id: UUID) -> None:
    """Serializes the sanctions of one user (two strikes at once count each other)."""
    found = await s.scalar(select(User.id).where(User.id == user_id).with_for_update())
    if found is None:
        raise DomainError("no such user", code="user_not_found")


async def apply(
    s: AsyncSession,
    svc: Services,
    *,
    user_id: UUID,
    action: Action,
    decision_id: UUID,
    reason: str,
    rule: str | None,
    duration_hours: int | None,
    actor_id: UUID,
) -> Outcome:
    """Record the sanction of `decision_id` in the caller's open transaction (outbox.transaction):
    the row, the strike policy's suspension, the revoked sessions (suspend, ban), the events and
    the audit row. Call `after_commit` with the result once committed."""
    if action not in ACTIONS:
        raise DomainError(f"action must be one of {', '.join(ACTIONS)}", code="validation_error")
    if action == "suspend":
        if duration_hours is None or not 1 <= duration_hours <= MAX_SUSPENSION_HOURS:
            raise DomainError(
                f"a suspension needs duration_hours between 1 and {MAX_SUSPENSION_HOURS}", code="validation_error"
            )
    elif duration_hours is not None:
        raise DomainError("duration_hours is only for a suspension", code="validation_error")
    await _lock_user(s, user_id)
    now = utcnow()
    out = Outcome(user_id=user_id, decision_id=decision_id, action=action)
    until = now + timedelta(hours=duration_hours) if duration_hours else None
    row = AccountSanction(
        id=new_id(),
        user_id=user_id,
        decision_id=decision_id,
        action=action,
        rule=rule,
        reason=reason,
        actor_id=actor_id,
        created_at=now,
        until=until,
    )
    s.add(row)
    await s.flush()
    out.until, out.sanction_ids = until, [row.id]
    out.active_strikes = await _active_strikes(s, user_id, now)
    _stage(s, _event_type(action), row, out.active_strikes, actor_id)
    if action == "strike" and out.active_strikes % STRIKES_PER_SUSPENSION == 0:
        escalation = AccountSanction(
            id=new_id(),
            user_id=user_id,
            decision_id=decision_id,
            action="suspend",
            rule=rule,
            reason=reason,
            automatic=True,
            actor_id=actor_id,
            created_at=now,
            until=now + ESCALATION,
        )
        s.add(escalation)
        out.escalated_until = escalation.until
        out.sanction_ids.append(escalation.id)
        _stage(s, "account.suspended", escalation, out.active_strikes, actor_id)
    if action in ("suspend", "ban") or out.escalated_until is not None:
        out.revoked_session_ids = await sessions.revoke_all(s, user_id)
    audit.stage(
        s,
        f"moderation.account_{_event_type(action).split('.')[1]}",
        None,
        actor=actor_id,
        subject=f"user:{user_id}",
        details={
            "decision_id": str(decision_id),
            "rule": rule,
            "until": until.isoformat() if until else None,
            "active_strikes": out.active_strikes,
            "escalated_until": out.escalated_until.isoformat() if out.escalated_until else None,
            "sessions_revoked": len(out.revoked_session_ids),
        },  # never the reason: free text, like a case's note
    )
    return out


async def revert(s: AsyncSession, svc: Services, *, decision_id: UUID, actor_id: UUID | None = None) -> Outcome:
    """Undo every sanction `decision_id` caused (an overturned appeal), in the caller's open
    transaction: its rows are marked reverted (kept for the record), and a strike-policy suspension
    that no longer has its strikes (one counted strike was this decision's) is lifted too. One
    `account.reinstated` per lifted row. Reverting twice changes nothing the second time."""
    rows = list(
        (
            await s.execute(
                select(AccountSanction).where(
                    AccountSanction.decision_id == decision_id, AccountSanction.reverted_at.is_(None)
                )
            )
        ).scalars()
    )
    user_id = rows[0].user_id if rows else None
    if user_id is None:
        user_id = await s.scalar(select(AccountSanction.user_id).where(AccountSanction.decision_id == decision_id))
        if user_id is None:
            raise DomainError("this decision has no sanction", code="sanction_not_found")
        return Outcome(user_id=user_id, decision_id=decision_id, action="revert")
    await _lock_user(s, user_id)
    now = utcnow()
    for row in rows:
        row.reverted_at = now
    await s.flush()
    # Strike-policy suspensions of other decisions whose strikes are no longer enough.
    if any(r.action == "strike" for r in rows):
        others = (
            await s.execute(
                select(AccountSanction).where(
                    AccountSanction.user_id == user_id,
                    AccountSanction.automatic.is_(True),
                    AccountSanction.reverted_at.is_(None),
                    AccountSanction.until > now,
                )
            )
        ).scalars()
        for esc in others:
            if await _active_strikes(s, user_id, esc.created_at) < STRIKES_PER_SUSPENSION:
                esc.reverted_at = now
                rows.append(esc)
    strikes = await _active_strikes(s, user_id, now)
    for row in rows:
        _stage(s, "account.reinstated", row, strikes, actor_id)
    audit.stage(
        s,
        "moderation.account_reinstated",
        None,
        actor=actor_id,
        subject=f"user:{user_id}",
        details={
            "decision_id": str(decision_id),
            "lifted": [{"id": str(r.id), "action": r.action} for r in rows],
            "active_strikes": strikes,
        },
    )
    return Outcome(
        user_id=user_id,
        decision_id=decision_id,
        action="revert",
        active_strikes=strikes,
        lifted=[r.id for r in rows],
    )


async def after_commit(svc: Services, outcome: Outcome) -> None:
    """Once `apply`/`revert` committed: the cached restriction goes (the next check reads
    PostgreSQL), revoked sessions' tokens stop and their sockets close on every face with
    account_suspended / account_banned (docs/realtime-protocol.md)."""
    await svc.redis.delete(_cache_key(outcome.user_id))
    reason = outcome.close_reason
    if reason is not None:
        await sessions.publish_revoked(svc, outcome.user_id, outcome.revoked_session_ids, reason)


# ------------------------------------------------------------------ reading


def _cache_key(user_id: UUID) -> str:
    return f"sanction:{user_id}"


def _active(now: datetime):
    return (
        AccountSanction.action.in_(("suspend", "ban")),
        AccountSanction.reverted_at.is_(None),
        (AccountSanction.until.is_(None)) | (AccountSanction.until > now),
    )


async def _restriction_from_db(svc: Services, user_id: UUID, now: datetime) -> Restriction | None:
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(AccountSanction.action, AccountSanction.until).where(
                    AccountSanction.user_id == user_id, *_active(now)
                )
            )
        ).all()
    if any(r.action == "ban" for r in rows):
        return Restriction("ban", None)
    if rows:
        return Restriction("suspend", max(r.until for r in rows))
    return None


async def restriction(svc: Services, user_id: UUID) -> Restriction | None:
    """The active suspension or ban of `user_id`, or None: one Redis GET when cached (CACHE_TTL at
    most, never past a suspension's end), else one PostgreSQL read."""
    now = utcnow()
    key = _cache_key(user_id)
    cached = await svc.redis.get(key)
    if cached is not None:
        if cached == _NONE:
            return None
        data = orjson.loads(cached)
        until = datetime.fromisoformat(data["until"]) if data["until"] else None
        if until is not None and until <= now:
            return None  # ended meanwhile: a suspension lifts itself
        return Restriction(data["action"], until)
    found = await _restriction_from_db(svc, user_id, now)
    ttl = CACHE_TTL
    if found is None:
        value = _NONE
    else:
        value = orjson.dumps({"action": found.action, "until": found.until.isoformat() if found.until else None})
        if found.until is not None:
            ttl = max(1, min(ttl, int((found.until - now).total_seconds()) + 1))
    await svc.redis.set(key, value, ex=ttl)
    return found


async def refusal(svc: Services, user_id: UUID) -> Forbidden | None:
    """The 403 a restricted account gets for a login, a refresh or a write; None when free."""
    found = await restriction(svc, user_id)
    return found.error() if found is not None else None


async def ensure_may_write(svc: Services, user_id: UUID) -> None:
    refused = await refusal(svc, user_id)
    if refused is not None:
        raise refused


# --- appeals from outside ------------------------------------------------------------------
# A suspended or banned account has no session (its sessions are revoked and logins refused),
# yet must be able to read why and to appeal. A refused login or refresh (the password or the
# refresh token proved who is asking) carries an appeal token: for APPEAL_TOKEN_TTL it opens
# GET /users/me/moderation and POST /moderation/decisions/{id}/appeal, nothing else.

APPEAL_TOKEN_TTL = timedelta(hours=1)


def _appeal_mac(svc: Services, user_id: UUID, exp: int) -> str:
    key = hmac.new(svc.settings.jwt_secret.encode(), b"moderation-appeal-tokens", hashlib.sha256).digest()
    digest = hmac.new(key, f"{user_id}.{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def appeal_token(svc: Services, user_id: UUID) -> str:
    exp = int(time.time() + APPEAL_TOKEN_TTL.total_seconds())
    return f"{user_id}.{exp}.{_appeal_mac(svc, user_id, exp)}"


def appeal_user(svc: Services, token: str | None) -> UUID | None:
    """The account an unexpired appeal token was given to, else None."""
    uid, _, rest = (token or "").partition(".")
    exp, _, mac = rest.partition(".")
    try:
        user_id = UUID(uid)
    except ValueError:
        return None
    if not exp.isdigit() or int(exp) < time.time() or not hmac.compare_digest(mac, _appeal_mac(svc, user_id, int(exp))):
        return None
    return user_id


async def login_refusal(svc: Services, user_id: UUID) -> Forbidden | None:
    """The login guard: `refusal`, with `details.appeal_token` for the refused account."""
    refused = await refusal(svc, user_id)
    if refused is not None:
        refused.details = {**(refused.details or {}), "appeal_token": appeal_token(svc, user_id)}  # type: ignore[dict-item]
    return refused


def register() -> None:
    """infra/services.wire_domains: logins and refreshes of restricted accounts are refused (with
    an appeal token)."""
    sessions.register_login_guard(login_refusal)


def _row_out(r: AccountSanction, now: datetime) -> dict:
    # In force: a warning or a ban until reverted, a strike while the policy counts it, a
    # suspension until its end.
    active = r.reverted_at is None and (
        r.action in ("warn", "ban")
        or (r.action == "strike" and r.created_at > now - STRIKE_WINDOW)
        or (r.action == "suspend" and r.until is not None and r.until > now)
    )
    return {
        "id": str(r.id),
        "action": r.action,
        "rule": r.rule,
        "reason": r.reason,
        "automatic": r.automatic,
        "created_at": r.created_at.isoformat(),
        "until": r.until.isoformat() if r.until else None,
        "reverted_at": r.reverted_at.isoformat() if r.reverted_at else None,
        "active": active,
    }


async def history(svc: Services, user_id: UUID) -> list[dict]:
    """The user's sanctions, newest first (reverted ones too, marked): what they and staff see."""
    now = utcnow()
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(AccountSanction)
                .where(AccountSanction.user_id == user_id)
                .order_by(AccountSanction.id.desc())
                .limit(200)
            )
        ).scalars()
        return [_row_out(r, now) for r in rows]


async def summary(svc: Services, user_id: UUID) -> dict:
    """GET /users/me/restrictions: {"restriction", "active_strikes", "strike_policy", "sanctions"}."""
    found = await restriction(svc, user_id)
    async with svc.sessions() as s:
        strikes = await _active_strikes(s, user_id, utcnow())
    return {
        "restriction": found.out() if found else None,
        "active_strikes": strikes,
        "strike_policy": {
            "window_days": STRIKE_WINDOW.days,
            "strikes_per_suspension": STRIKES_PER_SUSPENSION,
            "suspension_days": ESCALATION.days,
        },
        "sanctions": await history(svc, user_id),
    }
