"""Operations that span the social graph and a lower domain."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.accounts import profiles
from models.core.errors import NotFound
from models.social.blocks import blocked_either

if TYPE_CHECKING:
    from infra.services import Services


async def view_profile(svc: Services, viewer_id: UUID | None, user_id: UUID, *, base_url: str = "") -> dict:
    """The profile as `viewer_id` sees it, or 404 `user_not_found`: also when either of the two
    blocked the other (the blocker's block list names whom they blocked), so a blocked user cannot
    tell a block from a deleted account."""
    profile = await profiles.get_profile(svc, user_id, base_url=base_url)
    if viewer_id is not None and await blocked_either(svc, viewer_id, user_id):
        raise NotFound("no such user", code="user_not_found")
    return profile
