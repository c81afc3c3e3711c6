"""Resolvers for recovery and credentials: the flows REST runs too (api/flows/recovery.py)."""

from __future__ import annotations

from ariadne import MutationType, ObjectType

from api.flows import recovery as flows
from api.graphql.resolvers.auth_factors import _account
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.auth import ChangePasswordIn, ForgotPasswordIn, PhoneResetPasswordIn, ResetPasswordIn, VerifyEmailIn

mutation = MutationType()
user_type = ObjectType("User")


@mutation.field("requestPasswordReset")
async def resolve_request_password_reset(_, info, email):
    await flows.forgot_password(_validate(ForgotPasswordIn, {"email": email}))
    return True


@mutation.field("resetPassword")
async def resolve_reset_password(_, info, token, password):
    return await flows.reset_password(_validate(ResetPasswordIn, {"token": token, "password": password}))


@mutation.field("resetPasswordByPhone")
async def resolve_reset_password_by_phone(_, info, phone, code, password, channel="otp"):
    data = {"phone": phone, "code": code, "password": password, "channel": channel}
    return await flows.reset_password_by_phone(_validate(PhoneResetPasswordIn, data))


@mutation.field("changePassword")
async def resolve_change_password(_, info, current_password, new_password):
    data = _validate(ChangePasswordIn, {"current_password": current_password, "new_password": new_password})
    await flows.change_password(_user(info), info.context["session_id"], data)
    return True


@mutation.field("requestEmailVerification")
async def resolve_request_email_verification(_, info):
    await flows.request_email_verification(_user(info))
    return True


@mutation.field("verifyEmail")
async def resolve_verify_email(_, info, token):
    return (await flows.verify_email(_validate(VerifyEmailIn, {"token": token})))["user"]


@user_type.field("emailVerified")
async def resolve_user_email_verified(user, info):
    account = await _account(user, info)
    return bool(account and account.email_verified_at)


bindables = [mutation, user_type]
