"""Accounts and credentials (the auth issue extends this: OTP, sessions, passkeys, roles)."""
from __future__ import annotations

import asyncio
import secrets
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, InvalidHashError
from sqlalchemy import String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from models import audit, outbox
from models.audit import Client
from models.base import Base, CreatedAt
from models.errors import Conflict, Unauthorized
from models.events import Event, new_id

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class User(CreatedAt, Base):
    __tablename__ = "users"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="user")


def public(user: User) -> dict:
    return {"id": str(user.id), "email": user.email, "username": user.username}


async def register(svc, *, email: str, password: str, username: str, client: Client | None = None) -> User:
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    user = User(id=new_id(), email=email.lower(), username=username, password_hash=password_hash)
    try:
        async with svc.sessions() as s, s.begin():
            taken = (await s.execute(select(User.email, User.username).where(
                (func.lower(User.email) == user.email) | (func.lower(User.username) == username.lower())
            ))).first()
            if taken:
                field = "email" if taken.email == user.email else "username"
                raise Conflict(f"this {field} is already registered", code=f"{field}_taken")
            s.add(user)
            outbox.stage(s, Event("user.registered", {"user_id": str(user.id), "username": username},
                                  actor=user.id))
            audit.stage(s, "auth.register", client, actor=user.id, subject=f"user:{user.id}")
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("this email or username is already registered", code="account_exists") from exc
    svc.relay.kick()
    return user


async def authenticate(svc, *, email: str, password: str, client: Client | None = None) -> User:
    async with svc.sessions() as s:
        user = (await s.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()
    try:
        # Verify against a dummy hash for unknown emails: same cost, same answer.
        ok = await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        # The audit row names the account when there is one, else a keyed hash of the address.
        await audit.record(svc, "auth.login_failed", client, details={"reason": "invalid_credentials"},
                           subject=f"user:{user.id}" if user else f"email:{audit.email_digest(svc, email)}")
        raise Unauthorized("invalid email or password", code="invalid_credentials")
    return user


async def get_user(svc, user_id: UUID) -> User | None:
    async with svc.sessions() as s:
        return await s.get(User, user_id)
