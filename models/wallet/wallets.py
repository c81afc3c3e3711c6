"""Reading a wallet and its history (owner or admin), and admin adjustments."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import func, select

from models.accounts import users
from models.core import audit
from models.core.audit import Client
from models.core.errors import DomainError, Forbidden, NotFound
from models.wallet import access, ledger
from models.wallet.ledger import ADJUSTMENTS, Leg, Posted
from models.wallet.tables import Cashout

if TYPE_CHECKING:
    from infra.services import Services


async def _existing(svc: Services, user_id: UUID) -> None:
    if await users.get_user(svc, user_id) is None:
        raise NotFound("no such wallet", code="wallet_not_found")


async def get_wallet(svc: Services, viewer_id: UUID, user_id: UUID) -> dict:
    await access.ensure_owner_or_admin(svc, viewer_id, user_id)
    await _existing(svc, user_id)
    async with svc.sessions() as s:
        pending = (
            await s.execute(
                select(func.coalesce(func.sum(Cashout.amount), 0)).where(
                    Cashout.user_id == user_id, Cashout.status == "pending"
                )
            )
        ).scalar_one()
    return {
        "user_id": str(user_id),
        "currency": ledger.currency(svc),
        "balance": await ledger.balance(svc, user_id),
        "pending_cashout": int(pending),
    }


async def list_transactions(
    svc: Services, viewer_id: UUID, user_id: UUID, *, cursor: str | None = None, limit: int = 50
) -> dict:
    await access.ensure_owner_or_admin(svc, viewer_id, user_id)
    return await ledger.history(svc, user_id, cursor=cursor, limit=limit)


async def adjust(
    svc: Services,
    *,
    admin_id: UUID,
    user_id: UUID,
    amount: int,
    reason: str,
    idempotency_key: str | None,
    client: Client | None = None,
) -> Posted:
    """An admin's correction: a new transaction against the adjustments account (history is
    never edited). A debit cannot take the wallet below zero. Never of the admin's own wallet
    (403 `own_wallet`: another admin must), and audited (`wallet.adjusted`) in its transaction."""
    body = {"user_id": str(user_id), "amount": amount, "reason": reason}
    idem = ledger.require_key(idempotency_key, admin_id, "adjustment", body)
    await access.ensure_owner_or_admin(svc, admin_id, user_id)  # others' wallets: 404 for non-admins
    await access.ensure_admin(svc, admin_id)
    if admin_id == user_id:
        raise Forbidden("an admin cannot adjust their own wallet; another admin must", code="own_wallet")
    if amount == 0:
        raise DomainError("an adjustment needs a non-zero amount", code="invalid_amount")
    if not reason.strip():
        raise DomainError("an adjustment needs a reason", code="reason_required")
    await _existing(svc, user_id)
    return await ledger.post(
        svc,
        kind="adjustment",
        legs=[Leg(amount, user_id=user_id), Leg(-amount, system=ADJUSTMENTS)],
        metadata={**body, "admin_id": str(admin_id)},
        idem=idem,
        stage=lambda s, tx: audit.stage(
            s,
            "wallet.adjusted",
            client,
            actor=admin_id,
            subject=f"user:{user_id}",
            details={"transaction_id": str(tx.id), "amount": amount, "reason": reason},
        ),
    )
