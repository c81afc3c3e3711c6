"""Sessions and tokens: access JWTs, rotating refresh tokens, revocation.

A login opens a session (a refresh-token *family*). Each refresh token is opaque, stored only as
its SHA-256, and good for one use: refreshing marks it used and issues the next one in the same
family. Presenting a used one means two parties hold the family (a stolen token, or a client
that refreshed twice in parallel): the whole family is revoked, both parties must log in again.
Every operation on a family first locks its session row, so they serialize and cannot deadlock.

A login and a refresh are first put to the registered login guards (`register_login_guard`):
moderation refuses a suspended or banned account there (403 account_suspended / account_banned),
since accounts sits below moderation and cannot name it.

A session ends SESSION_MAX_AGE after its login however often it is refreshed (401
session_expired), besides the sliding REFRESH_EXPIRATION of each refresh token.

Access JWTs carry the session id (`sid`). Revoking a session also sets `auth:revoked:<sid>` in
Redis for one access-token lifetime, which `authenticate` checks on every authenticated request:
the session's access tokens stop working at once without a PostgreSQL read per request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

import jwt
import orjson
from sqlalchemy import CursorResult, DateTime, ForeignKey, String, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import fresh_proof, token_keys
from models.accounts.users import User, public
from models.core import audit, cursors
from models.core.audit import Client
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import DomainError, NotFound, Unauthorized
from models.core.events import new_id

if TYPE_CHECKING:
    from infra.services import Services


class AuthSession(CreatedAt, Base):
    __tablename__ = "auth_sessions"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # of its live refresh token
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of the last login / refresh
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RefreshToken(CreatedAt, Base):
    __tablename__ = "refresh_tokens"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[UUID] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # rotated
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Principal:
    """Who an access token speaks for."""

    user_id: UUID
    session_id: UUID
    role: str


# --- login guards --------------------------------------------------------------------------

# (svc, user_id) -> the refusal of a login or refresh of that account, or None.
LoginGuard = Callable[["Services", UUID], Awaitable[DomainError | None]]
_login_guards: list[LoginGuard] = []


def register_login_guard(guard: LoginGuard) -> None:
    """infra/services.wire_domains: moderation refuses suspended and banned accounts."""
    if guard not in _login_guards:
        _login_guards.append(guard)


async def _refusal(svc: Services, user_id: UUID) -> DomainError | None:
    for guard in _login_guards:
        refused = await guard(svc, user_id)
        if refused is not None:
            return refused
    return None


# --- access tokens -------------------------------------------------------------------------


def issue_access_token(svc: Services, user: User, session_id: UUID) -> str:
    now, (kid, key) = utcnow(), token_keys.signing_key(svc.settings)
    return jwt.encode(
        {
            "sub": str(user.id),
            "sid": str(session_id),
            "role": user.role,
            "type": "access",
            "iat": now,
            "exp": now + svc.settings.jwt_expiration,
            "jti": str(new_id()),
        },
        key,
        algorithm="HS256",
        headers={"kid": kid},
    )


def decode_access_token(svc: Services, token: str) -> dict:
    """Signature (HS256 only: `alg: none` and others are refused) by the key its `kid` names
    (models/accounts/token_keys.py), expiry, claims, type."""
    try:
        key = token_keys.verification_key(svc.settings, jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise jwt.InvalidKeyError("no such kid")
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp", "type"]})
        UUID(str(claims["sub"])), UUID(str(claims.get("sid")))  # no session id: invalid
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired", code="token_expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    if claims["type"] != "access":
        raise Unauthorized("this token is not an access token", code="wrong_token_type")
    return claims


def _revoked_key(session_id) -> str:
    return f"auth:revoked:{session_id}"


async def authenticate(svc: Services, token: str | None) -> Principal:
    """The bearer token of a request -> Principal, or 401. One Redis read, no PostgreSQL."""
    if not token:
        raise Unauthorized("a bearer token is required", code="unauthorized")
    claims = decode_access_token(svc, token)
    sid = UUID(claims["sid"])
    if await svc.redis.exists(_revoked_key(sid)):
        raise Unauthorized("this session has been signed out", code="session_revoked")
    return Principal(UUID(claims["sub"]), sid, claims.get("role", "user"))


async def _publish_revoked(svc: Services, user_id: UUID, session_id: UUID, reason: str) -> None:
    # Outlives every access token the session was issued (+ a minute for clock skew).
    ttl = int(svc.settings.jwt_expiration.total_seconds()) + 60
    await svc.redis.set(_revoked_key(session_id), 1, ex=ttl)
    await announce_ended(svc, user_id, session_id, reason)


async def announce_ended(svc: Services, user_id: UUID, session_id: UUID | None, reason: str) -> None:
    """Close the live sockets of a session that ended (`session_id`), or of every session of the
    user (None: suspension, password change), on every API replica (api/realtime/core.py hears
    `session.revoked` on the user's own channel). `reason` becomes the sockets' close reason:
    session_revoked, refresh_token_reused, password_changed, account_suspended, account_banned. Call it after
    the commit that ended the session; it does not stop new logins by itself."""
    msg = {"type": "session.revoked", "session_id": str(session_id) if session_id else None, "reason": reason}
    await svc.redis.publish(f"user:{user_id}", orjson.dumps(msg))


# --- sessions and refresh tokens -----------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _next_refresh_token(s: AsyncSession, session: AuthSession, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    s.add(
        RefreshToken(
            id=new_id(),
            user_id=session.user_id,
            session_id=session.id,
            token_hash=_hash(token),
            expires_at=session.expires_at,
            created_at=now,
        )
    )
    return token


def _pair(svc: Services, user: User, session_id: UUID, refresh_token: str) -> dict:
    return {
        "access_token": issue_access_token(svc, user, session_id),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": int(svc.settings.jwt_expiration / timedelta(seconds=1)),
        "user": public(user),
    }


async def token_pair(svc: Services, user: User, client: Client | None = None, *, method: str = "password") -> dict:
    """Log `user` in: open a session with its first refresh token, recorded as `auth.login`
    (details.method says how they proved who they are), all in one transaction. A login guard's
    refusal (a suspended account) is raised and recorded as `auth.login_refused`."""
    client = client or Client()
    refused = await _refusal(svc, user.id)
    if refused is not None:
        details = {"method": method, "reason": refused.code}
        await audit.record(svc, "auth.login_refused", client, subject=f"user:{user.id}", details=details)
        raise refused
    now = utcnow()
    session = AuthSession(
        id=new_id(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + min(svc.settings.refresh_expiration, svc.settings.session_max_age),
        ip=client.ip and client.ip[:64],
        user_agent=client.user_agent and client.user_agent[:512],
    )
    async with svc.sessions() as s, s.begin():
        s.add(session)
        await s.flush()
        token = _next_refresh_token(s, session, now)
        audit.stage(s, "auth.login", client, actor=user.id, subject=f"session:{session.id}", details={"method": method})
    await fresh_proof.record(svc, session.id)  # a login is a proof; a refresh is not
    return _pair(svc, user, session.id, token)


async def _revoke_family(s: AsyncSession, session: AuthSession, now: datetime) -> None:
    session.revoked_at = now
    await s.execute(
        update(RefreshToken)
        .where(RefreshToken.session_id == session.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def refresh(svc: Services, token: str, client: Client | None = None) -> dict:
    """Rotate: the presented refresh token is spent, the answer is a new pair (like login)."""
    client, now = client or Client(), utcnow()
    failure: DomainError | None = None
    async with svc.sessions() as s, s.begin():
        found = (
            await s.execute(
                select(RefreshToken.id, RefreshToken.session_id).where(RefreshToken.token_hash == _hash(token))
            )
        ).first()
        if found is None:
            raise Unauthorized("unknown refresh token", code="invalid_refresh_token")
        session = (
            await s.execute(select(AuthSession).where(AuthSession.id == found.session_id).with_for_update())
        ).scalar_one()
        rt = (
            await s.execute(
                select(RefreshToken).where(RefreshToken.id == found.id).execution_options(populate_existing=True)
            )
        ).scalar_one()
        subject, reused = f"session:{session.id}", rt.used_at is not None
        if reused:  # checked first: a spent token is a theft signal even once expired
            if session.revoked_at is None:
                await _revoke_family(s, session, now)
            audit.stage(
                s,
                "auth.refresh_reused",
                client,
                subject=subject,
                details={"user_id": str(session.user_id), "token_id": str(rt.id)},
            )
            failure = Unauthorized(
                "this refresh token was already used; the session is revoked", code="refresh_token_reused"
            )
        elif (refused := await _refusal(svc, session.user_id)) is not None:  # before "signed out": says why
            failure = refused
        elif session.revoked_at is not None or rt.revoked_at is not None:
            failure = Unauthorized("this session has been signed out", code="refresh_token_revoked")
        elif session.created_at + svc.settings.session_max_age <= now:
            failure = Unauthorized("this session is too old; log in again", code="session_expired")
        elif rt.expires_at <= now:
            failure = Unauthorized("the refresh token has expired", code="refresh_token_expired")
        if failure is None:
            user = cast(User, await s.get(User, session.user_id))  # the locked session's foreign key
            rt.used_at = now
            session.last_used_at = now
            session.expires_at = min(
                now + svc.settings.refresh_expiration, session.created_at + svc.settings.session_max_age
            )
            session.ip = client.ip and client.ip[:64]
            session.user_agent = client.user_agent and client.user_agent[:512]
            new_token = _next_refresh_token(s, session, now)
            audit.stage(s, "auth.refresh", client, actor=user.id, subject=subject)
        elif not reused:
            audit.stage(s, "auth.refresh_failed", client, subject=subject, details={"reason": failure.code})
    if failure is not None:
        if reused:
            await _publish_revoked(svc, session.user_id, session.id, "refresh_token_reused")
        raise failure
    return _pair(svc, user, session.id, new_token)


async def revoke_all(s: AsyncSession, user_id: UUID, *, keep: UUID | None = None) -> list[UUID]:
    """Revoke every live session of `user_id` but `keep`, in the caller's transaction; after the
    commit, `publish_revoked` the returned ids so their access tokens stop at once."""
    now = utcnow()
    q = select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        q = q.where(AuthSession.id != keep)
    live = (await s.execute(q.order_by(AuthSession.id).with_for_update())).scalars().all()
    for session in live:
        await _revoke_family(s, session, now)
    return [session.id for session in live]


async def publish_revoked(svc: Services, user_id: UUID, session_ids: list[UUID], reason: str) -> None:
    """After the commit of `revoke_all`: the tokens stop at once and the sessions' sockets close
    with `reason` (password_changed for a reset or a change)."""
    for sid in session_ids:
        await _publish_revoked(svc, user_id, sid, reason)


async def revoke(
    svc: Services,
    *,
    user_id: UUID,
    session_id: UUID,
    client: Client | None = None,
    action: str = "auth.session_revoked",
) -> None:
    """Revoke one of `user_id`'s own sessions (another user's is a 404, like a missing one)."""
    async with svc.sessions() as s, s.begin():
        session = (
            await s.execute(
                select(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.user_id == user_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if session is None:
            raise NotFound("no such session", code="session_not_found")
        if session.revoked_at is None:
            await _revoke_family(s, session, utcnow())
            audit.stage(s, action, client, actor=user_id, subject=f"session:{session_id}")
    # Also when it was already revoked: repairs a Redis write lost after an earlier commit.
    await _publish_revoked(svc, user_id, session_id, "session_revoked")


def _session_out(session: AuthSession, current: UUID | None) -> dict:
    return {
        "id": str(session.id),
        "created_at": session.created_at.isoformat(),
        "last_used_at": session.last_used_at.isoformat(),
        "ip": session.ip,
        "user_agent": session.user_agent,
        "current": session.id == current,
    }


async def list_sessions(
    svc: Services, user_id: UUID, *, current: UUID | None = None, cursor: str | None = None, limit: int = 50
) -> dict:
    """The user's live sessions (neither revoked nor expired), newest first, cursor-paginated
    on the time-ordered session id."""
    q = (
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > utcnow())
        .order_by(AuthSession.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(AuthSession.id < cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = (await s.execute(q)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [_session_out(r, current) for r in rows],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more else None,
    }


# --- retention (jobs/retention.py, docs/privacy.md) -------------------------------------------


async def prune(s: AsyncSession, before: datetime, *, batch: int = 5000) -> tuple[int, int]:
    """Delete one batch of sessions that ended (revoked, or their refresh token expired) before
    `before`, with their refresh tokens, then one batch of spent refresh tokens of live sessions
    that expired before `before`. Returns (sessions, tokens). Until then a spent token replayed
    is still caught as reuse (`refresh`); after, it is only an unknown token."""
    ended = (
        select(AuthSession.id).where(or_(AuthSession.revoked_at < before, AuthSession.expires_at < before)).limit(batch)
    )
    sessions = cast(CursorResult, await s.execute(delete(AuthSession).where(AuthSession.id.in_(ended)))).rowcount or 0
    spent = (
        select(RefreshToken.id)
        .where(
            RefreshToken.expires_at < before,
            or_(RefreshToken.used_at.is_not(None), RefreshToken.revoked_at.is_not(None)),
        )
        .limit(batch)
    )
    tokens = cast(CursorResult, await s.execute(delete(RefreshToken).where(RefreshToken.id.in_(spent)))).rowcount or 0
    return sessions, tokens
