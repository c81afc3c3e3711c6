"""Trust score: 0-100 from signals that are costly to fake, stored with its components.

    base                 10                                  every account
    phone_verified     + 25  if users.phone_verified_at      one SIM per account costs money
    badge              + 20  if any verification badge       a human checked who it is
    account_age        + 25 * min(1, age_days / 180)         time cannot be bought back
    reciprocity        + 20 * reciprocated / max(authors, 10)     reciprocated: established authors only
    reports_received   -  2 per distinct established reporter of open reports, at most -10
    reports_upheld     - 20 per distinct upheld target (the user, or one of their posts), at most -60
    score = clamp(round(sum), 0, 100)

Reciprocity: of the distinct authors whose posts the user reacted to (the user's 500 latest
reacted posts by post id, at most 100 authors), how many reacted back to one of the user's posts
(within each author's 500 latest). Spam and bot accounts react widely and are rarely reacted to;
dividing by at least 10 keeps one mutual like from counting as full reciprocity. It reads the
PostgreSQL engagement tables; with the CQL store (SCYLLA_HOSTS) it is not measured (value null,
0 points). docs/users.md gives the reasoning for each weight.

Only *established* accounts move someone else's score: older than TRUST_MIN_ACCOUNT_AGE (3 days)
and with a proven phone (or email). Reports from, and reciprocity with, fresh or unproven
accounts count nothing, so a farm of throwaway accounts can neither sink a user nor lift one;
both inputs stay capped (-10 and +20 points).

The score is a pure function of the current state, so recomputing is idempotent: the stream agent
(streams/agents/trust_score.py) recomputes a user when an input event arrives, and a read
recomputes a score that is missing or older than TRUST_SCORE_MAX_AGE (age and reciprocity drift
without events). A write never replaces a score computed later than itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, SmallInteger, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts.badges import UserBadge
from models.accounts.users import User
from models.core.base import Base, utcnow
from models.core.errors import NotFound
from models.moderation.reports import Report
from models.social import blocks

if TYPE_CHECKING:
    from infra.services import Services

BASE, PHONE, BADGE, AGE, RECIPROCITY = 10, 25, 20, 25, 20
AGE_FULL_DAYS = 180
RECIPROCITY_MIN_AUTHORS = 10
OPEN_REPORT_PENALTY, OPEN_REPORTS_CAP = 2, 10
UPHELD_PENALTY, UPHELD_CAP = 20, 60
RECENT_POSTS, MAX_AUTHORS = 500, 100


class TrustScore(Base):
    __tablename__ = "trust_scores"
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    components: Mapped[dict] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _proven_sql(alias: str) -> str:
    """SQL: the account `alias` proved a phone (or an email, once users record that)."""
    email = f" OR {alias}.email_verified_at IS NOT NULL" if hasattr(User, "email_verified_at") else ""
    return f"({alias}.phone_verified_at IS NOT NULL{email})"


def _established(since):
    """Accounts whose word counts (reports, reciprocity): older than TRUST_MIN_ACCOUNT_AGE and
    with a proven phone or email. A farm of fresh accounts moves no one's score."""
    proven = User.phone_verified_at.is_not(None)
    if hasattr(User, "email_verified_at"):
        proven = proven | User.email_verified_at.is_not(None)
    return (User.created_at <= since) & proven


_RECIPROCITY = text(f"""
WITH mine AS (
    SELECT DISTINCT post_id FROM reaction_edges
    WHERE user_id = :uid AND active ORDER BY post_id DESC LIMIT {RECENT_POSTS}
), authors AS (
    SELECT DISTINCT p.author_id FROM mine m JOIN posts p ON p.id = m.post_id
    WHERE p.author_id <> :uid LIMIT {MAX_AUTHORS}
)
SELECT count(*) AS authors,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM (SELECT DISTINCT post_id FROM reaction_edges
                          WHERE user_id = a.author_id AND active
                          ORDER BY post_id DESC LIMIT {RECENT_POSTS}) r
           JOIN posts q ON q.id = r.post_id WHERE q.author_id = :uid)
         AND EXISTS (SELECT 1 FROM users u WHERE u.id = a.author_id
                     AND u.created_at <= :established AND {_proven_sql("u")})) AS reciprocated
FROM authors a
""")


def _component(value, points: float) -> dict:
    return {"value": value, "points": round(points, 2)}


def formula(
    *,
    phone_verified: bool,
    badges: int,
    age_days: float,
    authors: int | None,
    reciprocated: int,
    open_reporters: int,
    upheld_targets: int,
) -> tuple[int, dict]:
    """The score and its components from the inputs (authors None: reciprocity not measured)."""
    parts = {
        "base": _component(1, BASE),
        "phone_verified": _component(int(phone_verified), PHONE if phone_verified else 0),
        "badge": _component(badges, BADGE if badges else 0),
        "account_age": _component(round(age_days, 1), AGE * min(1.0, max(0.0, age_days) / AGE_FULL_DAYS)),
        "reciprocity": (
            _component(None, 0)
            if authors is None
            else _component(
                round(reciprocated / authors, 3) if authors else 0.0,
                RECIPROCITY * reciprocated / max(authors, RECIPROCITY_MIN_AUTHORS),
            )
        ),
        "reports_received": _component(open_reporters, -min(OPEN_REPORTS_CAP, OPEN_REPORT_PENALTY * open_reporters)),
        "reports_upheld": _component(upheld_targets, -min(UPHELD_CAP, UPHELD_PENALTY * upheld_targets)),
    }
    total = sum(p["points"] for p in parts.values())
    return max(0, min(100, round(total))), parts


def _out(user_id: UUID, score: int, components: dict, computed_at: datetime) -> dict:
    return {"user_id": str(user_id), "score": score, "components": components, "computed_at": computed_at.isoformat()}


async def compute(svc: Services, user_id: UUID) -> dict | None:
    """Compute and store the user's score; None if there is no such user."""
    started = utcnow()
    measured = not svc.settings.scylla_hosts  # the edges live in PostgreSQL
    async with svc.sessions() as s:
        user = (await s.execute(select(User.created_at, User.phone_verified_at).where(User.id == user_id))).first()
        if user is None:
            return None
        held = (await s.execute(select(func.count()).where(UserBadge.user_id == user_id))).scalar_one()
        established = started - svc.settings.trust_min_account_age
        open_reporters = (
            await s.execute(
                select(func.count(Report.reporter_id.distinct()))
                .join(User, User.id == Report.reporter_id)
                .where(Report.target_user_id == user_id, Report.status == "open", _established(established))
            )
        ).scalar_one()
        upheld = (  # decided by staff: counted whoever reported. Target ids are UUIDs: distinct across kinds
            await s.execute(
                select(func.count(Report.target_id.distinct())).where(
                    Report.target_user_id == user_id, Report.status == "upheld"
                )
            )
        ).scalar_one()
        counts = (open_reporters, upheld)
        recip = (
            (await s.execute(_RECIPROCITY, {"uid": user_id, "established": established})).one() if measured else None
        )
    score, parts = formula(
        phone_verified=user.phone_verified_at is not None,
        badges=held,
        age_days=(started - user.created_at).total_seconds() / 86400,
        authors=recip.authors if recip else None,
        reciprocated=recip.reciprocated if recip else 0,
        open_reporters=counts[0],
        upheld_targets=counts[1],
    )
    values = {"score": score, "components": parts, "computed_at": started}
    stmt = insert(TrustScore).values(user_id=user_id, **values)
    async with svc.sessions() as s, s.begin():
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[TrustScore.user_id],
                set_=values,
                where=TrustScore.computed_at < stmt.excluded.computed_at,
            )
        )
    return _out(user_id, score, parts, started)


async def recompute(svc: Services, user_ids: Iterable[UUID]) -> None:
    for uid in sorted(set(user_ids)):
        await compute(svc, uid)


async def get_score(svc: Services, viewer_id: UUID | None, user_id: UUID) -> dict:
    """The stored score, computed first if missing or older than TRUST_SCORE_MAX_AGE. Like the
    profile, 404 `user_not_found` when either of viewer and user blocked the other."""
    if viewer_id is not None and await blocks.blocked_either(svc, viewer_id, user_id):
        raise NotFound("no such user", code="user_not_found")
    async with svc.sessions() as s:
        row = await s.get(TrustScore, user_id)
    if row is not None and utcnow() - row.computed_at <= svc.settings.trust_score_max_age:
        return _out(user_id, row.score, row.components, row.computed_at)
    fresh = await compute(svc, user_id)
    if fresh is None:
        raise NotFound("no such user", code="user_not_found")
    return fresh
