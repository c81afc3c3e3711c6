"""Accounts and credentials (the auth issue extends this: OTP, sessions, passkeys, roles)."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, InvalidHashError
from sqlalchemy import DateTime, ForeignKey, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from models import outbox
from models.base import Base, CreatedAt, utcnow
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


class RefreshToken(CreatedAt, Base):
    __tablename__ = "refresh_tokens"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def public(user: User) -> dict:
    return {"id": str(user.id), "email": user.email, "username": user.username}


async def register(svc, *, email: str, password: str, username: str) -> User:
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
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("this email or username is already registered", code="account_exists") from exc
    svc.relay.kick()
    return user


async def authenticate(svc, *, email: str, password: str) -> User:
    async with svc.sessions() as s:
        user = (await s.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()
    try:
        # Verify against a dummy hash for unknown emails: same cost, same answer.
        await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthorized("invalid email or password", code="invalid_credentials")
    return user


async def get_user(svc, user_id: UUID) -> User | None:
    async with svc.sessions() as s:
        return await s.get(User, user_id)


def issue_access_token(svc, user: User) -> str:
    now = utcnow()
    return jwt.encode({"sub": str(user.id), "role": user.role, "iat": now, "type": "access",
                       "exp": now + svc.settings.jwt_expiration, "jti": str(new_id())},
                      svc.settings.jwt_secret, algorithm="HS256")


def decode_access_token(svc, token: str) -> dict:
    try:
        claims = jwt.decode(token, svc.settings.jwt_secret, algorithms=["HS256"],
                            options={"require": ["sub", "exp", "type"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    if claims.get("type") != "access":
        raise Unauthorized("invalid access token", code="invalid_token")
    return claims


async def issue_refresh_token(svc, user: User) -> str:
    token = secrets.token_urlsafe(32)
    async with svc.sessions() as s, s.begin():
        s.add(RefreshToken(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                           expires_at=utcnow() + svc.settings.refresh_expiration))
    return token


async def token_pair(svc, user: User) -> dict:
    return {"access_token": issue_access_token(svc, user),
            "refresh_token": await issue_refresh_token(svc, user),
            "token_type": "bearer",
            "expires_in": int(svc.settings.jwt_expiration / timedelta(seconds=1)),
            "user": public(user)}
