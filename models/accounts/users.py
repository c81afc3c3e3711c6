"""Accounts and credentials: email or phone, password (argon2id). Phones are proven by
models/accounts/phone_verification.py, sessions live in models/accounts/sessions.py, passkeys in
models/accounts/passkeys.py."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CheckConstraint, DateTime, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, CreatedAt
from models.core.errors import Conflict, DomainError, Unauthorized
from models.core.events import Event, new_id

if TYPE_CHECKING:
    from infra.services import Services

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class User(CreatedAt, Base):
    __tablename__ = "users"
    # An account is reached by an email, a phone, or both (models/migrations 0005).
    __table_args__ = (CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="email_or_phone"),)
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, nullable=True)
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
        number = phonenumbers.parse(raw, svc.settings.phone_default_region)
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


async def register(
    svc: Services,
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str,
    username: str,
    client: Client | None = None,
) -> User:
    """An account reached by an email, a phone (E.164, unverified until an OTP or a flash call
    proves it), or both."""
    if not email and not phone:
        raise DomainError("an email or a phone is required", code="email_or_phone_required")
    password_hash = await asyncio.to_thread(_hasher.hash, password)
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
    """Password login by email or by phone (E.164)."""
    where = User.email == email.lower() if email else User.phone == phone
    async with svc.sessions() as s:
        user = (await s.execute(select(User).where(where))).scalar_one_or_none()
    try:
        # Verify against a dummy hash for unknown accounts: same cost, same answer.
        ok: bool = await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
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


async def get_user(svc: Services, user_id: UUID) -> User | None:
    async with svc.sessions() as s:
        return await s.get(User, user_id)
