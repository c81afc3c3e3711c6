"""Second factors and passwordless logins: WhatsApp OTP, flash call, passkeys (docs/auth.md).

The phone endpoints take an optional bearer token: with one they verify the caller's phone,
without one they log in the account that proved the phone, or open a phone-only account.
"""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, client, parse_id, svc
from api.flows.auth_factors import check_code, passkey_login, passkey_login_options, send_code
from api.inputs.auth import PasskeyLoginIn, PasskeyLoginOptionsIn, PasskeyRegisterIn, PhoneCodeIn, PhoneIn
from api.outputs import NoContent, errors
from api.outputs.auth import CodeSentOut, PasskeyOut, PasskeyPage, PhoneVerifiedOut, TokensOut, WebAuthnOptionsOut
from models.accounts import passkeys

bp = Blueprint("auth_factors", __name__, url_prefix="/auth")
tag_factors = tag(["auth"])


@bp.post("/otp/request")
@tag_factors
@validate_request(PhoneIn)
@document_response(CodeSentOut, 202)
async def otp_request(data: PhoneIn):
    """Send a 6-digit code by WhatsApp. Answered alike whether or not an account holds the phone."""
    return await send_code("otp", data.phone), 202


@bp.post("/verify-otp")
@tag_factors
@validate_request(PhoneCodeIn)
@document_response(PhoneVerifiedOut)
@errors(401, 403, 409)
async def verify_otp(data: PhoneCodeIn):
    """With a bearer token verifies the caller's phone; without one logs into the account that
    proved this phone (200, token pair), or opens a phone-only account (201, token pair;
    `username` and `password` optional). A phone another account only claimed is released from it."""
    return await check_code("otp", data.phone, data.code, data.username, data.password)


@bp.post("/flash-call")
@tag_factors
@validate_request(PhoneIn)
@document_response(CodeSentOut, 202)
async def flash_call(data: PhoneIn):
    """Place a missed call (Sinch); its calling number is the code. Answers `cli_filter` and
    `interception_timeout` for the app to spot the call."""
    return await send_code("flash_call", data.phone), 202


@bp.post("/flash-call/verify")
@tag_factors
@validate_request(PhoneCodeIn)
@document_response(PhoneVerifiedOut)
@errors(401, 403, 409)
async def flash_call_verify(data: PhoneCodeIn):
    """As /auth/verify-otp."""
    return await check_code("flash_call", data.phone, data.code, data.username, data.password)


@bp.post("/passkeys/register/options")
@tag_factors
@auth_required
@document_response(WebAuthnOptionsOut)
async def passkey_register_options():
    """WebAuthn creation options (PublicKeyCredentialCreationOptionsJSON); the challenge works once,
    for WEBAUTHN_CHALLENGE_TTL."""
    return await passkeys.registration_options(svc(), g.user_id), 200


@bp.post("/passkeys/register/verify")
@tag_factors
@auth_required
@validate_request(PasskeyRegisterIn)
@document_response(PasskeyOut, 201)
@errors(409)
async def passkey_register_verify(data: PasskeyRegisterIn):
    row = await passkeys.register(svc(), g.user_id, data.credential, device_name=data.device_name, client=client())
    return passkeys.public(row), 201


@bp.post("/passkeys/login/options")
@tag_factors
@validate_request(PasskeyLoginOptionsIn)
@document_response(WebAuthnOptionsOut)
async def passkey_login_options_route(data: PasskeyLoginOptionsIn):
    """WebAuthn request options; with an email or phone, only that account's passkeys may answer."""
    return await passkey_login_options(data.email, data.phone), 200


@bp.post("/passkeys/login/verify")
@tag_factors
@validate_request(PasskeyLoginIn)
@document_response(TokensOut)
@errors(401, 403)
async def passkey_login_verify(data: PasskeyLoginIn):
    """Answers like login. RATE_LIMIT_LOGIN per IP."""
    return await passkey_login(data.credential), 200


@bp.get("/passkeys")
@tag_factors
@auth_required
@document_response(PasskeyPage)
async def list_passkeys():
    return {"items": await passkeys.list_passkeys(svc(), g.user_id), "next_cursor": None}


@bp.delete("/passkeys/<passkey_id>")
@tag_factors
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def revoke_passkey(passkey_id: str):
    await passkeys.revoke(svc(), g.user_id, parse_id(passkey_id, "passkey_id"), client())
    return "", 204
