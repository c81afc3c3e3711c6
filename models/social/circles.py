"""Circles: named lists of members an owner shares posts with (`visibility: "circle"`).

Private to their owner: only the owner lists, reads or changes a circle; anyone else gets 403
`not_owner` (404 `user_not_found` if the owner does not exist, 404 `circle_not_found` for a
circle id the owner does not have). Limits: CIRCLES_MAX per owner, CIRCLE_MEMBERS_MAX per circle.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, and_, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import new_id
from models.social.blocks import ensure_not_blocked
from models.social.lookups import relation_page, require_user

if TYPE_CHECKING:
    from infra.services import Services


class Circle(CreatedAt, Base):
    __tablename__ = "circles"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))


class CircleMember(Base):
    __tablename__ = "circle_members"
    circle_id: Mapped[UUID] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    id: Mapped[UUID] = mapped_column(default=new_id)  # UUIDv7: the member list's keyset
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def public(circle: Circle, member_count: int) -> dict:
    return {
        "id": str(circle.id),
        "owner_id": str(circle.owner_id),
        "name": circle.name,
        "member_count": member_count,
        "created_at": circle.created_at.isoformat(),
    }


async def _owner_only(svc: Services, viewer_id: UUID, owner_id: UUID) -> None:
    if viewer_id != owner_id:
        await require_user(svc, owner_id)
        raise Forbidden("circles are visible to and changed by their owner only", code="not_owner")


async def _own_circle(s: AsyncSession, owner_id: UUID, circle_id: UUID, *, lock: bool = False) -> Circle:
    q = select(Circle).where(Circle.id == circle_id, Circle.owner_id == owner_id)
    circle = (await s.execute(q.with_for_update() if lock else q)).scalar_one_or_none()
    if circle is None:
        raise NotFound("no such circle", code="circle_not_found")
    return circle


async def _member_count(s: AsyncSession, circle_id: UUID) -> int:
    return cast(
        int, await s.scalar(select(func.count()).select_from(CircleMember).where(CircleMember.circle_id == circle_id))
    )


async def create_circle(svc: Services, *, viewer_id: UUID, owner_id: UUID, name: str) -> dict:
    await _owner_only(svc, viewer_id, owner_id)
    try:
        async with svc.sessions() as s, s.begin():
            # One creator per owner at a time, so the limit holds under concurrent requests.
            await s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"circles:{owner_id}"})
            have = cast(
                int, await s.scalar(select(func.count()).select_from(Circle).where(Circle.owner_id == owner_id))
            )
            if have >= svc.settings.circles_max:
                raise Conflict(f"at most {svc.settings.circles_max} circles per user", code="circle_limit_reached")
            circle = Circle(id=new_id(), owner_id=owner_id, name=name)
            s.add(circle)
            await s.flush()
    except IntegrityError as exc:  # uq_circles_owner_id_name_lower
        raise Conflict("you already have a circle with this name", code="circle_name_taken") from exc
    return public(circle, 0)


async def list_circles(svc: Services, *, viewer_id: UUID, owner_id: UUID) -> dict:
    """All of the owner's circles (at most CIRCLES_MAX), newest first."""
    await _owner_only(svc, viewer_id, owner_id)
    counts = select(CircleMember.circle_id, func.count().label("n")).group_by(CircleMember.circle_id).subquery()
    q = (
        select(Circle, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.circle_id == Circle.id)
        .where(Circle.owner_id == owner_id)
        .order_by(Circle.id.desc())
    )
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    return {"items": [public(c, n) for c, n in rows], "next_cursor": None}


async def add_member(svc: Services, *, viewer_id: UUID, owner_id: UUID, circle_id: UUID, member_id: UUID) -> bool:
    """Idempotent; True if the member was added now, False if already in."""
    await _owner_only(svc, viewer_id, owner_id)
    if member_id == owner_id:
        raise DomainError("the owner always sees their circle's posts", code="cannot_add_self")
    async with svc.sessions() as s:
        await _own_circle(s, owner_id, circle_id)
    await require_user(svc, member_id)
    await ensure_not_blocked(svc, owner_id, member_id)
    async with svc.sessions() as s, s.begin():
        await _own_circle(s, owner_id, circle_id, lock=True)  # adders of one circle serialize here
        if await _member_count(s, circle_id) >= svc.settings.circle_members_max:
            raise Conflict(
                f"at most {svc.settings.circle_members_max} members per circle", code="circle_member_limit_reached"
            )
        added = (
            await s.execute(
                pg_insert(CircleMember)
                .values(circle_id=circle_id, user_id=member_id, id=new_id(), created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(CircleMember.id)
            )
        ).first()
    return added is not None


async def remove_member(svc: Services, *, viewer_id: UUID, owner_id: UUID, circle_id: UUID, member_id: UUID) -> None:
    await _owner_only(svc, viewer_id, owner_id)
    async with svc.sessions() as s, s.begin():
        await _own_circle(s, owner_id, circle_id)
        removed = (
            await s.execute(
                delete(CircleMember)
                .where(CircleMember.circle_id == circle_id, CircleMember.user_id == member_id)
                .returning(CircleMember.id)
            )
        ).first()
    if removed is None:
        raise NotFound("this user is not a member of the circle", code="member_not_found")


async def list_members(
    svc: Services, *, viewer_id: UUID, owner_id: UUID, circle_id: UUID, cursor: str | None = None, limit: int = 50
) -> dict:
    """Members, most recently added first: {"items": [{"user", "created_at"}], "next_cursor"}."""
    await _owner_only(svc, viewer_id, owner_id)
    async with svc.sessions() as s:
        await _own_circle(s, owner_id, circle_id)
    return await relation_page(
        svc, CircleMember, CircleMember.circle_id, circle_id, CircleMember.user_id, cursor=cursor, limit=limit
    )


async def ensure_own_circle(svc: Services, owner_id: UUID, circle_id: UUID) -> None:
    """For posting to a circle: someone else's circle is `circle_not_found` (no oracle)."""
    async with svc.sessions() as s:
        await _own_circle(s, owner_id, circle_id)


async def is_member(svc: Services, circle_id: UUID, user_id: UUID) -> bool:
    q = select(CircleMember.id).where(CircleMember.circle_id == circle_id, CircleMember.user_id == user_id)
    async with svc.sessions() as s:
        return (await s.execute(q)).first() is not None


async def members_only(svc: Services, viewer_id: UUID | None, post) -> bool:
    """Visibility rule "circle" (models/content/visibility.py): members of the post's circle."""
    return viewer_id is not None and post.circle_id is not None and await is_member(svc, post.circle_id, viewer_id)


async def drop_memberships_between(s: AsyncSession, a: UUID, b: UUID) -> None:
    """A block ends membership both ways: b in a's circles, a in b's (inside the block's transaction)."""
    of_a = select(Circle.id).where(Circle.owner_id == a)
    of_b = select(Circle.id).where(Circle.owner_id == b)
    await s.execute(
        delete(CircleMember).where(
            or_(
                and_(CircleMember.user_id == b, CircleMember.circle_id.in_(of_a)),
                and_(CircleMember.user_id == a, CircleMember.circle_id.in_(of_b)),
            )
        )
    )
