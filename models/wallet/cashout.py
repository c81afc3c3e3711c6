"""Cashouts to Fawry and Vodafone Cash.

1. Checks: the owner only, CASHOUT_MIN per request, CASHOUT_DAILY_MAX per rolling 24 h (summed
   under the wallet's row lock, so concurrent requests cannot both pass), a verified phone, a
   trust score above CASHOUT_MIN_TRUST, and for a destination this user never cashed out to, a
   fresh proof of the session (a login or reauth within FRESH_PROOF_WINDOW: 403
   `fresh_proof_required`).
2. The amount moves from the wallet to the pending-cashout account (committed), then the
   provider is asked to pay. A refusal returns the funds at once; no answer leaves the cashout
   pending: its outcome is unknown until the provider's signed callback.
3. The callback settles it once (unique external reference): done -> pending account to the
   provider's clearing account; failed -> back to the wallet.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import func, select, update

from infra.payments import Notification, ProviderRejected, ProviderUnavailable, cashout_provider
from models.accounts import fresh_proof, users
from models.core import outbox
from models.core.base import utcnow
from models.core.errors import DomainError, Forbidden, NotFound
from models.core.events import new_id
from models.moderation import trust
from models.wallet import access, ledger
from models.wallet.ledger import CASHOUT_PENDING, CLEARING, Leg
from models.wallet.tables import Cashout

if TYPE_CHECKING:
    from infra.services import Services

PROVIDERS = tuple(CLEARING)
EGYPT_MOBILE = re.compile(r"^01[0125]\d{8}$")
DAY = timedelta(hours=24)


def public(c: Cashout) -> dict:
    return {
        "id": str(c.id),
        "type": "cashout",
        "user_id": str(c.user_id),
        "provider": c.provider,
        "amount": c.amount,
        "currency": c.currency,
        "destination": c.destination,
        "status": c.status,
        "provider_reference": c.provider_ref,
        "failure_reason": c.failure_reason,
        "transaction_id": str(c.hold_transaction_id),
        "settle_transaction_id": str(c.settle_transaction_id) if c.settle_transaction_id else None,
        "created_at": c.created_at.isoformat(),
    }


async def ensure_identity(svc: Services, user_id: UUID) -> None:
    user = await users.get_user(svc, user_id)
    if user is None or user.phone_verified_at is None:
        raise Forbidden("cashouts need a verified phone number", code="phone_not_verified")
    # Computed now, not the stored score: money must not move on a score up to a day old
    # (a report upheld an hour ago counts).
    score = cast(dict, await trust.compute(svc, user_id))["score"]  # None only for a missing user
    if score <= svc.settings.cashout_min_trust:
        raise Forbidden(
            "your account's trust score is too low for cashouts yet",
            code="trust_too_low",
            details={"score": score, "required_above": svc.settings.cashout_min_trust},
        )


async def request_cashout(
    svc: Services,
    *,
    actor_id: UUID,
    user_id: UUID,
    amount: int,
    provider: str,
    destination: str,
    idempotency_key: str | None = None,
    session_id: UUID | None = None,
) -> dict:
    """`session_id`: the requester's session, whose fresh proof a new destination needs."""
    access.ensure_owner(actor_id, user_id)
    body = {"amount": amount, "provider": provider, "destination": destination}
    idem = ledger.require_key(idempotency_key, actor_id, "cashout", body)
    if provider not in PROVIDERS:
        raise DomainError(f"provider must be one of {', '.join(PROVIDERS)}", code="unsupported_provider")
    if not EGYPT_MOBILE.match(destination or ""):
        raise DomainError("destination must be an Egyptian mobile number (01XXXXXXXXX)", code="invalid_destination")
    if provider == "vodafone_cash" and not destination.startswith("010"):
        raise DomainError("Vodafone Cash numbers start with 010", code="invalid_destination")
    if amount < svc.settings.cashout_min:
        raise DomainError(
            "the amount is below the cashout minimum",
            code="cashout_below_minimum",
            details={"minimum": svc.settings.cashout_min},
        )
    adapter = cashout_provider(svc.settings, provider)
    adapter.ensure_configured()
    await ensure_identity(svc, user_id)
    if not await known_destination(svc, user_id, provider, destination):
        await fresh_proof.require(svc, session_id, "a cashout to a new destination")
    cur, cashout_id = ledger.currency(svc), new_id()
    async with outbox.transaction(svc) as s:
        tx = await ledger.begin(
            s, kind="cashout_hold", cur=cur, idem=idem, metadata={**body, "cashout_id": str(cashout_id)}
        )
        if tx.replayed:
            return public((await s.execute(select(Cashout).where(Cashout.hold_transaction_id == tx.id))).scalar_one())
        wallets = await ledger.lock_wallets(s, [user_id], cur)
        used = (
            await s.execute(
                select(func.coalesce(func.sum(Cashout.amount), 0)).where(
                    Cashout.user_id == user_id, Cashout.status != "failed", Cashout.created_at > utcnow() - DAY
                )
            )
        ).scalar_one()
        if used + amount > svc.settings.cashout_daily_max:
            raise DomainError(
                "this would exceed the daily cashout limit",
                code="cashout_daily_limit",
                details={
                    "limit": svc.settings.cashout_daily_max,
                    "remaining": max(0, svc.settings.cashout_daily_max - int(used)),
                },
            )
        await ledger.write(svc, s, tx, [Leg(-amount, user_id=user_id), Leg(amount, system=CASHOUT_PENDING)], wallets)
        s.add(
            Cashout(
                id=cashout_id,
                user_id=user_id,
                provider=provider,
                amount=amount,
                currency=cur,
                destination=destination,
                status="pending",
                hold_transaction_id=tx.id,
            )
        )
    try:
        ref = await adapter.payout(reference=cashout_id.hex, destination=destination, amount=amount, currency=cur)
    except ProviderRejected as exc:
        await settle(svc, cashout_id, success=False, reason=exc.message)
    except ProviderUnavailable:
        pass  # unknown outcome: the provider's callback settles it
    else:
        async with svc.sessions() as s, s.begin():
            await s.execute(
                update(Cashout)
                .where(Cashout.id == cashout_id, Cashout.provider_ref.is_(None))
                .values(provider_ref=ref or None, updated_at=utcnow())
            )
    return public(cast(Cashout, await find(svc, cashout_id)))  # created above; never deleted


async def known_destination(svc: Services, user_id: UUID, provider: str, destination: str) -> bool:
    """Whether the user already cashed out to this destination (a cashout that did not fail): a
    thief with a stolen token would pay to a new one, so only a new one needs a fresh proof."""
    async with svc.sessions() as s:
        return (
            await s.execute(
                select(Cashout.id)
                .where(
                    Cashout.user_id == user_id,
                    Cashout.provider == provider,
                    Cashout.destination == destination,
                    Cashout.status != "failed",
                )
                .limit(1)
            )
        ).first() is not None


async def find(svc: Services, cashout_id: UUID) -> Cashout | None:
    async with svc.sessions() as s:
        return await s.get(Cashout, cashout_id)


async def settle(
    svc: Services,
    cashout_id: UUID,
    *,
    success: bool,
    provider_ref: str | None = None,
    reason: str | None = None,
    amount: int | None = None,
) -> str:
    """Close a pending cashout exactly once; a second outcome for it is a no-op."""
    async with outbox.transaction(svc) as s:
        c = (await s.execute(select(Cashout).where(Cashout.id == cashout_id).with_for_update())).scalar_one()
        if c.status != "pending":
            return "already_processed"
        if amount is not None and amount != c.amount:
            raise DomainError(
                "the notified amount differs from the cashout",
                code="amount_mismatch",
                details={"expected": c.amount, "notified": amount},
            )
        back = Leg(c.amount, system=CLEARING[c.provider]) if success else Leg(c.amount, user_id=c.user_id)
        tx = await ledger.begin(
            s,
            kind="cashout_done" if success else "cashout_return",
            cur=c.currency,
            external_ref=f"cashout:{c.id.hex}",
            metadata={
                "cashout_id": str(c.id),
                "user_id": str(c.user_id),
                "amount": c.amount,
                "provider": c.provider,
                "provider_reference": provider_ref,
                "reason": reason,
            },
        )
        await ledger.write(svc, s, tx, [Leg(-c.amount, system=CASHOUT_PENDING), back])
        c.status, c.settle_transaction_id = ("done" if success else "failed"), tx.id
        c.provider_ref = provider_ref or c.provider_ref
        c.failure_reason = None if success else (reason or "failed")[:300]
    return "applied"


async def apply_notification(svc: Services, cashout_id: UUID, n: Notification) -> str:
    if n.outcome in ("done", "paid"):
        return await settle(svc, cashout_id, success=True, provider_ref=n.provider_ref, amount=n.amount)
    if n.outcome == "failed":
        return await settle(svc, cashout_id, success=False, provider_ref=n.provider_ref, reason=n.reason)
    return "ignored"


async def get_cashout(svc: Services, *, viewer_id: UUID, user_id: UUID, cashout_id: UUID) -> dict:
    await access.ensure_owner_or_admin(svc, viewer_id, user_id)
    c = await find(svc, cashout_id)
    if c is None or c.user_id != user_id:
        raise NotFound("no such cashout", code="cashout_not_found")
    return public(c)
