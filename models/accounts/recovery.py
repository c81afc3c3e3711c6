"""Account recovery and credentials: password reset by email link or by phone code, password
change, email verification.

Links carry a token `<payload>.<signature>`: the payload (base64url JSON) names the purpose,
the user, an expiry and a fingerprint of what the link is about; the signature is HMAC-SHA256
under a key derived from JWT_SECRET for that purpose. A reset link's fingerprint covers the
password hash and the email, so it works once (the reset changes the hash) and dies with a
password change or a new email; it lives PASSWORD_RESET_TTL (30 min). A verification link's
covers the email. Nothing is stored for a link.

A reset (either way) and a password change revoke every other session of the account; email
verification revokes none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select

from infra import mail
from models.accounts import phone_verification, sessions, users
from models.accounts.users import User
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, Unauthorized, Unavailable

if TYPE_CHECKING:
    from infra.services import Services

RESET, VERIFY = "password-reset", "email-verify"


class MailUnavailable(Unavailable):
    code = "mail_unavailable"


def _key(svc: Services, purpose: str) -> bytes:
    return hashlib.sha256(f"daira-{purpose}:".encode() + svc.settings.jwt_secret.encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _fingerprint(purpose: str, user: User) -> str:
    about = f"{user.password_hash}|{user.email}" if purpose == RESET else f"{user.email}"
    return hashlib.sha256(about.encode()).hexdigest()[:24]


def make_token(svc: Services, purpose: str, user: User) -> str:
    ttl = svc.settings.password_reset_ttl if purpose == RESET else svc.settings.email_verify_ttl
    payload = _b64(
        json.dumps(
            {
                "p": purpose,
                "u": str(user.id),
                "e": int(time.time() + ttl.total_seconds()),
                "f": _fingerprint(purpose, user),
            }
        ).encode()
    )
    return f"{payload}.{_b64(hmac.new(_key(svc, purpose), payload.encode(), hashlib.sha256).digest())}"


def _read_token(svc: Services, purpose: str, token: str) -> dict:
    invalid = Unauthorized("this link is not valid (already used, or replaced); ask for a new one", code="invalid_link")
    payload, _, sig = token.partition(".")
    want = _b64(hmac.new(_key(svc, purpose), payload.encode(), hashlib.sha256).digest())
    if not sig or not hmac.compare_digest(sig, want):
        raise invalid
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        UUID(claims["u"])
    except (ValueError, KeyError, TypeError):
        raise invalid from None
    if claims.get("p") != purpose:
        raise invalid
    if int(claims.get("e", 0)) <= time.time():
        raise Unauthorized("this link has expired; ask for a new one", code="link_expired")
    return claims


async def _claimed(s, svc: Services, purpose: str, token: str) -> User:
    """The user a valid link names, locked; a link whose fingerprint no longer matches is invalid."""
    claims = _read_token(svc, purpose, token)
    user = await s.get(User, UUID(claims["u"]), with_for_update=True)
    if user is None or not hmac.compare_digest(_fingerprint(purpose, user), str(claims.get("f", ""))):
        raise Unauthorized("this link is not valid (already used, or replaced); ask for a new one", code="invalid_link")
    return user


async def _mail(svc: Services, to: str, subject: str, body: str) -> None:
    try:
        await mail.send(svc.settings, to, subject, body)
    except mail.MailError as exc:
        raise MailUnavailable("the mail could not be sent; retry shortly", retry_after=30) from exc


# --- password reset --------------------------------------------------------------------------


async def request_password_reset(svc: Services, email: str, client: Client | None = None) -> None:
    """Mail a reset link to `email` if an account has it; answered alike either way."""
    async with svc.sessions() as s:
        user = (await s.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()
    if user is None or user.email is None:
        await audit.record(
            svc, "auth.password_reset_requested", client, subject=f"email:{audit.email_digest(svc, email)}"
        )
        return
    link = svc.settings.reset_link_url + make_token(svc, RESET, user)
    minutes = int(svc.settings.password_reset_ttl.total_seconds() // 60)
    await _mail(
        svc,
        user.email,
        "Reset your D-A-I-R-A password",
        f"Someone asked to reset the password of {user.username}.\n\nTo choose a new one, open this link within "
        f"{minutes} minutes (it works once):\n{link}\n\nIf it was not you, ignore this mail: nothing changes.",
    )
    await audit.record(svc, "auth.password_reset_requested", client, subject=f"user:{user.id}")


async def _set_password(s, user: User, password_hash: str, client: Client | None, action: str, method: str | None):
    user.password_hash = password_hash
    details = {"method": method} if method else {}
    audit.stage(s, action, client, actor=user.id, subject=f"user:{user.id}", details=details)


async def reset_password(svc: Services, token: str, password: str, client: Client | None = None) -> User:
    """A reset link's new password: every session of the account is revoked. Following the link
    also proves the email."""
    password_hash = await users.hash_password(password)
    async with outbox.transaction(svc) as s:
        user = await _claimed(s, svc, RESET, token)
        await _set_password(s, user, password_hash, client, "auth.password_reset", "email")
        user.email_verified_at = user.email_verified_at or utcnow()
        revoked = await sessions.revoke_all(s, user.id)
    await sessions.publish_revoked(svc, user.id, revoked, "password_changed")
    return user


async def reset_password_by_phone(
    svc: Services,
    phone: str,
    code: str,
    password: str,
    *,
    channel: phone_verification.Channel = "otp",
    client: Client | None = None,
    requesters: Sequence[str] = (),
) -> User:
    """A code sent to a phone (POST /auth/otp/request) sets the password of the account that
    proved that phone; every session of it is revoked. Nobody proved it: 401 no_account_for_phone."""
    password_hash = await users.hash_password(password)
    await phone_verification.check(svc, channel, phone, code, client=client, requesters=requesters)
    async with outbox.transaction(svc) as s:
        user = (
            await s.execute(
                select(User).where(User.phone == phone, User.phone_verified_at.is_not(None)).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None:
            raise Unauthorized("no account has proven this phone", code="no_account_for_phone")
        await _set_password(s, user, password_hash, client, "auth.password_reset", channel)
        revoked = await sessions.revoke_all(s, user.id)
    await sessions.publish_revoked(svc, user.id, revoked, "password_changed")
    return user


async def change_password(
    svc: Services, user_id: UUID, session_id: UUID, current: str, new: str, client: Client | None = None
) -> None:
    """Needs the current password (401 invalid_credentials); every other session is revoked."""
    user = await users.get_user(svc, user_id)
    if user is None or not await users.check_password(user, current):
        await audit.record(
            svc,
            "auth.password_change_failed",
            client,
            actor=user_id,
            subject=f"user:{user_id}",
            details={"reason": "invalid_credentials"},
        )
        raise Unauthorized("the current password is not right", code="invalid_credentials")
    password_hash = await users.hash_password(new)
    async with outbox.transaction(svc) as s:
        locked = await s.get(User, user_id, with_for_update=True)
        if locked is None or locked.password_hash != user.password_hash:  # changed meanwhile
            raise Conflict("the password was just changed elsewhere; try again", code="password_changed")
        await _set_password(s, locked, password_hash, client, "auth.password_changed", None)
        revoked = await sessions.revoke_all(s, user_id, keep=session_id)
    await sessions.publish_revoked(svc, user_id, revoked, "password_changed")


# --- email verification ----------------------------------------------------------------------


async def request_email_verification(svc: Services, user_id: UUID, client: Client | None = None) -> None:
    user = await users.get_user(svc, user_id)
    if user is None or user.email is None:
        raise DomainError("this account has no email", code="no_email")
    if user.email_verified_at is not None:
        raise Conflict("this email is already verified", code="email_already_verified")
    link = svc.settings.email_link_url + make_token(svc, VERIFY, user)
    await _mail(
        svc,
        user.email,
        "Confirm your email for D-A-I-R-A",
        f"To confirm that {user.email} is the email of {user.username}, open this link:\n{link}\n\n"
        "If it was not you, ignore this mail.",
    )
    await audit.record(svc, "auth.email_verification_sent", client, actor=user.id, subject=f"user:{user.id}")


async def verify_email(svc: Services, token: str, client: Client | None = None) -> User:
    """Marks the link's email verified (the link dies if the email changed); no session is revoked."""
    async with outbox.transaction(svc) as s:
        user = await _claimed(s, svc, VERIFY, token)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
            audit.stage(s, "auth.email_verified", client, actor=user.id, subject=f"user:{user.id}")
    return user
