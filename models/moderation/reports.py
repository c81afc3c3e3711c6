"""Reports: a user flags a user or a post; staff (moderators, admins) uphold or dismiss it.

A report names the user it is about (`target_user_id`: the user, or the post's author), which is
what the trust score counts. A reporter has at most one open report per target (a partial
unique index); reporting yourself or your own post is refused; a post must be visible to its
reporter. Each report also raises the target's case in the one queue (models/moderation/queue.py;
POST /moderation/report files reports on anything, with a reason from the taxonomy). Creating
and resolving are audited and published (`report.created`, `report.resolved` on
`moderation.reports`, keyed by the reported user). Upholding a report about a post with a video
hides the video (rejected, `report_upheld`) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, Uuid, and_, case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts.users import User
from models.content import post_videos, visibility
from models.core import audit, cursors, outbox
from models.core.audit import Client
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event, new_id
from models.media import videos

if TYPE_CHECKING:
    from infra.services import Services

TARGET_TYPES = ("user", "post")
OUTCOMES = ("upheld", "dismissed")


class Report(CreatedAt, Base):
    __tablename__ = "reports"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)  # UUIDv7: time-ordered
    reporter_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[UUID] = mapped_column(Uuid)
    target_user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(
        String(500)
    )  # free text (/reports) or a REASONS code (models/moderation/queue.py)
    details: Mapped[str | None] = mapped_column(String(1000), nullable=True, default=None)
    status: Mapped[str] = mapped_column(String(10), default="open")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


OnCreated = Callable[[AsyncSession, "Services", Report], Awaitable[None]]
_on_created: list[OnCreated] = []


OnResolved = Callable[[AsyncSession, Report], Awaitable[None]]
_on_resolved: list[OnResolved] = []


def on_resolved(hook: OnResolved) -> None:
    if hook not in _on_resolved:
        _on_resolved.append(hook)


def on_created(hook: OnCreated) -> None:
    """Run `hook` in the transaction of every report filed here (idempotent; the queue registers
    itself: infra/services.wire_domains)."""
    if hook not in _on_created:
        _on_created.append(hook)


def public(r: Report) -> dict:
    return {
        "id": str(r.id),
        "reporter_id": str(r.reporter_id),
        "target_type": r.target_type,
        "target_id": str(r.target_id),
        "target_user_id": str(r.target_user_id),
        "reason": r.reason,
        "status": r.status,
        "created_at": r.created_at.isoformat(),
        "resolved_at": r.resolved_at and r.resolved_at.isoformat(),
        "resolved_by": r.resolved_by and str(r.resolved_by),
    }


def _payload(r: Report) -> dict:
    return {
        "report_id": str(r.id),
        "reporter_id": str(r.reporter_id),
        "target_type": r.target_type,
        "target_id": str(r.target_id),
        "target_user_id": str(r.target_user_id),
        "status": r.status,
    }


async def _target_user(svc: Services, reporter_id: UUID, target_type: str, target_id: UUID) -> UUID:
    if target_type == "post":
        return (await visibility.get_visible_post(svc, reporter_id, target_id)).author_id
    async with svc.sessions() as s:
        if await s.get(User, target_id) is None:
            raise NotFound("no such user", code="user_not_found")
    return target_id


async def create(
    svc: Services, *, reporter_id: UUID, target_type: str, target_id: UUID, reason: str, client: Client | None = None
) -> dict:
    if target_type not in TARGET_TYPES:
        raise DomainError("target_type must be user or post", code="invalid_target_type")
    target_user = await _target_user(svc, reporter_id, target_type, target_id)
    if target_user == reporter_id:
        raise DomainError("you cannot report yourself or your own posts", code="cannot_report_self")
    report = Report(
        id=new_id(),
        reporter_id=reporter_id,
        target_type=target_type,
        target_id=target_id,
        target_user_id=target_user,
        reason=reason,
        status="open",
        created_at=utcnow(),
    )
    try:
        async with outbox.transaction(svc) as s:
            s.add(report)
            await s.flush()
            for hook in _on_created:  # the one queue raises the target's case (models/moderation/queue.py)
                await hook(s, svc, report)
            audit.stage(
                s,
                "report.created",
                client,
                actor=reporter_id,
                subject=f"report:{report.id}",
                details={"target_type": target_type, "target_id": str(target_id)},
            )
            outbox.stage(s, Event("report.created", _payload(report), actor=reporter_id))
    except IntegrityError as exc:  # uq_reports_open_per_reporter
        raise Conflict("you already have an open report about this", code="report_exists") from exc
    return public(report)


async def resolve(svc: Services, *, report_id: UUID, outcome: str, actor: UUID, client: Client | None = None) -> dict:
    if outcome not in OUTCOMES:
        raise DomainError("outcome must be upheld or dismissed", code="invalid_outcome")
    async with outbox.transaction(svc) as s:
        report = (await s.execute(select(Report).where(Report.id == report_id).with_for_update())).scalar_one_or_none()
        if report is None:
            raise NotFound("no such report", code="report_not_found")
        if report.status != "open":
            raise Conflict(f"this report was already {report.status}", code="report_already_resolved")
        # One person may not be the accuser and the judge, nor judge themselves.
        if report.reporter_id == actor:
            raise Forbidden("you cannot decide a report you filed", code="own_report")
        if report.target_user_id == actor:
            raise Forbidden("you cannot decide a report about you or your posts", code="report_about_you")
        report.status, report.resolved_at, report.resolved_by = outcome, utcnow(), actor
        hidden = (
            await post_videos.hide_post_video(s, report.target_id, "report_upheld")
            if outcome == "upheld" and report.target_type == "post"
            else None
        )
        audit.stage(
            s,
            "report.resolved",
            client,
            actor=actor,
            subject=f"report:{report.id}",
            details={"outcome": outcome, **({"hidden_video_id": str(hidden.id)} if hidden else {})},
        )
        outbox.stage(s, Event("report.resolved", _payload(report), actor=actor))
        for resolved in _on_resolved:  # the queue's case closes with its last open report
            await resolved(s, report)
    if hidden is not None:
        await videos.push_status(svc, hidden)
    return public(report)


# The queue: open reports first, oldest first (the longest waiting is next), then resolved ones,
# newest first. The cursor is the last row's (group, id).
def _cursor(group: int, report_id: UUID) -> str:
    return cursors.encode(bytes([group]) + report_id.bytes)


def _after(cursor: str):
    try:
        raw = cursors.decode(cursor)
        group, rid = raw[0], UUID(bytes=raw[1:])
        if group not in (0, 1):
            raise ValueError
    except (ValueError, IndexError):
        raise DomainError("cursor is not valid", code="invalid_cursor") from None
    if group == 0:
        return or_(Report.status != "open", and_(Report.status == "open", Report.id > rid))
    return and_(Report.status != "open", Report.id < rid)


async def list_reports(svc: Services, *, status: str | None = None, cursor: str | None = None, limit: int = 50) -> dict:
    group = case((Report.status == "open", 0), else_=1)
    q = (
        select(Report, group.label("g"))
        .order_by(group, case((Report.status == "open", Report.id)), case((Report.status != "open", Report.id)).desc())
        .limit(limit + 1)
    )
    if status is not None:
        q = q.where(Report.status == status)
    if cursor:
        q = q.where(_after(cursor))
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [public(r.Report) for r in rows],
        "next_cursor": _cursor(rows[-1].g, rows[-1].Report.id) if more else None,
    }
