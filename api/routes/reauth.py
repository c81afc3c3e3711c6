"""Fresh proof for the current session (models/accounts/fresh_proof.py)."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required
from api.flows.reauth import do_reauth
from api.inputs.auth import ReauthIn
from api.outputs.auth import FreshOut

bp = Blueprint("reauth", __name__, url_prefix="/auth")


@bp.post("/reauth")
@tag(["auth"])
@auth_required
@validate_request(ReauthIn)
@document_response(FreshOut)
async def reauth(data: ReauthIn):
    """The password again: this session counts as freshly proven for FRESH_PROOF_WINDOW (5 min),
    as after a login; needed e.g. before a cashout to a new destination. {"fresh_until": unix s}."""
    return await do_reauth(g.user_id, g.session_id, data.password), 200
