"""Tips: a user pays a creator, optionally on one of the creator's posts, with a message."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from models.accounts import users
from models.content import visibility
from models.core.errors import DomainError, NotFound
from models.social import blocks
from models.wallet import ledger
from models.wallet.ledger import PLATFORM_FEE, Leg, Posted

if TYPE_CHECKING:
    from infra.services import Services


def split(amount: int, fee_bps: int) -> tuple[int, int]:
    """(creator's share, platform fee): the fee is rounded down, so any fraction of a minor
    unit goes to the creator."""
    fee = amount * fee_bps // 10_000
    return amount - fee, fee


def split_legs(payer_id: UUID, creator_id: UUID, amount: int, fee_bps: int) -> list[Leg]:
    share, fee = split(amount, fee_bps)
    legs = [Leg(-amount, user_id=payer_id), Leg(share, user_id=creator_id)]
    return legs + [Leg(fee, system=PLATFORM_FEE)] if fee else legs


async def send_tip(
    svc: Services,
    *,
    sender_id: UUID,
    to_user_id: UUID,
    amount: int,
    post_id: UUID | None = None,
    message: str | None = None,
    idempotency_key: str | None = None,
) -> Posted:
    body = {
        "to_user_id": str(to_user_id),
        "amount": amount,
        "post_id": str(post_id) if post_id else None,
        "message": message,
    }
    idem = ledger.require_key(idempotency_key, sender_id, "tip", body)
    if amount <= 0:
        raise DomainError("amount must be a positive number of minor units", code="invalid_amount")
    if to_user_id == sender_id:
        raise DomainError("you cannot tip yourself", code="cannot_tip_self")
    if await users.get_user(svc, to_user_id) is None:
        raise NotFound("no such user", code="user_not_found")
    await blocks.ensure_not_blocked(svc, sender_id, to_user_id)
    if post_id is not None:
        post = await visibility.get_visible_post(svc, sender_id, post_id)
        if post.author_id != to_user_id:
            raise DomainError("this post is not by the user you are tipping", code="post_not_by_recipient")
    fee_bps = svc.settings.platform_fee_bps
    share, fee = split(amount, fee_bps)
    metadata = {**body, "from_user_id": str(sender_id), "fee": fee, "fee_bps": fee_bps, "creator_amount": share}
    return await ledger.post(
        svc, kind="tip", legs=split_legs(sender_id, to_user_id, amount, fee_bps), metadata=metadata, idem=idem
    )
