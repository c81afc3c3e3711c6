"""Decisions on the cases of the queue, appeals, and a user's moderation history (docs/moderation.md).

`decide` is one transaction holding the case row: it applies the action, records the decision
(with what `restore` needs), resolves the target's open reports (dismiss -> dismissed, anything
else -> upheld: the trust score counts them), writes the audit row, notifies the affected user
(the `notify` hook: messaging registers it) and stages `moderation.decided`. After the commit it
runs the target's and the sanctions' after-commit work and purges the CDN of removed media.

Actions: `dismiss`; `remove` / `restore` content (models/moderation/targets.py); `warn`, `strike`,
`suspend` (`duration_hours` required), `ban`, applied to the affected user by
models/moderation/sanctions.py. On an `appealed` case only `uphold` / `overturn` are accepted,
from a moderator other than the one whose decision is appealed: overturn undoes everything the
decision did (content back, quarantined media released, sanctions reverted).

Nobody judges their own case: a moderator cannot decide about their own content or account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, Uuid, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.moderation import quarantine, queue, sanctions, targets
from models.moderation.reports import Report

if TYPE_CHECKING:
    from infra.services import Services

CONTENT = ("dismiss", "remove", "restore")
ACCOUNT = ("warn", "strike", "suspend", "ban")
APPEAL = ("uphold", "overturn")
ACTIONS = CONTENT + ACCOUNT + APPEAL
APPEALABLE = ("remove", *ACCOUNT)
# the rule each action cites by default (the moderator may name another)
RULES = {"remove": "community_guidelines", **{a: "community_guidelines" for a in ACCOUNT}}


class DecisionNotFound(NotFound):
    code = "decision_not_found"


class Decision(Base):
    __tablename__ = "moderation_decisions"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)  # UUIDv7: time-ordered
    case_id: Mapped[UUID] = mapped_column(ForeignKey("moderation_queue.id", ondelete="CASCADE"), index=True)
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[UUID] = mapped_column(Uuid)
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # effective | overturned | upheld (after an appeal) | reversed (a later `restore`)
    status: Mapped[str] = mapped_column(String(10), default="effective")
    appeal_of: Mapped[UUID | None] = mapped_column(ForeignKey("moderation_decisions.id"), nullable=True)
    appeal_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    restore: Mapped[dict] = mapped_column(JSONB, default=dict)  # what overturning puts back
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Appeal(Base):
    __tablename__ = "moderation_appeals"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    decision_id: Mapped[UUID] = mapped_column(ForeignKey("moderation_decisions.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(10), nullable=True)  # upheld | overturned
    answered_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# ---------------------------------------------------------------- hooks

# notify(s, user_id=, decision=) -> opaque id, inside the transaction; pushed(svc, ids) after it.
Notify = Callable[..., Awaitable[Any]]
Pushed = Callable[["Services", list], Awaitable[None]]
_notify: list[tuple[Notify, Pushed]] = []


def register_notifier(notify: Notify, pushed: Pushed) -> None:
    """Messaging tells the affected user of each decision (idempotent)."""
    _notify[:] = [(notify, pushed)]


async def _tell(s: AsyncSession, user_id: UUID | None, decision: Decision) -> list:
    if user_id is None:
        return []
    return [await notify(s, user_id=user_id, decision=decision) for notify, _ in _notify]


async def _pushed(svc: Services, ids: list) -> None:
    for _, pushed in _notify:
        await pushed(svc, [i for i in ids if i is not None])


# ---------------------------------------------------------------- views


def public(d: Decision, appeal: Appeal | None = None) -> dict:
    return {
        "id": str(d.id),
        "case_id": str(d.case_id),
        "target_type": d.target_type,
        "target_id": str(d.target_id),
        "user_id": d.user_id and str(d.user_id),
        "action": d.action,
        "reason": d.reason,
        "rule": d.rule,
        "duration_hours": d.duration_hours,
        "status": d.status,
        "decided_by": d.actor_id and str(d.actor_id),
        "appeal_of": d.appeal_of and str(d.appeal_of),
        "appeal_until": d.appeal_until and d.appeal_until.isoformat(),
        "appeal": appeal_public(appeal) if appeal else None,
        "created_at": d.created_at.isoformat(),
    }


def appeal_public(a: Appeal) -> dict:
    return {
        "id": str(a.id),
        "decision_id": str(a.decision_id),
        "text": a.text,
        "outcome": a.outcome,
        "created_at": a.created_at.isoformat(),
        "answered_at": a.answered_at and a.answered_at.isoformat(),
    }


def _mine(d: Decision, appeal: Appeal | None) -> dict:
    """What the affected user sees: not who decided."""
    out = public(d, appeal)
    out.pop("decided_by")
    return out


# ---------------------------------------------------------------- deciding


async def _resolve_reports(s: AsyncSession, case: queue.QueueCase, outcome: str, actor: UUID) -> None:
    await s.execute(
        update(Report)
        .where(Report.target_type == case.target_type, Report.target_id == case.target_id, Report.status == "open")
        .values(status=outcome, resolved_at=utcnow(), resolved_by=actor)
    )


async def _last_removal(s: AsyncSession, case: queue.QueueCase) -> Decision | None:
    q = (
        select(Decision)
        .where(
            Decision.target_type == case.target_type,
            Decision.target_id == case.target_id,
            Decision.action == "remove",
            Decision.status.in_(("effective", "upheld")),
        )
        .order_by(Decision.id.desc())
        .limit(1)
        .with_for_update()
    )
    return (await s.execute(q)).scalar_one_or_none()


def _check_input(action: str, reason: str, duration_hours: int | None) -> None:
    if action not in ACTIONS:
        raise DomainError(f"action must be one of {', '.join(ACTIONS)}", code="invalid_action")
    if not reason.strip():
        raise DomainError("a decision needs a reason", code="validation_error", details=[{"field": "reason"}])
    if action == "suspend" and not duration_hours:
        raise DomainError(
            "suspend needs duration_hours", code="duration_required", details=[{"field": "duration_hours"}]
        )
    if action != "suspend" and duration_hours is not None:
        raise DomainError(
            "duration_hours goes with suspend only", code="validation_error", details=[{"field": "duration_hours"}]
        )


async def decide(
    svc: Services,
    *,
    actor: UUID,
    case_id: UUID,
    action: str,
    reason: str,
    rule: str | None = None,
    duration_hours: int | None = None,
    client: Client | None = None,
) -> dict:
    """201 the decision. 404 for non-staff and unknown cases; 409 `case_claimed` (another
    moderator holds it), `not_appealed` / `case_appealed` (uphold/overturn vs. other actions),
    `already_removed`, `not_removed`; 403 `case_about_you`, `decided_by_you` (answering an appeal
    of your own decision); 400 `invalid_action`, `duration_required`."""
    await queue.require_staff(svc, actor)
    _check_input(action, reason, duration_hours)
    after: list[targets.After] = []
    media: list[tuple[str, UUID]] = []
    outcome: sanctions.Outcome | None = None
    async with outbox.transaction(svc) as s:
        case = await queue.load(s, case_id, lock=True)
        if case.claimed_by is not None and case.claimed_by != actor:
            raise Conflict("another moderator claimed this case", code="case_claimed")
        if case.author_id == actor:
            raise Forbidden("you cannot decide a case about you or your content", code="case_about_you")
        target = targets.get(case.target_type)
        decision = Decision(
            id=new_id(),
            case_id=case.id,
            target_type=case.target_type,
            target_id=case.target_id,
            user_id=case.author_id,
            action=action,
            reason=reason.strip(),
            rule=rule or RULES.get(action),
            duration_hours=duration_hours,
            actor_id=actor,
            status="effective",
            restore={},
            created_at=utcnow(),
        )
        if action in APPEAL:
            if case.state != "appealed":
                raise Conflict("this case has no pending appeal", code="not_appealed")
            outcome, appealed = await _answer(s, svc, case, decision, actor, after)
            media = []
        else:
            if case.state == "appealed":
                raise Conflict("this case is appealed: uphold or overturn", code="case_appealed")
            s.add(decision)
            await s.flush()
            if action == "remove":
                if not target.removable:
                    raise DomainError(f"a {case.target_type} cannot be removed", code="invalid_action")
                removal = await target.remove(s, case.target_id, decision.id)
                decision.restore = removal.info
                media, after = removal.media, removal.after
                quarantine.hold(s, svc, decision.id, media)
            elif action == "restore":
                previous = await _last_removal(s, case)
                if previous is not None:
                    after = await target.restore(s, case.target_id, previous.restore, decision.id)
                    previous.status = "reversed"
                    await quarantine.release(s, previous.id)
                else:
                    after = await target.release(s, case.target_id)
            elif action in ACCOUNT:
                if case.author_id is None:
                    raise DomainError("this case names no user", code="invalid_action")
                outcome = await sanctions.apply(
                    s,
                    svc,
                    user_id=case.author_id,
                    action=cast(Any, action),
                    decision_id=decision.id,
                    reason=decision.reason,
                    rule=decision.rule,
                    duration_hours=duration_hours,
                    actor_id=actor,
                )
            if action in APPEALABLE:
                decision.appeal_until = utcnow() + timedelta(days=svc.settings.appeal_window_days)
            await _resolve_reports(s, case, "dismissed" if action == "dismiss" else "upheld", actor)
        case.state, case.claimed_by, case.claimed_at, case.updated_at = "decided", None, None, utcnow()
        audit.stage(
            s,
            "moderation.decided",
            client,
            actor=actor,
            subject=f"case:{case.id}",
            details={
                "decision_id": str(decision.id),
                "action": action,
                "target_type": case.target_type,
                "target_id": str(case.target_id),
                "user_id": case.author_id and str(case.author_id),
                "rule": decision.rule,
                **({"duration_hours": duration_hours} if duration_hours else {}),
                **({"appeal_of": str(decision.appeal_of)} if decision.appeal_of else {}),
            },
        )
        outbox.stage(
            s,
            Event(
                "moderation.decided",
                {
                    "decision_id": str(decision.id),
                    "case_id": str(case.id),
                    "target_type": case.target_type,
                    "target_id": str(case.target_id),
                    "user_id": case.author_id and str(case.author_id),
                    "action": action,
                    "appeal_of": decision.appeal_of and str(decision.appeal_of),
                },
                actor=actor,
            ),
        )
        notified = await _tell(s, case.author_id, decision) if action != "dismiss" else []
    for run in after:
        await run(svc)
    if outcome is not None:
        await sanctions.after_commit(svc, outcome)
    await quarantine.purge_cdn(media)
    await _pushed(svc, notified)
    return public(decision)


async def _answer(
    s: AsyncSession,
    svc: Services,
    case: queue.QueueCase,
    decision: Decision,
    actor: UUID,
    after: list[targets.After],
) -> tuple[sanctions.Outcome | None, Decision]:
    """uphold / overturn the appealed decision of `case` (inside decide's transaction)."""
    appealed = (
        await s.execute(
            select(Decision)
            .join(Appeal, Appeal.decision_id == Decision.id)
            .where(Decision.case_id == case.id, Appeal.outcome.is_(None))
            .order_by(Decision.id.desc())
            .limit(1)
            .with_for_update(of=Decision)
        )
    ).scalar_one_or_none()
    if appealed is None:
        raise Conflict("this case has no pending appeal", code="not_appealed")
    if appealed.actor_id == actor:
        raise Forbidden("another moderator must answer an appeal of your decision", code="decided_by_you")
    appeal = (await s.execute(select(Appeal).where(Appeal.decision_id == appealed.id))).scalar_one()
    decision.appeal_of, decision.user_id = appealed.id, appealed.user_id
    s.add(decision)
    await s.flush()
    outcome = None
    if decision.action == "overturn":
        if appealed.action == "remove":
            after += await targets.get(case.target_type).restore(s, case.target_id, appealed.restore, decision.id)
            await quarantine.release(s, appealed.id)
        elif appealed.action in ACCOUNT:
            outcome = await sanctions.revert(s, svc, decision_id=appealed.id)
        appealed.status, appeal.outcome = "overturned", "overturned"
    else:
        await quarantine.purge_now(s, appealed.id)
        appealed.status, appeal.outcome = "upheld", "upheld"
    appeal.answered_by, appeal.answered_at = actor, utcnow()
    return outcome, appealed


# ---------------------------------------------------------------- appeals and history


async def appeal(svc: Services, *, user_id: UUID, decision_id: UUID, text: str, client: Client | None = None) -> dict:
    """The affected user appeals a decision once: 201 the appeal; the case goes back to the queue
    as `appealed`. 404 for a decision about someone else (or none); 409 `already_appealed`,
    `appeal_window_closed`, `not_appealable` (dismissals, answers to appeals, reversed ones)."""
    text = text.strip()
    if not text:
        raise DomainError("say why the decision is wrong", code="validation_error", details=[{"field": "text"}])
    async with outbox.transaction(svc) as s:
        d = (await s.execute(select(Decision).where(Decision.id == decision_id).with_for_update())).scalar_one_or_none()
        if d is None or d.user_id != user_id:
            raise DecisionNotFound("no such decision")
        if (await s.execute(select(Appeal.id).where(Appeal.decision_id == d.id))).first() is not None:
            raise Conflict("this decision was already appealed", code="already_appealed")
        if d.action not in APPEALABLE or d.status != "effective":
            raise Conflict("this decision cannot be appealed", code="not_appealable")
        if d.appeal_until is not None and d.appeal_until <= utcnow():
            raise Conflict("the appeal window of this decision closed", code="appeal_window_closed")
        case = await queue.load(s, d.case_id, lock=True)
        a = Appeal(id=new_id(), decision_id=d.id, user_id=user_id, text=text[:2000], created_at=utcnow())
        s.add(a)
        case.state, case.claimed_by, case.claimed_at, case.updated_at = "appealed", None, None, utcnow()
        audit.stage(
            s,
            "moderation.appealed",
            client,
            actor=user_id,
            subject=f"case:{case.id}",
            details={"decision_id": str(d.id)},
        )
        outbox.stage(
            s,
            Event(
                "moderation.appealed",
                {"decision_id": str(d.id), "appeal_id": str(a.id), "case_id": str(case.id), "user_id": str(user_id)},
                actor=user_id,
            ),
        )
    return appeal_public(a)


async def history(svc: Services, user_id: UUID, *, limit: int = 50) -> dict:
    """GET /users/me/moderation: the decisions about the user, newest first, with their appeals."""
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(Decision, Appeal)
                .outerjoin(Appeal, Appeal.decision_id == Decision.id)
                .where(Decision.user_id == user_id, Decision.action != "dismiss")
                .order_by(Decision.id.desc())
                .limit(limit)
            )
        ).all()
    return {"items": [_mine(d, a) for d, a in rows]}


async def decisions_of(s: AsyncSession, case_id: UUID) -> list[dict]:
    rows = (
        await s.execute(
            select(Decision, Appeal)
            .outerjoin(Appeal, Appeal.decision_id == Decision.id)
            .where(Decision.case_id == case_id)
            .order_by(Decision.id)
        )
    ).all()
    return [public(d, a) for d, a in rows]


async def get_case(svc: Services, actor: UUID, case_id: UUID, *, base_url: str) -> dict:
    """A case as a moderator works it: the queue's fields, the content (with signed playback
    and thumbnail links for a video), the reports, the decisions and appeals."""
    await queue.require_staff(svc, actor)
    async with svc.sessions() as s:
        case = await queue.load(s, case_id)
        reports = await queue.reports_of(s, case)
        decided = await decisions_of(s, case.id)
    content = await targets.get(case.target_type).show(svc, case.target_id, base_url=base_url)
    # PDPL: staff opening someone's content (a message shared by its reporter included) is recorded
    await audit.record(
        svc,
        "privacy.staff_viewed",
        None,
        actor=actor,
        subject=f"user:{case.author_id}" if case.author_id else f"case:{case.id}",
        details={"case_id": str(case.id), "target_type": case.target_type, "target_id": str(case.target_id)},
    )
    return {**queue.public(case), "content": content, "reports": reports, "decisions": decided}


async def decision_for(s: AsyncSession, decision_id: UUID) -> Decision | None:
    return await s.get(Decision, decision_id)
