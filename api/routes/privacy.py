"""PDPL rights of the signed-in user (docs/privacy.md): /users/me/consents, /users/me/exports,
DELETE /users/me and /users/me/deletion."""

from __future__ import annotations

from quart import Blueprint, Response, g, request
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, client, optional_user, parse_id, svc
from api.inputs.users import ConsentIn, DeletionIn
from api.outputs import errors
from api.outputs.auth import ConsentGrantOut, ConsentsOut, DeletionOut, ExportOut, ExportQueuedOut
from api.outputs.platform import Binary
from models.accounts import consents
from models.privacy import erasure, exports

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


@bp.post("/exports")
@tag_privacy
@auth_required
@document_response(ExportQueuedOut, 202)
@errors(409)
async def request_export():
    """202 {"id"}: an archive of your data is being prepared (follow it with GET
    /users/me/exports/{id}). One at a time: 409 `export_running`, `details.id` the running one."""
    return await exports.request(svc(), g.user_id, client()), 202


@bp.get("/exports/<export_id>")
@tag_privacy
@auth_required
@document_response(ExportOut)
@errors(404)
async def get_export(export_id: str):
    """{"state": pending|running|ready|failed, "progress" 0-100, "download_url" once ready, until
    `expires_at`}; someone else's export: 404 `export_not_found`."""
    return await exports.status(svc(), g.user_id, parse_id(export_id, "export_id"), base_url=request.host_url)


@bp.get("/exports/<export_id>/download")
@tag_privacy
@optional_user
@document_response(Binary)
@errors(404)
async def download_export(export_id: str):
    """The zip, for the signed `download_url` until it expires (no bearer token needed: a
    download manager has none; with one, it must be the owner's). Otherwise 404 `export_not_found`."""
    data = await exports.download(svc(), g.user_id, parse_id(export_id, "export_id"), request.args.get("token"))
    return Response(
        data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="daira-data-{export_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@bp.delete("")
@tag_privacy
@auth_required
@validate_request(DeletionIn)
@document_response(DeletionOut, 202)
@errors(403)
async def delete_account(data: DeletionIn):
    """202 {"erase_after"}: the account is erased when ERASURE_GRACE_DAYS (30) have passed; until
    then every other call answers 403 `account_pending_deletion` and POST
    /users/me/deletion/cancel undoes it. Needs {"password"} or {"otp_code"} (a code sent to the
    account's proven phone): otherwise 403 `fresh_proof_required`."""
    return await erasure.request(svc(), g.user_id, password=data.password, otp_code=data.otp_code, client=client()), 202


@bp.post("/deletion/cancel")
@tag_privacy
@auth_required
@document_response(DeletionOut)
@errors(409)
async def cancel_deletion():
    """Within the grace period the account is back as it was; nothing pending: 409
    `erasure_not_pending`; already started: 409 `erasure_started`."""
    return await erasure.cancel(svc(), g.user_id, client())


@bp.get("/deletion")
@tag_privacy
@auth_required
@document_response(DeletionOut)
async def deletion_status():
    """{"state": none|pending|erasing, "erase_after"}."""
    return await erasure.status(svc(), g.user_id)
