"""Second factors and passwordless logins: WhatsApp OTP, flash call, passkeys (docs/auth.md).

The phone endpoints take an optional bearer token: with one they verify the caller's phone,
without one they log in the account that holds the (verified) phone.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, model_validator
from quart import Blueprint, g, request
from quart_schema import tag, validate_request

from api.auth import auth_required, bearer_token, client, parse_id, principal, svc
from api.inputs import Strict
from api.routes.auth import PhoneField, limit
from models.accounts import passkeys, phone_verification, sessions, users
from models.accounts.phone_verification import Channel

bp = Blueprint("auth_factors", __name__, url_prefix="/auth")
tag_factors = tag(["auth"])


class PhoneIn(Strict):
    phone: str = Field(min_length=3, max_length=32)


class PhoneCodeIn(PhoneIn):
    code: str = Field(
        min_length=4,
        max_length=16,
        pattern=r"^\+?[0-9]+$",
        description="OTP: the 6 digits; flash call: the calling number, or its last digits",
    )


class PasskeyRegisterIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.create(), as JSON")
    device_name: str | None = Field(None, max_length=100)


class PasskeyLoginOptionsIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField

    @model_validator(mode="after")
    def _one(self):
        if self.email and self.phone:
            raise ValueError("give an email or a phone, not both")
        return self


class PasskeyLoginIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.get(), as JSON")


async def caller() -> UUID | None:
    """The bearer token's user if the request carries one (a bad one is a 401, not anonymous)."""
    if not request.headers.get("Authorization"):
        return None
    return (await principal(bearer_token())).user_id


async def send_code(channel: Channel, raw_phone: str) -> dict:
    """Per IP and per phone limits, then phone_verification.request (REST and GraphQL)."""
    cfg, phone = svc().settings, users.normalize_phone(svc(), raw_phone)
    who = await caller()
    await limit("phone_send_ip", cfg.rate_limit_otp_ip, [f"ip:{request.remote_addr}"])
    await limit("phone_send", cfg.rate_limit_otp_phone, [users.phone_subject(svc(), phone)])
    return await phone_verification.request(svc(), channel, phone, caller=who, client=client())


async def check_code(channel: Channel, raw_phone: str, code: str) -> dict:
    """A caller's phone verified -> {"verified", "phone", "phone_verified_at", "user"}; else a login
    -> the token pair."""
    cfg, phone = svc().settings, users.normalize_phone(svc(), raw_phone)
    who = await caller()
    await limit("phone_verify_ip", cfg.rate_limit_otp_verify_ip, [f"ip:{request.remote_addr}"])
    proven = await phone_verification.verify(svc(), channel, phone, code, caller=who, client=client())
    if proven.caller:
        return {"verified": True, **phone_verification.public_phone(proven.user), "user": users.public(proven.user)}
    return await sessions.token_pair(svc(), proven.user, client(), method=channel)


async def passkey_login(credential: dict) -> dict:
    await limit("login", svc().settings.rate_limit_login, [f"ip:{request.remote_addr}"])
    user = await passkeys.login(svc(), credential, client())
    return await sessions.token_pair(svc(), user, client(), method="passkey")


async def passkey_login_options(email: str | None, phone: str | None) -> dict:
    return await passkeys.login_options(
        svc(), email=email, phone=users.normalize_phone(svc(), phone) if phone else None
    )


@bp.post("/otp/request")
@tag_factors
@validate_request(PhoneIn)
async def otp_request(data: PhoneIn):
    """Send a 6-digit code by WhatsApp. Answered alike whether or not an account holds the phone."""
    return await send_code("otp", data.phone), 202


@bp.post("/verify-otp")
@tag_factors
@validate_request(PhoneCodeIn)
async def verify_otp(data: PhoneCodeIn):
    """Logs in (token pair), or with a bearer token verifies the caller's phone."""
    return await check_code("otp", data.phone, data.code), 200


@bp.post("/flash-call")
@tag_factors
@validate_request(PhoneIn)
async def flash_call(data: PhoneIn):
    """Place a missed call (Sinch); its calling number is the code. Answers `cli_filter` and
    `interception_timeout` for the app to spot the call."""
    return await send_code("flash_call", data.phone), 202


@bp.post("/flash-call/verify")
@tag_factors
@validate_request(PhoneCodeIn)
async def flash_call_verify(data: PhoneCodeIn):
    return await check_code("flash_call", data.phone, data.code), 200


@bp.post("/passkeys/register/options")
@tag_factors
@auth_required
async def passkey_register_options():
    """WebAuthn creation options (PublicKeyCredentialCreationOptionsJSON); the challenge works once,
    for WEBAUTHN_CHALLENGE_TTL."""
    return await passkeys.registration_options(svc(), g.user_id), 200


@bp.post("/passkeys/register/verify")
@tag_factors
@auth_required
@validate_request(PasskeyRegisterIn)
async def passkey_register_verify(data: PasskeyRegisterIn):
    row = await passkeys.register(svc(), g.user_id, data.credential, device_name=data.device_name, client=client())
    return passkeys.public(row), 201


@bp.post("/passkeys/login/options")
@tag_factors
@validate_request(PasskeyLoginOptionsIn)
async def passkey_login_options_route(data: PasskeyLoginOptionsIn):
    """WebAuthn request options; with an email or phone, only that account's passkeys may answer."""
    return await passkey_login_options(data.email, data.phone), 200


@bp.post("/passkeys/login/verify")
@tag_factors
@validate_request(PasskeyLoginIn)
async def passkey_login_verify(data: PasskeyLoginIn):
    """Answers like login. RATE_LIMIT_LOGIN per IP."""
    return await passkey_login(data.credential), 200


@bp.get("/passkeys")
@tag_factors
@auth_required
async def list_passkeys():
    return {"items": await passkeys.list_passkeys(svc(), g.user_id), "next_cursor": None}


@bp.delete("/passkeys/<passkey_id>")
@tag_factors
@auth_required
async def revoke_passkey(passkey_id: str):
    await passkeys.revoke(svc(), g.user_id, parse_id(passkey_id, "passkey_id"), client())
    return "", 204
