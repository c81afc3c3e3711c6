"""Resolvers for WhatsApp OTP, flash call and passkeys: the flows REST runs too (api/flows/auth_factors.py),
which call the domain functions (models/accounts/phone_verification.py, models/accounts/passkeys.py)."""

from __future__ import annotations

import json
from uuid import UUID

from ariadne import MutationType, ObjectType, QueryType

from api.auth import client, parse_id
from api.flows.auth_factors import check_code, passkey_login, passkey_login_options, send_code
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.auth import PasskeyLoginOptionsIn, PhoneCodeIn, PhoneIn
from models.accounts import passkeys, users
from models.core.errors import DomainError

query, mutation = QueryType(), MutationType()
user_type = ObjectType("User")


def _json(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DomainError(f"{what} must be a JSON object", code="validation_error")
    return value


@mutation.field("requestOtp")
async def resolve_request_otp(_, info, phone):
    return await send_code("otp", _validate(PhoneIn, {"phone": phone}).phone)


@mutation.field("requestFlashCall")
async def resolve_request_flash_call(_, info, phone):
    return await send_code("flash_call", _validate(PhoneIn, {"phone": phone}).phone)


async def _verify(channel, phone, code, username, password) -> dict:
    data = _validate(PhoneCodeIn, {"phone": phone, "code": code, "username": username, "password": password})
    out, status = await check_code(channel, data.phone, data.code, data.username, data.password)
    if out.get("verified"):
        return {**out, "created": False}
    return {"verified": False, "created": status == 201, "auth": out, "user": out["user"]}


@mutation.field("verifyOtp")
async def resolve_verify_otp(_, info, phone, code, username=None, password=None):
    return await _verify("otp", phone, code, username, password)


@mutation.field("verifyFlashCall")
async def resolve_verify_flash_call(_, info, phone, code, username=None, password=None):
    return await _verify("flash_call", phone, code, username, password)


@mutation.field("passkeyRegistrationOptions")
async def resolve_passkey_registration_options(_, info):
    return json.dumps(await passkeys.registration_options(info.context["svc"], _user(info)))


@mutation.field("registerPasskey")
async def resolve_register_passkey(_, info, credential, device_name=None):
    if device_name is not None and len(device_name) > 100:
        raise DomainError("deviceName is at most 100 characters", code="validation_error")
    row = await passkeys.register(
        info.context["svc"], _user(info), _json(credential, "credential"), device_name=device_name, client=client()
    )
    return passkeys.public(row)


@mutation.field("passkeyLoginOptions")
async def resolve_passkey_login_options(_, info, email=None, phone=None):
    data = _validate(PasskeyLoginOptionsIn, {"email": email, "phone": phone})
    return json.dumps(await passkey_login_options(data.email, data.phone))


@mutation.field("loginWithPasskey")
async def resolve_login_with_passkey(_, info, credential):
    return await passkey_login(_json(credential, "credential"))


@mutation.field("revokePasskey")
async def resolve_revoke_passkey(_, info, id):
    await passkeys.revoke(info.context["svc"], _user(info), parse_id(id, "id"), client())
    return True


@query.field("passkeys")
async def resolve_passkeys(_, info):
    return await passkeys.list_passkeys(info.context["svc"], _user(info))


async def _account(user: dict, info):
    # One read per User object; the phone number is shown to its owner only.
    if "_account" not in user:
        user["_account"] = await users.get_user(info.context["svc"], UUID(user["id"]))
    return user["_account"]


@user_type.field("phone")
async def resolve_user_phone(user, info):
    if info.context.get("user_id") is None or str(info.context["user_id"]) != user["id"]:
        return None
    account = await _account(user, info)
    return account.phone if account else None


@user_type.field("phoneVerified")
async def resolve_user_phone_verified(user, info):
    account = await _account(user, info)
    return bool(account and account.phone_verified_at)


bindables = [query, mutation, user_type]
