"""Accounts and credentials: email or phone, password (argon2id). Phones are proven by
models/accounts/phone_verification.py, sessions live in models/accounts/sessions.py, passkeys in
models/accounts/passkeys.py, recovery (reset, change, email verification) in models/accounts/recovery.py.

A phone is a *claim* until an OTP or a flash call proves it (`phone_verified_at`): an unproven
phone logs nobody in, and the number's owner proving it takes it away from the claimant
(`release_phone`). So an account reached by a phone alone exists only once the phone is proven:
phone_verification creates it (`stage_phone_account`); `register` with a phone and no email is refused."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, CreatedAt, utcnow
from models.core.digits import ascii_digits
from models.core.errors import Conflict, DomainError, Unauthorized
from models.core.events import Event, new_id

if TYPE_CHECKING:
    from infra.services import Services

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
NO_PASSWORD = "!"  # an account opened by a phone proof without a password: no password verifies


class User(CreatedAt, Base):
    __tablename__ = "users"
    # Reached by an email, a phone, or both. Neither is possible only for an account opened with a
    # phone alone before phones had to be proven, whose claim the number's owner took (migration 0016).
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, nullable=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)  # E.164
    phone_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="user")  # user | moderator | admin: models/accounts/roles.py


def public(user: User) -> dict:
    return {"id": str(user.id), "email": user.email, "username": user.username}


def normalize_phone(svc: Services, raw: str) -> str:
    """A phone number as typed -> E.164 ('+201001234567'); numbers without '+<country>' are read
    as PHONE_DEFAULT_REGION's. Not a possible, valid number -> 400 invalid_phone."""
    try:
        number = phonenumbers.parse(ascii_digits(raw), svc.settings.phone_default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise DomainError(
            "not a valid phone number (use the international format, e.g. +201001234567)", code="invalid_phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_subject(svc: Services, phone: str) -> str:
    """How audit rows and rate-limit keys name a phone nobody is known by: a keyed hash, like emails."""
    return f"phone:{audit.email_digest(svc, phone)}"


async def hash_password(password: str | None) -> str:
    return await asyncio.to_thread(_hasher.hash, password) if password else NO_PASSWORD


async def check_password(user: User | None, password: str) -> bool:
    """Same cost whether or not there is an account (a dummy hash stands in)."""
    try:
        return bool(await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password))
    except (VerificationError, InvalidHashError):  # NO_PASSWORD is not a hash: never verifies
        return False


async def register(
    svc: Services,
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str,
    username: str,
    client: Client | None = None,
) -> User:
    """An account reached by an email, with a phone claim (E.164, unproven until an OTP or a flash
    call proves it) if given. A phone alone is refused: that account is opened by proving the
    phone (phone_verification.verify)."""
    if not email and not phone:
        raise DomainError("an email or a phone is required", code="email_or_phone_required")
    if not email:
        raise DomainError(
            "to sign up with a phone alone, ask for a code (POST /auth/otp/request or /auth/flash-call) and "
            "verify it (POST /auth/verify-otp or /auth/flash-call/verify): that opens the account",
            code="phone_proof_required",
        )
    password_hash = await hash_password(password)
    user = User(
        id=new_id(), email=email.lower() if email else None, phone=phone, username=username, password_hash=password_hash
    )
    try:
        async with outbox.transaction(svc) as s:
            clash = func.lower(User.username) == username.lower()
            if user.email:
                clash |= func.lower(User.email) == user.email
            if phone:
                clash |= User.phone == phone
            taken = (await s.execute(select(User.email, User.phone).where(clash))).first()
            if taken:
                field = (
                    "email"
                    if user.email and taken.email == user.email
                    else "phone"
                    if phone and taken.phone == phone
                    else "username"
                )
                raise Conflict(f"this {field} is already registered", code=f"{field}_taken")
            s.add(user)
            outbox.stage(s, Event("user.registered", {"user_id": str(user.id), "username": username}, actor=user.id))
            audit.stage(s, "auth.register", client, actor=user.id, subject=f"user:{user.id}")
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("this email, phone or username is already registered", code="account_exists") from exc
    return user


async def authenticate(
    svc: Services, *, email: str | None = None, phone: str | None = None, password: str, client: Client | None = None
) -> User:
    """Password login by email or by a proven phone (E.164): an unproven claim answers like a
    wrong password."""
    where = User.email == email.lower() if email else (User.phone == phone) & User.phone_verified_at.is_not(None)
    async with svc.sessions() as s:
        user = (await s.execute(select(User).where(where))).scalar_one_or_none()
    ok = await check_password(user, password)
    if not ok or user is None:
        # The audit row names the account when there is one, else a keyed hash of the address.
        unknown = f"email:{audit.email_digest(svc, email)}" if email else phone_subject(svc, phone or "")
        await audit.record(
            svc,
            "auth.login_failed",
            client,
            details={"reason": "invalid_credentials"},
            subject=f"user:{user.id}" if user else unknown,
        )
        raise Unauthorized(
            "invalid email or password" if email else "invalid phone or password", code="invalid_credentials"
        )
    return user


def release_phone(s: AsyncSession, holder: User, client: Client | None) -> None:
    """The number's owner proved a phone `holder` only claimed: the claim goes (the account keeps
    its email, password and sessions). Flush before giving the number to another row."""
    holder.phone, holder.phone_verified_at = None, None
    audit.stage(s, "auth.phone_claim_released", client, subject=f"user:{holder.id}")


def stage_phone_account(
    s: AsyncSession, phone: str, username: str | None, password_hash: str, client: Client | None
) -> User:
    """An account opened by proving `phone` (the caller sets the phone as verified)."""
    user = User(
        id=new_id(),
        phone=phone,
        username=username or f"user_{secrets.token_hex(5)}",
        password_hash=password_hash,
        created_at=utcnow(),
    )
    s.add(user)
    outbox.stage(s, Event("user.registered", {"user_id": str(user.id), "username": user.username}, actor=user.id))
    audit.stage(s, "auth.register", client, actor=user.id, subject=f"user:{user.id}", details={"method": "phone"})
    return user


async def username_taken(svc: Services, username: str) -> bool:
    async with svc.sessions() as s:
        return (
            await s.execute(select(User.id).where(func.lower(User.username) == username.lower()))
        ).first() is not None


async def get_user(svc: Services, user_id: UUID) -> User | None:
    async with svc.sessions() as s:
        return await s.get(User, user_id)
