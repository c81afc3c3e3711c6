"""Payment providers' server-to-server callbacks (no bearer token: the provider's signature is
the authentication). 200 once applied or already applied (a replay moves nothing); a bad
signature is 401 `invalid_signature`; a malformed body 400 `bad_notification`."""

from __future__ import annotations

from quart import Blueprint, request
from quart_schema import document_response, tag

from api.auth import svc
from api.outputs import errors
from api.outputs.wallet import CallbackOut
from models.core.errors import DomainError
from models.wallet import callbacks

bp = Blueprint("payments", __name__, url_prefix="/payments")
tag_payments = tag(["payments"])


async def _body() -> dict:
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DomainError("the callback body must be a JSON object", code="bad_notification")
    return body


@bp.post("/fawry/notifications")
@tag_payments
@document_response(CallbackOut)
@errors(400, 401)
async def fawry_notification():
    """FawryPay server notification V2 (top-ups and Fawry cashouts), verified by messageSignature."""
    return await callbacks.fawry_notification(svc(), await _body())


@bp.post("/vodafone-cash/notifications")
@tag_payments
@document_response(CallbackOut)
@errors(400, 401)
async def vodafone_cash_notification():
    """Vodafone Cash disbursement result (assumed contract: docs/wallet.md)."""
    return await callbacks.vodafone_cash_notification(svc(), await _body())
