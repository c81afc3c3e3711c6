"""The one moderation queue: a case per target (post, comment, message, user, video, image) that
gathers users' reports and automatic flags (docs/moderation.md).

`raise_case` is the single entry point that opens a case or adds to it ("raise or update the case
for this target"): reports (`report`, and the old `/reports`), the NSFW agent's cases
(models/moderation/cases.py) and content checks (flags) all call it inside their own transaction.
A case is `open`, `claimed` (by one moderator), `decided`, or `appealed` (its last decision was
appealed); a new report or flag on a decided case opens it again.

Severity (higher first): each report adds its reason's weight (REASONS) times the reporter's trust
(0.5 + trust score / 100: a trusted reporter weighs up to three times an untrusted one); each new
flag adds its labels' heaviest weight (FLAG_WEIGHTS). The queue is ordered by severity, then by
reach (how many reported it), then oldest first.

Staff authorization lives here (`require_staff`), not in the faces: whoever is not a moderator or
admin gets the same 404 as for a case that does not exist.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import roles
from models.core import audit, cursors, outbox, ratelimit
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import Event, new_id
from models.moderation import reports, targets
from models.moderation.reports import Report
from models.moderation.reports import public as report_public
from models.moderation.trust import TrustScore

if TYPE_CHECKING:
    from infra.services import Services

STATES = ("open", "claimed", "decided", "appealed")
WAITING = ("open", "claimed", "appealed")  # the queue's default view
Source = Literal["report", "flag", "nsfw", "image"]

# The published taxonomy of report reasons (GET /moderation/reasons) and their weights.
REASONS: dict[str, tuple[float, str]] = {
    "spam": (1.0, "Spam, scams or fake engagement"),
    "harassment": (3.0, "Harassment or bullying"),
    "hate": (4.0, "Hate speech or symbols"),
    "violence": (4.0, "Violence or threats"),
    "nudity": (3.0, "Nudity or sexual content"),
    "self_harm": (5.0, "Suicide or self-harm"),
    "child_safety": (10.0, "Endangers a child"),
    "illegal": (5.0, "Illegal goods or activity"),
    "misinformation": (2.0, "False information"),
    "impersonation": (2.0, "Pretends to be someone else"),
    "intellectual_property": (1.5, "Uses my work without permission"),
    "other": (1.0, "Something else"),
}
FLAG_WEIGHTS = {"nsfw": 4.0, "csam": 10.0, "hate": 4.0, "violence": 4.0, "spam": 1.0}
FLAG_DEFAULT = 3.0


class QueueCaseNotFound(NotFound):
    code = "case_not_found"


class QueueCase(Base):
    __tablename__ = "moderation_queue"
    __table_args__ = (UniqueConstraint("target_type", "target_id"),)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[UUID] = mapped_column(Uuid)
    author_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="open")
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[list] = mapped_column(JSONB, default=list)  # [{"source", "labels", "at"}]
    claimed_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def public(c: QueueCase) -> dict:
    return {
        "id": str(c.id),
        "target_type": c.target_type,
        "target_id": str(c.target_id),
        "author_id": c.author_id and str(c.author_id),
        "reasons": list(c.reasons or []),
        "report_count": c.report_count,
        "flags": list(c.flags or []),
        "severity": round(c.severity, 3),
        "state": c.state,
        "claimed_by": c.claimed_by and str(c.claimed_by),
        "opened_at": c.opened_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


async def require_staff(svc: Services, actor: UUID) -> None:
    """The one staff check of the moderation operations (REST, GraphQL, dashboard): anyone else
    gets 404, as for a case that does not exist (staff routes do not reveal themselves)."""
    if await roles.current_role(svc, actor) not in roles.STAFF:
        raise QueueCaseNotFound("no such case")


def reasons() -> list[dict]:
    return [{"code": code, "label": label, "weight": weight} for code, (weight, label) in REASONS.items()]


async def _trust_factor(s: AsyncSession, user_id: UUID | None) -> float:
    if user_id is None:
        return 1.0
    score = (await s.execute(select(TrustScore.score).where(TrustScore.user_id == user_id))).scalar_one_or_none()
    return 0.5 + (50 if score is None else score) / 100


async def raise_case(
    s: AsyncSession,
    svc: Services,
    *,
    target_type: str,
    target_id: UUID,
    author_id: UUID | None,
    source: Source,
    reason: str | None = None,
    labels: list[str] | None = None,
    reporter_id: UUID | None = None,
) -> QueueCase:
    """Open the target's case, or add this report or flag to it (inside the caller's
    transaction; the case row is locked until it commits). Returns the case."""
    targets.get(target_type)
    await s.execute(
        insert(QueueCase)
        .values(
            id=new_id(),
            target_type=target_type,
            target_id=target_id,
            author_id=author_id,
            state="open",
            severity=0.0,
            reasons=[],
            report_count=0,
            flags=[],
            opened_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["target_type", "target_id"])
    )
    case = (
        await s.execute(
            select(QueueCase)
            .where(QueueCase.target_type == target_type, QueueCase.target_id == target_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if source == "report":
        code = reason if reason in REASONS else "other"
        case.severity += REASONS[code][0] * await _trust_factor(s, reporter_id)
        case.report_count += 1
        if code not in case.reasons:
            case.reasons = [*case.reasons, code]
    else:
        names = sorted(set(labels or [source]))
        flag = {"source": source, "labels": names}
        if not any({"source": f["source"], "labels": f["labels"]} == flag for f in case.flags):
            case.flags = [*case.flags, {**flag, "at": utcnow().isoformat()}]
            case.severity += max(FLAG_WEIGHTS.get(n, FLAG_DEFAULT) for n in names)
    if case.author_id is None:
        case.author_id = author_id
    if case.state == "decided":
        case.state = "open"
    case.updated_at = utcnow()
    return case


# ---------------------------------------------------------------- reports


async def _old_report(s: AsyncSession, svc: Services, r: Report) -> None:
    """A report filed through the old `/reports` (models/moderation/reports.create): its free-text
    reason files under "other"."""
    await raise_case(
        s,
        svc,
        target_type=r.target_type,
        target_id=r.target_id,
        author_id=r.target_user_id,
        source="report",
        reason="other",
        reporter_id=r.reporter_id,
    )


async def close_alias(s: AsyncSession, target_type: str, target_id: UUID) -> None:
    """An old route decided (/admin/reports/{id}/resolve, /admin/moderation/cases/{id}/decide):
    the target's waiting case is decided too, unless an appeal is pending."""
    await s.execute(
        update(QueueCase)
        .where(
            QueueCase.target_type == target_type,
            QueueCase.target_id == target_id,
            QueueCase.state.in_(("open", "claimed")),
        )
        .values(state="decided", claimed_by=None, claimed_at=None, updated_at=utcnow())
    )


async def _old_resolved(s: AsyncSession, r: Report) -> None:
    still_open = (
        await s.execute(
            select(Report.id)
            .where(Report.target_type == r.target_type, Report.target_id == r.target_id, Report.status == "open")
            .limit(1)
        )
    ).first()
    if still_open is None:
        await close_alias(s, r.target_type, r.target_id)


def register() -> None:
    """Hooks: the old report routes raise and close cases too (infra/services.wire_domains)."""
    reports.on_created(_old_report)
    reports.on_resolved(_old_resolved)


async def report(
    svc: Services,
    *,
    reporter_id: UUID,
    target_type: str,
    target_id: UUID,
    reason: str,
    details: str | None = None,
    client: Client | None = None,
) -> dict:
    """A user reports a post, comment, message, or user. 404 if the reporter cannot see it,
    400 `cannot_report_self`, 409 `report_exists` (one open report per reporter and target),
    429 `rate_limited` (RATE_LIMIT_REPORT per reporter)."""
    target = targets.get(target_type)
    if not target.reportable:
        raise DomainError(f"a {target_type} cannot be reported", code="invalid_target_type")
    if reason not in REASONS:
        raise DomainError(
            "reason must be one of the published reasons (GET /moderation/reasons)",
            code="invalid_reason",
            details=[{"field": "reason", "allowed": list(REASONS)}],
        )
    author = await target.locate(svc, reporter_id, target_id)
    if author == reporter_id:
        raise DomainError("you cannot report yourself or your own content", code="cannot_report_self")
    await ratelimit.enforce(svc, "report", svc.settings.rate_limit_report, [f"user:{reporter_id}"], client, reporter_id)
    row = Report(
        id=new_id(),
        reporter_id=reporter_id,
        target_type=target_type,
        target_id=target_id,
        target_user_id=author,
        reason=reason,
        details=details or None,
        status="open",
        created_at=utcnow(),
    )
    try:
        async with outbox.transaction(svc) as s:
            s.add(row)
            await s.flush()
            case = await raise_case(
                s,
                svc,
                target_type=target_type,
                target_id=target_id,
                author_id=author,
                source="report",
                reason=reason,
                reporter_id=reporter_id,
            )
            audit.stage(
                s,
                "report.created",
                client,
                actor=reporter_id,
                subject=f"report:{row.id}",
                details={"target_type": target_type, "target_id": str(target_id), "case_id": str(case.id)},
            )
            payload = {
                "report_id": str(row.id),
                "reporter_id": str(reporter_id),
                "target_type": target_type,
                "target_id": str(target_id),
                "target_user_id": str(author),
                "status": "open",
            }
            outbox.stage(s, Event("report.created", payload, actor=reporter_id))
    except IntegrityError as exc:  # uq_reports_open_per_reporter
        raise Conflict("you already have an open report about this", code="report_exists") from exc
    return {**report_public(row), "details": row.details, "case_id": str(case.id)}


# ---------------------------------------------------------------- reading the queue

_CURSOR = struct.Struct(">dq16s")


def _cursor(c: QueueCase) -> str:
    return cursors.encode(_CURSOR.pack(c.severity, c.report_count, c.id.bytes))


def _after(cursor: str):
    try:
        severity, count, raw = _CURSOR.unpack(cursors.decode(cursor))
        return severity, count, UUID(bytes=raw)
    except (ValueError, struct.error):
        raise cursors.invalid() from None


async def list_queue(
    svc: Services, actor: UUID, *, state: str | None = None, cursor: str | None = None, limit: int = 50
) -> dict:
    """{"items", "next_cursor"}: the waiting cases (open, claimed, appealed) or those of `state`,
    by severity, then reach (reports), then oldest first."""
    await require_staff(svc, actor)
    if state is not None and state not in STATES:
        raise DomainError(f"state must be one of {', '.join(STATES)}", code="invalid_state")
    # descending severity and count, ascending id: compare on (-severity, -count, id)
    key = tuple_(-QueueCase.severity, -QueueCase.report_count, QueueCase.id)
    q = (
        select(QueueCase)
        .where(QueueCase.state.in_((state,) if state else WAITING))
        .order_by(QueueCase.severity.desc(), QueueCase.report_count.desc(), QueueCase.id)
        .limit(limit + 1)
    )
    if cursor:
        severity, count, case_id = _after(cursor)
        q = q.where(key > tuple_(-severity, -count, case_id))
    async with svc.sessions() as s:
        rows = list((await s.execute(q)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [public(c) for c in rows], "next_cursor": _cursor(rows[-1]) if more and rows else None}


async def load(s: AsyncSession, case_id: UUID, *, lock: bool = False) -> QueueCase:
    q = select(QueueCase).where(QueueCase.id == case_id)
    case = (await s.execute(q.with_for_update() if lock else q)).scalar_one_or_none()
    if case is None:
        raise QueueCaseNotFound("no such case")
    return case


async def claim(svc: Services, actor: UUID, case_id: UUID, *, client: Client | None = None) -> dict:
    """The moderator takes the case (idempotent for them): 409 `case_claimed` if another holds
    it, `case_decided` if it is decided. An appealed case stays `appealed`, with its claimer."""
    await require_staff(svc, actor)
    async with svc.sessions() as s, s.begin():
        case = await load(s, case_id, lock=True)
        if case.claimed_by is not None and case.claimed_by != actor:
            raise Conflict("another moderator claimed this case", code="case_claimed")
        if case.state == "decided":
            raise Conflict("this case is decided", code="case_decided")
        if case.claimed_by != actor:
            case.claimed_by, case.claimed_at = actor, utcnow()
            if case.state == "open":
                case.state = "claimed"
            audit.stage(s, "moderation.case_claimed", client, actor=actor, subject=f"case:{case.id}")
    return public(case)


async def reports_of(s: AsyncSession, case: QueueCase) -> list[dict]:
    rows = (
        await s.execute(
            select(Report)
            .where(Report.target_type == case.target_type, Report.target_id == case.target_id)
            .order_by(Report.id)
            .limit(100)
        )
    ).scalars()
    return [
        {
            "id": str(r.id),
            "reporter_id": str(r.reporter_id),
            "reason": r.reason,
            "details": r.details,
            "status": r.status,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
