"""The user look-ups every social module shares: a user must exist, id -> {id, username}, and a
page of relation rows (blocks, mutes, circle members) with opaque keyset cursors."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select

from models.accounts.users import User
from models.core import cursors
from models.core.errors import NotFound

if TYPE_CHECKING:
    from infra.services import Services


async def require_user(svc: Services, user_id: UUID) -> None:
    async with svc.sessions() as s:
        found = (await s.execute(select(User.id).where(User.id == user_id))).first()
    if not found:
        raise NotFound("no such user", code="user_not_found")


async def people(svc: Services, ids: list[UUID]) -> dict[UUID, dict]:
    """id -> {"id", "username"} for the ids that are accounts (deleted ones are left out)."""
    if not ids:
        return {}
    async with svc.sessions() as s:
        rows = (await s.execute(select(User.id, User.username).where(User.id.in_(ids)))).all()
    return {r.id: {"id": str(r.id), "username": r.username} for r in rows}


async def relation_page(
    svc: Services, model, owner_col, owner: UUID, target_col, *, cursor: str | None, limit: int
) -> dict:
    """Rows of `model` owned by `owner`, newest first, keyset on the row's UUIDv7 `id` (rows added
    while paging land before the cursor, so later pages neither repeat nor skip)."""
    q = (
        select(model.id, model.created_at, User.id.label("uid"), User.username)
        .join(User, User.id == target_col)
        .where(owner_col == owner)
        .order_by(model.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(model.id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [
            {"user": {"id": str(r.uid), "username": r.username}, "created_at": r.created_at.isoformat()} for r in rows
        ],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more else None,
    }
