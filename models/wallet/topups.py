"""Top-ups through FawryPay: a Pay-at-Fawry reference number now, the money when Fawry's signed
notification (or its payment-status answer, or `make reconcile-payments`) says PAID.

No database transaction is open while Fawry is asked (a slow provider must not hold connections
and locks): 1. the top-up is recorded pending and committed (a concurrent request with the same
Idempotency-Key finds it and answers it), 2. Fawry is called, 3. its answer is recorded. A refusal
removes the row (the key can be used again); no answer leaves it pending with `details.charge =
"unanswered"`: a retry with the same key calls again with the same reference, and the reconcile
job asks Fawry what became of it.

A late PAID: Fawry can report PAID for a reference we already closed (EXPIRED or FAILED), e.g. a
payment taken at a Fawry point just before the expiry and reported after it. Fawry collected the
money, so the wallet is credited: the top-up becomes `paid` with `details.late_paid = true`; the
ledger's unique external reference keeps that to once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import cast as sa_cast
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from infra.payments import Notification, ProviderUnavailable
from infra.payments.fawry import Fawry
from models.accounts import users
from models.core import outbox
from models.core.base import utcnow
from models.core.errors import DomainError, NotFound
from models.core.events import new_id
from models.core.idempotency import IdempotencyKeyReused
from models.wallet import access, ledger
from models.wallet.ledger import CLEARING, Leg
from models.wallet.tables import Topup

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)
EXPIRY = timedelta(hours=24)  # how long the Pay-at-Fawry reference number stays payable
CALLING, UNANSWERED, CHARGED = "calling", "unanswered", "charged"  # details.charge


def public(t: Topup) -> dict:
    return {
        "id": str(t.id),
        "type": "topup",
        "user_id": str(t.user_id),
        "provider": t.provider,
        "amount": t.amount,
        "currency": t.currency,
        "status": t.status,
        "provider_reference": t.provider_ref,
        "expires_at": t.details.get("expires_at"),
        "transaction_id": str(t.transaction_id) if t.transaction_id else None,
        "created_at": t.created_at.isoformat(),
    }


async def start_topup(
    svc: Services,
    *,
    actor_id: UUID,
    user_id: UUID,
    amount: int,
    provider: str = "fawry",
    mobile: str | None = None,
    idempotency_key: str | None = None,
) -> dict:
    access.ensure_owner(actor_id, user_id)
    body = {"amount": amount, "provider": provider, "mobile": mobile}
    idem = ledger.require_key(idempotency_key, actor_id, "topup", body)
    if provider != "fawry":
        raise DomainError("top-ups go through fawry", code="unsupported_provider")
    if amount <= 0:
        raise DomainError("amount must be a positive number of minor units", code="invalid_amount")
    fawry = Fawry(svc.settings)
    fawry.ensure_configured()
    topup_id, now = new_id(), utcnow()
    async with svc.sessions() as s, s.begin():  # 1. record it pending (committed before any call)
        inserted = (
            await s.execute(
                pg_insert(Topup)
                .values(
                    id=topup_id,
                    user_id=user_id,
                    provider=provider,
                    amount=amount,
                    currency=ledger.currency(svc),
                    status="pending",
                    idempotency_key=idem.key,
                    request_hash=idem.request_hash,
                    details={"charge": CALLING, "expires_at": (now + EXPIRY).isoformat()},
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(Topup.id)
            )
        ).first()
    if not inserted:
        async with svc.sessions() as s:
            prior = (
                await s.execute(select(Topup).where(Topup.user_id == user_id, Topup.idempotency_key == idem.key))
            ).scalar_one()
        if prior.request_hash != idem.request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
        if not await _claim_retry(svc, prior.id):
            return public(prior)  # charged, or a concurrent request is calling Fawry right now
        topup_id = prior.id
    return public(await _charge(svc, fawry, topup_id, user_id, amount, mobile))


async def _claim_retry(svc: Services, topup_id: UUID) -> bool:
    """A retry of a charge Fawry never answered: one request (atomically) calls again."""
    async with svc.sessions() as s, s.begin():
        claimed = await s.execute(
            update(Topup)
            .where(Topup.id == topup_id, Topup.status == "pending", Topup.details["charge"].astext == UNANSWERED)
            .values(details=Topup.details.op("||")(cast_jsonb({"charge": CALLING})), updated_at=utcnow())
            .returning(Topup.id)
        )
        return claimed.first() is not None


async def _charge(svc: Services, fawry: Fawry, topup_id: UUID, user_id: UUID, amount: int, mobile) -> Topup:
    """2. ask Fawry for the reference number, no transaction open; 3. record its answer. A refusal
    removes the top-up (nothing exists at Fawry; the key may be used again); no answer leaves it
    pending and retryable (the same merchantRefNum: Fawry keeps one order per reference)."""
    user = await users.get_user(svc, user_id)
    async with svc.sessions() as s:
        expires_at = datetime.fromisoformat(cast(Topup, await s.get(Topup, topup_id)).details["expires_at"])
    try:
        charged = await fawry.charge(
            reference=topup_id.hex,
            customer_profile_id=user_id.hex,
            amount=amount,
            currency=ledger.currency(svc),
            description="D-A-I-R-A wallet top-up",
            expires_at=expires_at,
            email=getattr(user, "email", None),
            mobile=mobile,
        )
    except ProviderUnavailable:
        await _set_details(svc, topup_id, {"charge": UNANSWERED})
        raise
    except DomainError:
        async with svc.sessions() as s, s.begin():
            await s.execute(delete(Topup).where(Topup.id == topup_id, Topup.status == "pending"))
        raise
    async with svc.sessions() as s, s.begin():
        topup = cast(Topup, await s.get(Topup, topup_id, with_for_update=True))
        topup.provider_ref = topup.provider_ref or charged["reference_number"]
        topup.details = {**topup.details, "charge": CHARGED, "order_status": charged["order_status"]}
    return topup


async def _set_details(svc: Services, topup_id: UUID, values: dict) -> None:
    async with svc.sessions() as s, s.begin():
        await s.execute(
            update(Topup)
            .where(Topup.id == topup_id)
            .values(details=Topup.details.op("||")(cast_jsonb(values)), updated_at=utcnow())
        )


def cast_jsonb(values: dict):
    return sa_cast(values, JSONB)


async def find(svc: Services, topup_id: UUID) -> Topup | None:
    async with svc.sessions() as s:
        return await s.get(Topup, topup_id)


async def apply_notification(svc: Services, topup_id: UUID, n: Notification) -> str:
    """Fawry says what happened to a top-up: PAID credits the wallet once (the settlement's
    external reference is unique), a failure closes it, anything else changes nothing."""
    async with outbox.transaction(svc) as s:
        topup = (await s.execute(select(Topup).where(Topup.id == topup_id).with_for_update())).scalar_one()
        late = topup.status == "failed" and n.outcome == "paid"  # Fawry collected it: credited (above)
        if topup.status != "pending" and not late:
            return "already_processed"
        if n.outcome == "paid":
            if n.amount != topup.amount:
                raise DomainError(
                    "the paid amount differs from the top-up",
                    code="amount_mismatch",
                    details={"expected": topup.amount, "notified": n.amount},
                )
            tx = await ledger.begin(
                s,
                kind="topup",
                cur=topup.currency,
                external_ref=f"fawry:{topup.id.hex}",
                metadata={
                    "topup_id": str(topup.id),
                    "user_id": str(topup.user_id),
                    "amount": topup.amount,
                    "provider": "fawry",
                    "provider_reference": n.provider_ref,
                },
            )
            await ledger.write(
                svc, s, tx, [Leg(-topup.amount, system=CLEARING["fawry"]), Leg(topup.amount, user_id=topup.user_id)]
            )
            topup.status, topup.transaction_id = "paid", tx.id
            if late:
                topup.details = {**topup.details, "late_paid": True}
        elif n.outcome == "failed":
            topup.status = "failed"
            topup.details = {**topup.details, "failure_reason": n.reason}
        else:
            return "ignored"
    return "applied"


async def get_topup(svc: Services, *, viewer_id: UUID, user_id: UUID, topup_id: UUID) -> dict:
    """The top-up; while pending, Fawry's payment status is asked and applied (a notification
    that never arrived is not a lost payment)."""
    await access.ensure_owner_or_admin(svc, viewer_id, user_id)
    topup = await find(svc, topup_id)
    if topup is None or topup.user_id != user_id:
        raise NotFound("no such top-up", code="topup_not_found")
    if topup.status == "pending":
        try:
            status = await Fawry(svc.settings).payment_status(topup.id.hex)
        except DomainError as exc:  # unreachable, refused, unsigned: the stored state stands
            log.warning("fawry payment status failed", extra={"topup_id": str(topup.id), "error": exc.code})
        else:
            await apply_notification(svc, topup.id, status)
            topup = cast(Topup, await find(svc, topup_id))  # top-ups are never deleted
    return public(topup)


async def close_unreached(svc: Services, topup_id: UUID) -> None:
    """A pending top-up Fawry has no order for (its charge never arrived): failed."""
    async with svc.sessions() as s, s.begin():
        topup = await s.get(Topup, topup_id, with_for_update=True)
        if topup is not None and topup.status == "pending" and topup.provider_ref is None:
            topup.status = "failed"
            topup.details = {**topup.details, "failure_reason": "charge_not_received"}
