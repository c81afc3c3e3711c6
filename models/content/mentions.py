"""@mentions of comments and posts -> the ids of the accounts they name (usernames as
models/accounts/users.py makes them; the pattern is models/core/text.MENTION)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select

from models.accounts.users import User
from models.core import text
from models.core.errors import DomainError


async def resolve_mentions(session, body: str, limit: int, *, what: str = "comment") -> list[UUID]:
    """@usernames in the body -> ids of the accounts that exist, in order of first mention; more
    than `limit` distinct names: 422 too_many_mentions."""
    names = text.mentioned_usernames(body)
    if len(names) > limit:
        raise DomainError(f"a {what} may mention at most {limit} users", code="too_many_mentions")
    if not names:
        return []
    rows = (
        await session.execute(select(func.lower(User.username), User.id).where(func.lower(User.username).in_(names)))
    ).all()
    ids = dict(rows)
    return [ids[n] for n in names if n in ids]
