"""Who may see or move a wallet: its owner, and admins where a flow allows them.

Roles come from models.accounts.roles (users.role through a short Redis cache), never from the JWT claim.
Someone else's wallet does not exist for you (404, no existence oracle)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.accounts import roles
from models.core.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from infra.services import Services


async def is_admin(svc: Services, user_id: UUID) -> bool:
    return await roles.current_role(svc, user_id) == "admin"


async def ensure_owner_or_admin(svc: Services, viewer_id: UUID, user_id: UUID) -> None:
    if viewer_id != user_id and not await is_admin(svc, viewer_id):
        raise NotFound("no such wallet", code="wallet_not_found")


def ensure_owner(viewer_id: UUID, user_id: UUID) -> None:
    """Flows only the owner may start on a wallet (top-up, cashout)."""
    if viewer_id != user_id:
        raise NotFound("no such wallet", code="wallet_not_found")


async def ensure_admin(svc: Services, user_id: UUID) -> None:
    if not await is_admin(svc, user_id):
        raise Forbidden("only admins may adjust wallets", code="admin_only")
