"""Roles (user, moderator, admin): who holds which, how a request learns it, how it changes.

Authorization never trusts the `role` claim of the access JWT (it is informational, for
clients): a token lives JWT_EXPIRATION (15 min by default), far too long for a demoted admin to
keep admin power. `current_role` reads `users.role` through a Redis cache (`users:role:<id>`,
ROLE_CACHE_TTL seconds, default 30) that `set_role` deletes after its commit, so a role change
takes effect on the next request. The bound, should that delete be lost or a concurrent lookup
re-cache the old role read just before the commit: ROLE_CACHE_TTL. Only routes that need a role
pay this one Redis GET (and a primary-key read on a miss).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import func, select

from models.accounts.users import User
from models.core import audit, outbox
from models.core.audit import Client
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

ROLES = ("user", "moderator", "admin")
STAFF = ("moderator", "admin")  # may work the report queue
_ROLE_LOCK = 0x526F6C65  # pg advisory lock key ("Role") held by every role change


def _key(user_id: UUID) -> str:
    return f"users:role:{user_id}"


async def current_role(svc: Services, user_id: UUID) -> str | None:
    """The user's role now (within ROLE_CACHE_TTL); None if the account is gone."""
    cached = cast(bytes | None, await svc.redis.get(_key(user_id)))
    if cached is not None:
        return cached.decode() or None
    async with svc.sessions() as s:
        role = (await s.execute(select(User.role).where(User.id == user_id))).scalar_one_or_none()
    await svc.redis.set(_key(user_id), role or "", ex=svc.settings.role_cache_ttl)
    return role


async def require(svc: Services, user_id: UUID, allowed: tuple[str, ...]) -> str:
    """The caller's role if it is one of `allowed`, else 403 `forbidden_role`."""
    role = await current_role(svc, user_id)
    if role not in allowed:
        raise Forbidden(f"this requires the {' or '.join(allowed)} role", code="forbidden_role")
    return role


async def set_role(
    svc: Services, *, user_id: UUID, role: str, actor: UUID | None, client: Client | None = None
) -> dict:
    """Give `user_id` the role `role` (audited, `user.role_changed` event). The last admin
    cannot be demoted: someone must be able to grant roles. `actor` None: the make_admin job."""
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    # Not outbox.transaction: the kick must follow the role-cache delete (consumers never read a stale role).
    async with svc.sessions() as s, s.begin():
        # Role changes are rare: one at a time, so two admins demoting each other cannot both win.
        await s.execute(select(func.pg_advisory_xact_lock(_ROLE_LOCK)))
        user = await s.get(User, user_id, populate_existing=True)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        previous = user.role
        if previous == role:
            return {"user_id": str(user_id), "role": role, "changed": False}
        if previous == "admin":
            admins = (await s.execute(select(func.count()).where(User.role == "admin"))).scalar_one()
            if admins <= 1:
                raise Conflict("the last admin cannot be demoted; promote another admin first", code="last_admin")
        user.role = role
        audit.stage(
            s,
            "admin.role_changed",
            client,
            actor=actor,
            subject=f"user:{user_id}",
            details={"from": previous, "to": role},
        )
        outbox.stage(
            s,
            Event("user.role_changed", {"user_id": str(user_id), "role": role, "previous_role": previous}, actor=actor),
        )
    if svc.redis is not None:  # None only in the make_admin job without REDIS_URL: the TTL bounds it
        await svc.redis.delete(_key(user_id))
    svc.relay.kick()
    return {"user_id": str(user_id), "role": role, "changed": True}


async def user_id_by_email(svc: Services, email: str) -> UUID | None:
    async with svc.sessions() as s:
        return (
            await s.execute(select(User.id).where(func.lower(User.email) == email.strip().lower()))
        ).scalar_one_or_none()
