"""Password reset (email link, phone code), password change, email verification: run alike by the
REST routes and the GraphQL resolvers (models/accounts/recovery.py does the work)."""

from __future__ import annotations

from uuid import UUID

from quart import request

from api.auth import client, limit, svc
from api.flows.auth_factors import requesters
from api.inputs.auth import ChangePasswordIn, ForgotPasswordIn, PhoneResetPasswordIn, ResetPasswordIn, VerifyEmailIn
from models.accounts import recovery, sessions, users
from models.core import audit


async def forgot_password(data: ForgotPasswordIn) -> dict:
    """RATE_LIMIT_RECOVERY per IP and per address; answered alike whether or not the address is known."""
    rate = svc().settings.rate_limit_recovery
    await limit("recovery", rate, [f"ip:{request.remote_addr}", f"email:{audit.email_digest(svc(), data.email)}"])
    await recovery.request_password_reset(svc(), data.email, client())
    return {"expires_in": int(svc().settings.password_reset_ttl.total_seconds())}


async def reset_password(data: ResetPasswordIn) -> dict:
    """The new password; every session is revoked, and the answer opens a new one."""
    await limit("recovery", svc().settings.rate_limit_recovery, [f"ip:{request.remote_addr}"])
    user = await recovery.reset_password(svc(), data.token, data.password, client())
    return await sessions.token_pair(svc(), user, client(), method="password_reset")


async def reset_password_by_phone(data: PhoneResetPasswordIn) -> dict:
    cfg, phone = svc().settings, users.normalize_phone(svc(), data.phone)
    await limit("phone_verify_ip", cfg.rate_limit_otp_verify_ip, [f"ip:{request.remote_addr}"])
    user = await recovery.reset_password_by_phone(
        svc(), phone, data.code, data.password, channel=data.channel, client=client(), requesters=requesters(None)
    )
    return await sessions.token_pair(svc(), user, client(), method="password_reset")


async def change_password(user_id: UUID, session_id: UUID, data: ChangePasswordIn) -> None:
    """Wrong current passwords count against RATE_LIMIT_LOGIN per account; other sessions end."""
    await limit("login", svc().settings.rate_limit_login, [f"user:{user_id}"], user_id)
    await recovery.change_password(svc(), user_id, session_id, data.current_password, data.new_password, client())


async def request_email_verification(user_id: UUID) -> dict:
    await limit("recovery", svc().settings.rate_limit_recovery, [f"user:{user_id}"], user_id)
    await recovery.request_email_verification(svc(), user_id, client())
    return {"expires_in": int(svc().settings.email_verify_ttl.total_seconds())}


async def verify_email(data: VerifyEmailIn) -> dict:
    user = await recovery.verify_email(svc(), data.token, client())
    return {"user": users.public(user), "email_verified_at": user.email_verified_at.isoformat()}
