"""Settle what the providers' callbacks left pending: `make reconcile-payments`
(jobs/reconcile_payments.py), e.g. every 10 minutes from a cron job.

A callback can be lost, and a charge or payout request can go unanswered. For every top-up and
cashout still pending after `older_than`, the provider is asked (Fawry's payment status V2,
Vodafone Cash's disbursement status) and its answer is applied exactly as the signed callback
would be: the settlements are idempotent, so a callback arriving too changes nothing. A top-up
whose charge never reached Fawry (Fawry has no such order) is closed as failed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from infra.payments import ProviderRejected, cashout_provider
from infra.payments.fawry import Fawry
from models.core.base import utcnow
from models.core.errors import DomainError
from models.wallet import cashout, topups
from models.wallet.tables import Cashout, Topup

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)


async def reconcile_payments(svc: Services, *, older_than: timedelta = timedelta(minutes=10)) -> dict:
    """{"topups_settled", "cashouts_settled", "still_pending", "errors"}."""
    cutoff = utcnow() - older_than
    async with svc.sessions() as s:
        pending_topups = (
            (await s.execute(select(Topup).where(Topup.status == "pending", Topup.created_at < cutoff))).scalars().all()
        )
        pending_cashouts = (
            (await s.execute(select(Cashout).where(Cashout.status == "pending", Cashout.created_at < cutoff)))
            .scalars()
            .all()
        )
    out = {"topups_settled": 0, "cashouts_settled": 0, "still_pending": 0, "errors": 0}
    fawry = Fawry(svc.settings)
    for t in pending_topups:
        try:
            try:
                status = await fawry.payment_status(t.id.hex)
            except ProviderRejected:
                if t.provider_ref is None:  # the charge never reached Fawry: nothing can be paid
                    await topups.close_unreached(svc, t.id)
                    out["topups_settled"] += 1
                    continue
                raise
            applied = await topups.apply_notification(svc, t.id, status) == "applied"
        except DomainError as exc:
            log.warning("top-up not reconciled", extra={"topup_id": str(t.id), "error": exc.code})
            out["errors"] += 1
            continue
        out["topups_settled" if applied else "still_pending"] += 1
    for c in pending_cashouts:
        try:
            n = await cashout_provider(svc.settings, c.provider).payout_status(c.id.hex)
            applied = await cashout.apply_notification(svc, c.id, n) == "applied"
        except DomainError as exc:
            log.warning("cashout not reconciled", extra={"cashout_id": str(c.id), "error": exc.code})
            out["errors"] += 1
            continue
        out["cashouts_settled" if applied else "still_pending"] += 1
    return out
