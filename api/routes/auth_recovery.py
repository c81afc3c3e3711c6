"""Account recovery and credentials (docs/auth.md#recovery): password reset by email link or by
phone code, password change, email verification."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required
from api.flows import recovery as flows
from api.inputs.auth import ChangePasswordIn, ForgotPasswordIn, PhoneResetPasswordIn, ResetPasswordIn, VerifyEmailIn
from api.outputs import NoContent, errors
from api.outputs.auth import AcceptedOut, EmailVerifiedOut, TokensOut

bp = Blueprint("auth_recovery", __name__, url_prefix="/auth")
tag_auth = tag(["auth"])


@bp.post("/password/forgot")
@tag_auth
@validate_request(ForgotPasswordIn)
@document_response(AcceptedOut, 202)
async def forgot(data: ForgotPasswordIn):
    """Mails a reset link (single use, PASSWORD_RESET_TTL) if an account has this email; 202 either way."""
    return await flows.forgot_password(data), 202


@bp.post("/password/reset")
@tag_auth
@validate_request(ResetPasswordIn)
@document_response(TokensOut)
@errors(401, 403)
async def reset(data: ResetPasswordIn):
    """The link's token and a new password: every session is revoked; answers like login."""
    return await flows.reset_password(data), 200


@bp.post("/password/reset/phone")
@tag_auth
@validate_request(PhoneResetPasswordIn)
@document_response(TokensOut)
@errors(401, 403)
async def reset_by_phone(data: PhoneResetPasswordIn):
    """A code from /auth/otp/request (or a flash call) and a new password for the account that
    proved this phone: every session is revoked; answers like login."""
    return await flows.reset_password_by_phone(data), 200


@bp.post("/password/change")
@tag_auth
@auth_required
@validate_request(ChangePasswordIn)
@document_response(NoContent, 204)
async def change(data: ChangePasswordIn):
    """Needs the current password; every other session is revoked (this one stays)."""
    await flows.change_password(g.user_id, g.session_id, data)
    return "", 204


@bp.post("/email/verification")
@tag_auth
@auth_required
@document_response(AcceptedOut, 202)
@errors(409)
async def send_verification():
    """Mails a link that proves the account's email."""
    return await flows.request_email_verification(g.user_id), 202


@bp.post("/email/verify")
@tag_auth
@validate_request(VerifyEmailIn)
@document_response(EmailVerifiedOut)
@errors(401)
async def verify(data: VerifyEmailIn):
    return await flows.verify_email(data), 200
