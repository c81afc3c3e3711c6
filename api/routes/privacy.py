"""PDPL rights of the signed-in user (docs/privacy.md): /users/me/consents."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, client, svc
from api.inputs.users import ConsentIn
from api.outputs import errors
from api.outputs.auth import ConsentGrantOut, ConsentsOut
from models.accounts import consents

bp = Blueprint("privacy", __name__, url_prefix="/users/me")
tag_privacy = tag(["privacy"])


@bp.get("/consents")
@tag_privacy
@auth_required
@document_response(ConsentsOut)
async def list_consents():
    """Every purpose with its current text's version, whether you agree to it, and your history
    of grants and withdrawals."""
    return await consents.overview(svc(), g.user_id)


@bp.post("/consents")
@tag_privacy
@auth_required
@validate_request(ConsentIn)
@document_response(ConsentGrantOut, 201)
@errors(404, 409)
async def grant_consent(data: ConsentIn):
    """Agree to a purpose's current text (the same version again changes nothing); an older
    version: 409 `consent_version_outdated`; an unknown purpose: 404 `unknown_purpose`."""
    return await consents.grant(svc(), g.user_id, data.purpose, data.version, client()), 201


@bp.delete("/consents/<purpose>")
@tag_privacy
@auth_required
@document_response(ConsentGrantOut)
@errors(404, 409)
async def withdraw_consent(purpose: str):
    """Withdraw a consent. Required ones (terms, privacy notice): 409 `consent_required`;
    nothing to withdraw: 404 `consent_not_found`."""
    return await consents.withdraw(svc(), g.user_id, purpose, client())
