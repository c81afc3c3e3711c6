"""Provider callbacks: verify the signature, find what it is about, apply it once.

A forged callback (bad signature) is 401 `invalid_signature` and changes nothing. A replay of a
processed callback answers 200 `already_processed` and moves nothing (each settlement has a
unique external reference in the ledger, and the top-up / cashout row is locked while applying).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from infra.payments.fawry import Fawry
from infra.payments.vodafone_cash import VodafoneCash
from models.core.errors import NotFound
from models.wallet import cashout, topups

if TYPE_CHECKING:
    from infra.services import Services


def _reference(value: str) -> UUID:
    try:
        return UUID(hex=value)
    except ValueError:
        raise NotFound("no top-up or cashout has this reference", code="unknown_reference") from None


async def fawry_notification(svc: Services, body: dict) -> dict:
    """FawryPay server notification V2: for a top-up (charge) or a cashout."""
    n = Fawry(svc.settings).verify_notification(body)
    ref = _reference(n.reference)
    if await topups.find(svc, ref) is not None:
        return {"reference": n.reference, "result": await topups.apply_notification(svc, ref, n)}
    found = await cashout.find(svc, ref)
    if found is None or found.provider != "fawry":
        raise NotFound("no top-up or cashout has this reference", code="unknown_reference")
    return {"reference": n.reference, "result": await cashout.apply_notification(svc, ref, n)}


async def vodafone_cash_notification(svc: Services, body: dict) -> dict:
    n = VodafoneCash(svc.settings).verify_notification(body)
    ref = _reference(n.reference)
    found = await cashout.find(svc, ref)
    if found is None or found.provider != "vodafone_cash":
        raise NotFound("no cashout has this reference", code="unknown_reference")
    return {"reference": n.reference, "result": await cashout.apply_notification(svc, ref, n)}
