"""Phone codes (WhatsApp OTP, flash call) and passkey logins: run alike by the REST routes and the
GraphQL resolvers."""

from __future__ import annotations

import hashlib
from uuid import UUID

from quart import request

from api.auth import bearer_token, client, limit, principal, svc
from models.accounts import passkeys, phone_verification, sessions, users
from models.accounts.phone_verification import Channel


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


def requesters(who: UUID | None) -> list[str]:
    """Who is guessing, for the per-requester count of wrong codes: the client IP, the device (the
    app's X-Device-Id; not the User-Agent, which every install of one app version shares) and the
    caller's account, each counted on its own."""
    device = request.headers.get("X-Device-Id", "")[:200]
    out = [f"ip:{request.remote_addr}"]
    if device:
        out.append("device:" + hashlib.sha256(device.encode()).hexdigest()[:32])
    if who is not None:
        out.append(f"user:{who}")
    return out


async def check_code(
    channel: Channel, raw_phone: str, code: str, username: str | None = None, password: str | None = None
) -> tuple[dict, int]:
    """(body, status): a caller's phone verified -> {"verified", "phone", "phone_verified_at",
    "user"}, 200; else a login -> the token pair, 200, or 201 when the proof opened the account."""
    cfg, phone = svc().settings, users.normalize_phone(svc(), raw_phone)
    who = await caller()
    await limit("phone_verify_ip", cfg.rate_limit_otp_verify_ip, [f"ip:{request.remote_addr}"])
    proven = await phone_verification.verify(
        svc(),
        channel,
        phone,
        code,
        caller=who,
        client=client(),
        requesters=requesters(who),
        username=username,
        password=password,
    )
    if proven.caller:
        return {
            "verified": True,
            **phone_verification.public_phone(proven.user),
            "user": users.public(proven.user),
        }, 200
    method = channel if not proven.created else "register"
    return await sessions.token_pair(svc(), proven.user, client(), method=method), 201 if proven.created else 200


async def passkey_login(credential: dict) -> dict:
    await limit("login", svc().settings.rate_limit_login, [f"ip:{request.remote_addr}"])
    user = await passkeys.login(svc(), credential, client())
    return await sessions.token_pair(svc(), user, client(), method="passkey")


async def passkey_login_options(email: str | None, phone: str | None) -> dict:
    return await passkeys.login_options(
        svc(), email=email, phone=users.normalize_phone(svc(), phone) if phone else None
    )
